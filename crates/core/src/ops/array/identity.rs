//! `Identity`: output equals input.

use crate::ops::util::input;
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};

/// Returns its input unchanged.
#[derive(Debug)]
pub struct Identity;

/// Build from attributes (Identity has none).
pub fn build(_ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
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
}
