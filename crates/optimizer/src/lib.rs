//! # kiln-optimizer
//!
//! Whole-graph passes over kiln-core graphs, run as an ordered list. Each pass is its own
//! file and returns a [`PassReport`] saying what it changed, so builds can show their work.
//!
//! Passes keep the names of graph outputs stable: callers bind results by those names.
//!
//! Fusion passes replace groups of nodes by one layer: a `kiln`-domain `FusedConv` /
//! `FusedMatMul` (see `kiln_core::ops::fused` for their spec) or a standard op
//! (LayerNormalization, Gelu, Attention). Each fused layer's provenance (which original
//! nodes it replaced, and their op types) is in its `fusion` / `fused_nodes` attributes where
//! the op takes them, and always in its report line; [`fusions`] collects it per layer.

mod fusion;
mod passes;
mod util;

pub use fusion::{Fusion, fusion_of, fusions};
pub use passes::attention::AttentionFusion;
pub use passes::constant_folding::ConstantFolding;
pub use passes::conv_bn::ConvBnFolding;
pub use passes::dead_nodes::DeadNodeElimination;
pub use passes::gelu::GeluFusion;
pub use passes::gemm::GemmToFusedMatMul;
pub use passes::horizontal::HorizontalFusion;
pub use passes::identity::IdentityRemoval;
pub use passes::layernorm::LayerNormFusion;
pub use passes::layout::NhwcLayout;
pub use passes::reshape::ReshapeChains;
pub use passes::transpose::TransposeOptimization;
pub use passes::vertical::VerticalFusion;
pub use util::facts;

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

/// The default pass list, in order: clean-ups (transposes, identities, reshape chains,
/// constant folding, dead nodes), pattern fusions (GELU, LayerNormalization, attention),
/// Conv+BatchNormalization folding, Gemm -> FusedMatMul, vertical fusion of bias, residual
/// and activation (run twice around a second BN folding so `Conv+Add+BN+Relu` fuses fully),
/// horizontal fusion, and a last dead-node elimination.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(TransposeOptimization),
        Box::new(IdentityRemoval),
        Box::new(ReshapeChains),
        Box::new(ConstantFolding::default()),
        Box::new(DeadNodeElimination),
        Box::new(GeluFusion),
        Box::new(LayerNormFusion),
        Box::new(AttentionFusion),
        Box::new(ConvBnFolding),
        Box::new(GemmToFusedMatMul),
        Box::new(VerticalFusion),
        Box::new(ConvBnFolding),
        Box::new(VerticalFusion),
        Box::new(HorizontalFusion),
        Box::new(DeadNodeElimination),
    ]
}

/// The CPU layout passes, run after [`default_passes`] for CPU builds: 2-D convolutions move
/// to NHWC ([`NhwcLayout`]), then the Transposes it places compose and cancel between
/// consecutive convs, identities go and what nobody reads is dropped.
pub fn cpu_layout_passes() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(NhwcLayout),
        Box::new(TransposeOptimization),
        Box::new(IdentityRemoval),
        Box::new(DeadNodeElimination),
    ]
}

/// How many changes each pass made over all its runs, by pass name, in first-run order.
pub fn summarize(reports: &[PassReport]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in reports {
        match out.iter_mut().find(|(p, _)| p == &r.pass) {
            Some((_, n)) => *n += r.changes.len(),
            None => out.push((r.pass.clone(), r.changes.len())),
        }
    }
    out
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
