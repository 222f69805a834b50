//! `OptionalHasElement`: whether an optional (or an omitted input) holds a value.

use crate::ops::control::common::check_attrs;
use crate::{BuildCtx, EvalContext, Op, Result, Tensor, Value};

/// True for a non-empty optional or a plain tensor/sequence; false for an empty optional or
/// an omitted input.
#[derive(Debug)]
pub struct OptionalHasElement;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(OptionalHasElement))
}

impl Op for OptionalHasElement {
    fn op_type(&self) -> &str {
        "OptionalHasElement"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let has = match inputs.first().copied().flatten() {
            None | Some(Value::Optional(None)) => false,
            Some(_) => true,
        };
        Ok(vec![Value::Tensor(Tensor::scalar(has))])
    }
}
