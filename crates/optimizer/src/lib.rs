//! # kiln-optimizer
//!
//! Whole-graph passes over kiln-core graphs, run as an ordered list. Each pass is its own
//! file and returns a [`PassReport`] saying what it changed, so builds can show their work.
//!
//! Passes keep the names of graph outputs stable: callers bind results by those names.

mod passes;
mod util;

pub use passes::constant_folding::ConstantFolding;
pub use passes::dead_nodes::DeadNodeElimination;
pub use passes::identity::IdentityRemoval;

use kiln_core::Graph;

/// Errors of the optimizer.
#[derive(Debug, thiserror::Error)]
pub enum OptError {
    /// A pass met a graph it cannot work on (the core error says where).
    #[error("pass {pass}: {source}")]
    Pass {
        /// The pass that failed.
        pass: String,
        /// What went wrong.
        #[source]
        source: kiln_core::Error,
    },
}

/// What one pass did to a graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// The pass name.
    pub pass: String,
    /// One line per change (e.g. "removed Identity node 'id0'").
    pub changes: Vec<String>,
}

/// A whole-graph rewrite.
pub trait Pass: Send + Sync {
    /// Stable name of the pass (used in reports).
    fn name(&self) -> &'static str;

    /// Rewrite `graph` in place and say what changed.
    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError>;
}

/// The default pass list, in order: identity removal, constant folding, dead-node elimination.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(IdentityRemoval),
        Box::new(ConstantFolding::default()),
        Box::new(DeadNodeElimination),
    ]
}

/// Run `passes` over `graph` in order and collect their reports.
pub fn run_passes(
    graph: &mut Graph,
    passes: &[Box<dyn Pass>],
) -> Result<Vec<PassReport>, OptError> {
    let mut reports = Vec::with_capacity(passes.len());
    for p in passes {
        let report = p.run(graph)?;
        tracing::debug!(pass = p.name(), changes = report.changes.len(), "pass done");
        reports.push(report);
    }
    Ok(reports)
}

/// Run the [`default_passes`] over `graph`.
pub fn optimize(graph: &mut Graph) -> Result<Vec<PassReport>, OptError> {
    run_passes(graph, &default_passes())
}
