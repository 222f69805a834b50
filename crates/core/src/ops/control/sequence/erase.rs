//! `SequenceErase`: a copy of a sequence with one element removed.

use crate::ops::control::common::{check_attrs, opt_tensor_in, seq_in};
use crate::ops::control::sequence::position::resolve;
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Removes the element at `position` (default: the last).
#[derive(Debug)]
pub struct SequenceErase;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(SequenceErase))
}

impl Op for SequenceErase {
    fn op_type(&self) -> &str {
        "SequenceErase"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let mut seq = seq_in(inputs, 0)?.to_vec();
        if seq.is_empty() {
            return Err(Error::input("SequenceErase on an empty sequence"));
        }
        let pos = resolve(opt_tensor_in(inputs, 1)?, seq.len(), seq.len() - 1, false)?;
        seq.remove(pos);
        Ok(vec![Value::Sequence(seq)])
    }
}
