//! `SequenceConstruct`: a sequence of the input tensors.

use crate::ops::control::common::{check_attrs, tensor_in};
use crate::{BuildCtx, Error, EvalContext, Op, Result, Tensor, Value};

/// Builds a sequence from its tensor inputs (all of one dtype).
#[derive(Debug)]
pub struct SequenceConstruct;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(SequenceConstruct))
}

impl Op for SequenceConstruct {
    fn op_type(&self) -> &str {
        "SequenceConstruct"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let tensors = (0..inputs.len())
            .map(|i| tensor_in(inputs, i).cloned())
            .collect::<Result<Vec<_>>>()?;
        let dtype = tensors.first().map(Tensor::dtype);
        if tensors.iter().any(|t| Some(t.dtype()) != dtype) {
            return Err(Error::dtype("sequence elements must share one dtype"));
        }
        Ok(vec![Value::Sequence(tensors)])
    }
}
