//! The `reference` tactic: the op's own reference evaluator. Exists for every builtin op.

use crate::{RunContext, Tactic};
use kiln_core::{Op, Result, Value};
use std::sync::Arc;

/// Runs a layer with its op's `eval_values` (handles sequences, optionals and subgraphs).
#[derive(Debug, Clone)]
pub struct ReferenceTactic {
    op: Arc<dyn Op>,
}

impl ReferenceTactic {
    /// The reference tactic of `op`.
    pub fn new(op: Arc<dyn Op>) -> Self {
        ReferenceTactic { op }
    }
}

impl Tactic for ReferenceTactic {
    fn name(&self) -> &str {
        "reference"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        self.op.eval_values(inputs, &ctx.eval)
    }
}
