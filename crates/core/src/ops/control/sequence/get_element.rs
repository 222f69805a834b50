//! `OptionalGetElement`: the value inside an optional (plain values pass through).

use crate::ops::control::common::{check_attrs, value_in};
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Unwraps a non-empty optional; an empty one is an error.
#[derive(Debug)]
pub struct OptionalGetElement;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(OptionalGetElement))
}

impl Op for OptionalGetElement {
    fn op_type(&self) -> &str {
        "OptionalGetElement"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        match value_in(inputs, 0)? {
            Value::Optional(Some(v)) => Ok(vec![(**v).clone()]),
            Value::Optional(None) => Err(Error::input("the optional input is empty")),
            other => Ok(vec![other.clone()]),
        }
    }
}
