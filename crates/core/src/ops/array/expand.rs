//! `Expand`: broadcast the input to a shape (numpy rules, both ways).

use super::common::{
    check_attrs, const_ints, dims, fact, fact_dims, fact_of, for_each_index, req_ints, strides,
    take,
};
use crate::ops::util::{broadcast_shapes, input};
use crate::{BuildCtx, Dim, InferInput, Op, Result, Tensor, TensorFact};

/// Broadcasts its input to the given shape.
#[derive(Debug)]
pub struct Expand;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Expand))
}

/// Broadcast `x` to `out` (which `x.shape()` must broadcast to).
pub(crate) fn broadcast_to(x: &Tensor, out: &[usize]) -> Result<Tensor> {
    let s = x.shape();
    let st = strides(s);
    let lead = out.len() - s.len();
    let mut idx = Vec::with_capacity(out.iter().product());
    for_each_index(out, |o| {
        let mut k = 0;
        for (d, (&n, &stride)) in s.iter().zip(&st).enumerate() {
            if n != 1 {
                k += o[lead + d] * stride;
            }
        }
        idx.push(k);
        Ok(())
    })?;
    take(x, &idx, out)
}

impl Op for Expand {
    fn op_type(&self) -> &str {
        "Expand"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let (Some(d), Some(shape)) = (fact_dims(fact(inputs, 0)), const_ints(inputs, 1)) else {
            return Ok(vec![fact_of(dtype, None)]);
        };
        let n = d.len().max(shape.len());
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let a = (i + d.len())
                .checked_sub(n)
                .map(|j| d[j].clone())
                .unwrap_or(Dim::Fixed(1));
            let b = (i + shape.len())
                .checked_sub(n)
                .map(|j| shape[j])
                .unwrap_or(1);
            out.push(match (a, b) {
                (a, 1) => a,
                (Dim::Fixed(1), b) if b >= 0 => Dim::Fixed(b as usize),
                (Dim::Fixed(x), b) if b >= 0 && x == b as usize => Dim::Fixed(x),
                (_, b) if b > 1 => Dim::Fixed(b as usize),
                _ => Dim::Unknown,
            });
        }
        Ok(vec![fact_of(dtype, Some(out))])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = dims(&req_ints(inputs, 1, "shape")?, "shape")?;
        let out = broadcast_shapes(x.shape(), &shape)?;
        super::common::checked_numel(&out)?;
        Ok(vec![broadcast_to(x, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::Attributes;

    #[test]
    fn expand_both_ways() {
        let x = ti(&[3, 1], &[1, 2, 3]);
        let r = run_op(
            "Expand",
            Attributes::new(),
            &[Some(x.clone()), Some(ti(&[3], &[2, 1, 2]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0].shape(), &[2, 3, 2]);
        assert_eq!(r[0], ti(&[2, 3, 2], &[1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]));
        let bad = run_op(
            "Expand",
            Attributes::new(),
            &[Some(ti(&[3], &[1, 2, 3])), Some(ti(&[1], &[2]))],
            1,
        );
        assert!(bad.is_err());
        let _ = x;
    }
}
