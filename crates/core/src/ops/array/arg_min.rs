//! `ArgMin`: index of the smallest entry along an axis (`keepdims`, `select_last_index`).

use super::arg_max::ArgReduce;
use crate::{BuildCtx, Op, Result, Tensor};
use std::cmp::Ordering;

/// Index of the minimum.
#[derive(Debug)]
pub struct ArgMin {
    arg: ArgReduce,
}

/// Build from `axis`, `keepdims` and `select_last_index`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    Ok(Box::new(ArgMin {
        arg: ArgReduce::from_ctx(ctx)?,
    }))
}

impl Op for ArgMin {
    fn op_type(&self) -> &str {
        "ArgMin"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.arg.eval(inputs, Ordering::Less)
    }
}
