//! `Identity`: output equals input (tensors, sequences and optionals alike).

use crate::ops::util::input;
use crate::{BuildCtx, EvalContext, InferInput, Op, Result, Tensor, TensorFact, Value};

/// Returns its input unchanged.
#[derive(Debug)]
pub struct Identity;

/// Build from attributes (Identity has none).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    super::common::check_attrs(ctx, &[])?;
    Ok(Box::new(Identity))
}

impl Op for Identity {
    fn op_type(&self) -> &str {
        "Identity"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|i| vec![i.fact.clone()])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let v = inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| crate::Error::input("required input 0 is missing"))?;
        Ok(vec![v.clone()])
    }
}
