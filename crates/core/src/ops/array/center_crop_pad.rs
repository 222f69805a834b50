//! `CenterCropPad`: center-crop or zero-pad the listed axes to target sizes.

use super::common::{
    axes_in, check_attrs, dims, for_each_index, req_ints, strides, take_or, zero_of,
};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Centered crop or pad.
#[derive(Debug)]
pub struct CenterCropPad {
    axes: Option<Vec<i64>>,
}

/// Build from the optional `axes`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axes"])?;
    Ok(Box::new(CenterCropPad {
        axes: ctx.attrs.ints("axes")?,
    }))
}

impl Op for CenterCropPad {
    fn op_type(&self) -> &str {
        "CenterCropPad"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let target = dims(&req_ints(inputs, 1, "shape")?, "shape")?;
        let s = x.shape();
        let axes = match &self.axes {
            Some(a) => axes_in(a, s.len())?,
            None => (0..s.len()).collect(),
        };
        if axes.len() != target.len() {
            return Err(Error::shape(format!(
                "{} target sizes for {} axes",
                target.len(),
                axes.len()
            )));
        }
        let mut out = s.to_vec();
        // Output position o on an axis reads input position o + shift.
        let mut shift = vec![0i64; s.len()];
        for (&a, &t) in axes.iter().zip(&target) {
            out[a] = t;
            shift[a] = if s[a] >= t {
                ((s[a] - t) / 2) as i64
            } else {
                -(((t - s[a]) / 2) as i64)
            };
        }
        super::common::checked_numel(&out)?;
        let st = strides(s);
        let mut idx = Vec::with_capacity(out.iter().product());
        for_each_index(&out, |o| {
            let mut k = Some(0usize);
            for (d, &i) in o.iter().enumerate() {
                let j = i as i64 + shift[d];
                k = match k {
                    Some(k) if j >= 0 && (j as usize) < s[d] => Some(k + j as usize * st[d]),
                    _ => None,
                };
            }
            idx.push(k);
            Ok(())
        })?;
        Ok(vec![take_or(x, &idx, &out, &zero_of(x.dtype()))?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::Attributes;

    #[test]
    fn crop_and_pad() {
        let x = ti(&[5], &[1, 2, 3, 4, 5]);
        let r = run_op(
            "CenterCropPad",
            Attributes::new(),
            &[Some(x.clone()), Some(ti(&[1], &[2]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2], &[2, 3]));
        let r = run_op(
            "CenterCropPad",
            Attributes::new(),
            &[Some(x), Some(ti(&[1], &[8]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[8], &[0, 1, 2, 3, 4, 5, 0, 0]));
    }
}
