//! `KILN_GPU_PROFILE=1`: device time of every step of a GPU plan (events between the
//! steps of plain runs; CUDA graphs are off meanwhile), summed over the runs after the
//! first and logged per op type and for the slowest layers when the plan is replaced or the
//! context dropped (target `kiln_gpu_profile`, info level).

use super::plan::{RunPlan, Step};
use crate::engine::Inner;
use kiln_kernels::cuda::graph::Timer;
use std::collections::HashMap;

/// Per-step device times of one plan, summed over the profiled runs.
pub(super) struct StepProfile {
    pub timer: Option<Timer>,
    pub total_ms: Vec<f64>,
    pub runs: u32,
    /// The plan's first (warm-up) run is over.
    pub warm: bool,
    /// (layer, op type, kernel and storage type) of each step.
    pub labels: Vec<(String, String, String)>,
}

/// Whether `KILN_GPU_PROFILE` asks for per-layer device times.
pub(super) fn profile_from_env() -> bool {
    std::env::var("KILN_GPU_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0")
}

impl StepProfile {
    /// Log the per-layer profile collected so far, slowest first.
    pub(super) fn log(&self) {
        let p = self;
        if p.runs == 0 {
            return;
        }
        let runs = f64::from(p.runs);
        let total: f64 = p.total_ms.iter().sum::<f64>() / runs;
        let mut by_op: HashMap<&str, (f64, usize)> = HashMap::new();
        for ((_, op, _), t) in p.labels.iter().zip(&p.total_ms) {
            let e = by_op.entry(op.as_str()).or_default();
            e.0 += t / runs;
            e.1 += 1;
        }
        let mut ops: Vec<_> = by_op.into_iter().collect();
        ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
        tracing::info!(target: "kiln_gpu_profile", "{total:.3} ms per run over {} runs, {} steps", p.runs, p.labels.len());
        for (op, (ms, n)) in ops {
            tracing::info!(target: "kiln_gpu_profile", "  {ms:8.3} ms {:5.1}%  {n:4} x {op}", 100.0 * ms / total.max(1e-9));
        }
        let mut order: Vec<usize> = (0..p.total_ms.len()).collect();
        order.sort_by(|&a, &b| p.total_ms[b].total_cmp(&p.total_ms[a]));
        for &k in order.iter().take(15) {
            let (layer, op, kernel) = &p.labels[k];
            tracing::info!(target: "kiln_gpu_profile", "  {:8.3} ms  {layer} ({op}) {kernel}", p.total_ms[k] / runs);
        }
    }
}

/// (layer, op type, kernel and storage type) of each step, for profiles.
pub(super) fn step_labels(inner: &Inner, plan: &RunPlan) -> Vec<(String, String, String)> {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Cast { from, to } => (
                format!("cast {:?}", from.shape),
                "Cast".to_string(),
                format!("{} -> {}", from.dtype, to.dtype),
            ),
            Step::Gpu { node, .. } | Step::Cpu { node, .. } => {
                let p = &plan.placement[*node];
                (
                    inner.graph.nodes[*node].name.clone(),
                    p.op_type.clone(),
                    format!("{} {}", p.kernel, p.dtype),
                )
            }
        })
        .collect()
}
