//! `ScatterND`: copy `data`, then write (or reduce) slices of `updates` at index tuples.

use super::common::{Reduction, check_attrs, reduction_attr, scatter};
use super::gather_nd::nd_offsets;
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Scatter of slices addressed by index tuples.
#[derive(Debug)]
pub struct ScatterND {
    reduction: Reduction,
}

/// Build from `reduction` (none/add/mul/max/min).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["reduction"])?;
    Ok(Box::new(ScatterND {
        reduction: reduction_attr(ctx)?,
    }))
}

impl Op for ScatterND {
    fn op_type(&self) -> &str {
        "ScatterND"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let ind = input(inputs, 1)?;
        let upd = input(inputs, 2)?;
        let (offs, slice, want) = nd_offsets(x.shape(), ind.shape(), &ind.to_i64_vec()?, 0)?;
        if upd.shape() != want.as_slice() {
            return Err(Error::shape(format!(
                "updates have shape {:?}, expected {want:?}",
                upd.shape()
            )));
        }
        let flat: Vec<usize> = offs.iter().flat_map(|&o| o..o + slice).collect();
        Ok(vec![scatter(x, upd, &flat, self.reduction)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn scatter_nd_mul() {
        let x = ti(&[4], &[1, 2, 3, 4]);
        let a = Attributes::new().with("reduction", Attribute::String("mul".into()));
        let r = run_op(
            "ScatterND",
            a,
            &[
                Some(x.clone()),
                Some(ti(&[2, 1], &[1, 1])),
                Some(ti(&[2], &[3, 5])),
            ],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[4], &[1, 30, 3, 4]));
        assert!(
            run_op(
                "ScatterND",
                Attributes::new(),
                &[Some(x), Some(ti(&[1, 1], &[4])), Some(ti(&[1], &[0]))],
                1
            )
            .is_err()
        );
    }
}
