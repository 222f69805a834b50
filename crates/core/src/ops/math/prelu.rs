//! `PRelu`: `x < 0 ? slope * x : x`, the slope broadcasting to the input's shape.

use super::common::{check_arity, check_attrs, infer_unary, same_dtype, zip2};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Parametric ReLU.
#[derive(Debug)]
pub struct PRelu;

/// Build `PRelu`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "PRelu", 2, 2)?;
    Ok(Box::new(PRelu))
}

impl Op for PRelu {
    fn op_type(&self) -> &str {
        "PRelu"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, slope) = (input(inputs, 0)?, input(inputs, 1)?);
        same_dtype(x, slope)?;
        let out = crate::dispatch_numeric!(x, a => {
            let zero = T::default();
            Tensor::from(zip2(a, slope.array::<T>()?, |&v, &s| if v < zero { s.mul(v) } else { v })?)
        });
        if out.shape() != x.shape() {
            return Err(Error::shape(format!(
                "PRelu slope of shape {:?} does not broadcast to input shape {:?}",
                slope.shape(),
                x.shape()
            )));
        }
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn slope_broadcasts_one_way() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[2, 2], vec![-1.0f32, 2.0, -3.0, 4.0]).unwrap();
        let s = Tensor::from_vec(&[2], vec![0.5f32, 0.25]).unwrap();
        let y = op.eval(&[Some(&x), Some(&s)]).unwrap().remove(0);
        assert_eq!(
            y,
            Tensor::from_vec(&[2, 2], vec![-0.5f32, 2.0, -1.5, 4.0]).unwrap()
        );
        let big = Tensor::from_vec(&[3, 2, 2], vec![0.5f32; 12]).unwrap();
        assert!(op.eval(&[Some(&x), Some(&big)]).is_err());
    }
}
