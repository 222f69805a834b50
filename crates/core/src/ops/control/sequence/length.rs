//! `SequenceLength`: the number of tensors in a sequence, as an int64 scalar.

use crate::ops::control::common::{check_attrs, seq_in};
use crate::{BuildCtx, EvalContext, Op, Result, Tensor, Value};

/// Returns the length of its sequence input.
#[derive(Debug)]
pub struct SequenceLength;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(SequenceLength))
}

impl Op for SequenceLength {
    fn op_type(&self) -> &str {
        "SequenceLength"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let n = seq_in(inputs, 0)?.len() as i64;
        Ok(vec![Value::Tensor(Tensor::scalar(n))])
    }
}
