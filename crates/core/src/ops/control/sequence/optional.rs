//! `Optional`: wrap a value into an optional, or make an empty optional.

use crate::ops::control::common::check_attrs;
use crate::{BuildCtx, EvalContext, Op, Result, Value};

/// With an input: an optional holding it; without: an empty optional (of the `type` attribute).
#[derive(Debug)]
pub struct Optional;

/// Build; the `type` attribute (the element type of an empty optional) is accepted in any
/// form, since run-time values do not carry the type of an empty optional.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["type"])?;
    Ok(Box::new(Optional))
}

impl Op for Optional {
    fn op_type(&self) -> &str {
        "Optional"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let v = inputs.first().copied().flatten().cloned();
        Ok(vec![Value::Optional(v.map(Box::new))])
    }
}
