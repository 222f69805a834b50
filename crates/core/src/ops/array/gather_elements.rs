//! `GatherElements`: `out[i] = data[i with axis replaced by indices[i]]`.

use super::common::{axis_in, check_attrs, for_each_index, index_in, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Gathers single elements along `axis`.
#[derive(Debug)]
pub struct GatherElements {
    axis: i64,
}

/// Build from `axis` (default 0).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(GatherElements {
        axis: ctx.attrs.int_or("axis", 0)?,
    }))
}

/// Flat data offsets addressed by `indices` along `axis` (shared with ScatterElements).
pub(crate) fn element_offsets(
    data: &[usize],
    ishape: &[usize],
    ind: &[i64],
    axis: usize,
) -> Result<Vec<usize>> {
    if ishape.len() != data.len() {
        return Err(Error::shape(format!(
            "indices {ishape:?} and data {data:?} differ in rank"
        )));
    }
    for (i, (a, b)) in ishape.iter().zip(data).enumerate() {
        if i != axis && a > b {
            return Err(Error::shape(format!(
                "indices {ishape:?} do not fit data {data:?}"
            )));
        }
    }
    let st = strides(data);
    let mut out = Vec::with_capacity(ind.len());
    let mut k = 0;
    for_each_index(ishape, |o| {
        let v = *ind
            .get(k)
            .ok_or_else(|| Error::input("indices too short"))?;
        k += 1;
        let j = index_in(v, data[axis])?;
        out.push(
            o.iter()
                .zip(&st)
                .enumerate()
                .map(|(d, (x, s))| if d == axis { j * s } else { x * s })
                .sum(),
        );
        Ok(())
    })?;
    Ok(out)
}

impl Op for GatherElements {
    fn op_type(&self) -> &str {
        "GatherElements"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let ind = input(inputs, 1)?;
        let axis = axis_in(self.axis, x.rank())?;
        let off = element_offsets(x.shape(), ind.shape(), &ind.to_i64_vec()?, axis)?;
        Ok(vec![take(x, &off, ind.shape())?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn gather_elements_axis1() {
        let x = ti(&[2, 2], &[1, 2, 3, 4]);
        let a = Attributes::new().with("axis", Attribute::Int(1));
        let r = run_op(
            "GatherElements",
            a.clone(),
            &[Some(x.clone()), Some(ti(&[2, 2], &[0, 0, -1, 0]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 2], &[1, 1, 4, 3]));
        assert!(run_op("GatherElements", a, &[Some(x), Some(ti(&[2], &[0, 0]))], 1).is_err());
    }
}
