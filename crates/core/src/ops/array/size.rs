//! `Size`: the number of elements of the input, as an i64 scalar.

use super::common::check_attrs;
use crate::ops::util::input;
use crate::{BuildCtx, DataType, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Returns the element count of its input.
#[derive(Debug)]
pub struct Size;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Size))
}

impl Op for Size {
    fn op_type(&self) -> &str {
        "Size"
    }

    fn infer(&self, _inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(vec![TensorFact::new(DataType::I64, Shape(vec![]))])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::scalar(input(inputs, 0)?.len() as i64)])
    }
}
