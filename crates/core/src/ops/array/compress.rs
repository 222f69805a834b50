//! `Compress`: keep the slices along `axis` (or elements of the flattened input) where
//! `condition` is true.

use super::common::{axis_in, check_attrs, for_each_index, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Selects slices by a boolean mask.
#[derive(Debug)]
pub struct Compress {
    axis: Option<i64>,
}

/// Build from the optional `axis`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(Compress {
        axis: ctx.attrs.int("axis")?,
    }))
}

impl Op for Compress {
    fn op_type(&self) -> &str {
        "Compress"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let cond: Vec<bool> = input(inputs, 1)?
            .to_f64_vec()?
            .into_iter()
            .map(|v| v != 0.0)
            .collect();
        let (x, axis) = match self.axis {
            Some(a) => (x.clone(), axis_in(a, x.rank())?),
            None => (x.reshape(&[x.len()])?, 0),
        };
        let s = x.shape().to_vec();
        if cond.len() > s[axis] && cond[s[axis]..].iter().any(|&c| c) {
            return Err(Error::shape(format!(
                "condition selects past dim {} of size {}",
                axis, s[axis]
            )));
        }
        let keep: Vec<usize> = cond
            .iter()
            .enumerate()
            .filter(|(i, c)| **c && *i < s[axis])
            .map(|(i, _)| i)
            .collect();
        let mut out = s.clone();
        out[axis] = keep.len();
        let st = strides(&s);
        let mut idx = Vec::with_capacity(out.iter().product());
        for_each_index(&out, |o| {
            idx.push(
                o.iter()
                    .enumerate()
                    .map(|(d, &i)| if d == axis { keep[i] } else { i } * st[d])
                    .sum(),
            );
            Ok(())
        })?;
        Ok(vec![take(&x, &idx, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes, Tensor};

    #[test]
    fn axis_and_flat() {
        let x = ti(&[2, 2], &[1, 2, 3, 4]);
        let c = Tensor::from_vec(&[2], vec![false, true]).unwrap();
        let a = Attributes::new().with("axis", Attribute::Int(1));
        let r = run_op("Compress", a, &[Some(x.clone()), Some(c.clone())], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 1], &[2, 4]));
        let r = run_op(
            "Compress",
            Attributes::new(),
            &[Some(x.clone()), Some(c)],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[1], &[2]));
        let long = Tensor::from_vec(&[5], vec![false, false, false, false, true]).unwrap();
        assert!(run_op("Compress", Attributes::new(), &[Some(x), Some(long)], 1).is_err());
    }
}
