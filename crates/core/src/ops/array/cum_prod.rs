//! `CumProd`: cumulative product along an axis given as an input (`exclusive`, `reverse`).

use super::cum_sum::Cumulative;
use crate::{BuildCtx, Op, Result, Tensor};

/// Cumulative product.
#[derive(Debug)]
pub struct CumProd {
    cum: Cumulative,
}

/// Build from `exclusive` and `reverse`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    Ok(Box::new(CumProd {
        cum: Cumulative::from_ctx(ctx)?,
    }))
}

impl Op for CumProd {
    fn op_type(&self) -> &str {
        "CumProd"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.cum.eval(inputs, true)
    }
}
