//! `SequenceInsert`: a copy of a sequence with one tensor inserted.

use crate::ops::control::common::{check_attrs, opt_tensor_in, seq_in, tensor_in};
use crate::ops::control::sequence::position::resolve;
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Inserts `tensor` at `position` (default: the back).
#[derive(Debug)]
pub struct SequenceInsert;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(SequenceInsert))
}

impl Op for SequenceInsert {
    fn op_type(&self) -> &str {
        "SequenceInsert"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let mut seq = seq_in(inputs, 0)?.to_vec();
        let t = tensor_in(inputs, 1)?;
        if seq.first().is_some_and(|f| f.dtype() != t.dtype()) {
            return Err(Error::dtype(format!(
                "cannot insert a {} tensor into a sequence of {}",
                t.dtype(),
                seq[0].dtype()
            )));
        }
        let pos = resolve(opt_tensor_in(inputs, 2)?, seq.len(), seq.len(), true)?;
        seq.insert(pos, t.clone());
        Ok(vec![Value::Sequence(seq)])
    }
}
