//! `SequenceAt`: the tensor at a position of a sequence.

use crate::ops::control::common::{check_attrs, seq_in, tensor_in};
use crate::ops::control::sequence::position::resolve;
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Returns the element at `position` (negative counts from the back).
#[derive(Debug)]
pub struct SequenceAt;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(SequenceAt))
}

impl Op for SequenceAt {
    fn op_type(&self) -> &str {
        "SequenceAt"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let seq = seq_in(inputs, 0)?;
        if seq.is_empty() {
            return Err(Error::input("SequenceAt on an empty sequence"));
        }
        let i = resolve(Some(tensor_in(inputs, 1)?), seq.len(), 0, false)?;
        Ok(vec![Value::Tensor(seq[i].clone())])
    }
}
