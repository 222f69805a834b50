//! `SequenceEmpty`: an empty sequence.

use crate::ops::control::common::{check_attrs, dtype_from_onnx};
use crate::{BuildCtx, EvalContext, Op, Result, Value};

/// Produces an empty sequence (the `dtype` attribute is validated; run-time sequences do not
/// carry the element type of an empty sequence).
#[derive(Debug)]
pub struct SequenceEmpty;

/// Build from the optional `dtype` attribute (an ONNX TensorProto data type code).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["dtype"])?;
    dtype_from_onnx(ctx.attrs.int_or("dtype", 1)?)
        .map_err(|e| crate::Error::attr("dtype", e.to_string()))?;
    Ok(Box::new(SequenceEmpty))
}

impl Op for SequenceEmpty {
    fn op_type(&self) -> &str {
        "SequenceEmpty"
    }

    fn eval_values(&self, _: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        Ok(vec![Value::Sequence(Vec::new())])
    }
}
