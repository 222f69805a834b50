//! The CPU backend: reference tactics for every builtin op, fast f32 tactics for the heavy
//! layers (MatMul, Gemm, Conv) on top of the `gemm` crate, and a rayon worker pool.

mod conv;
mod features;
mod gemm_op;
mod matmul;
mod reference;
mod sgemm;

pub use conv::{ConvIm2col, ConvParams};
pub use features::detect_features;
pub use gemm_op::GemmTactic;
pub use matmul::{MatMulGemm, matmul_f32};
pub use reference::ReferenceTactic;
pub use sgemm::{MatLayout, sgemm};

use crate::{Backend, KernelError, RunContext, Tactic, TargetFingerprint};
use kiln_core::{Node, Result, Value};
use std::sync::Arc;

/// The embedded default backend.
#[derive(Debug)]
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
    fingerprint: TargetFingerprint,
}

impl CpuBackend {
    /// A CPU backend with `threads` workers (`None`: one per available core).
    pub fn new(threads: Option<usize>) -> Result<CpuBackend, KernelError> {
        let threads = threads
            .filter(|&t| t > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kiln-cpu-{i}"))
            .build()
            .map_err(|e| KernelError::ThreadPool {
                threads,
                message: e.to_string(),
            })?;
        Ok(CpuBackend {
            pool,
            threads,
            fingerprint: Self::host_fingerprint(),
        })
    }

    /// The fingerprint of this machine as the CPU backend sees it.
    pub fn host_fingerprint() -> TargetFingerprint {
        TargetFingerprint {
            backend: "cpu".to_string(),
            arch: std::env::consts::ARCH.to_string(),
            features: detect_features(),
        }
    }

    /// The same backend behind an `Arc<dyn Backend>`.
    pub fn shared(threads: Option<usize>) -> Result<Arc<dyn Backend>, KernelError> {
        Ok(Arc::new(CpuBackend::new(threads)?))
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn fingerprint(&self) -> &TargetFingerprint {
        &self.fingerprint
    }

    fn threads(&self) -> usize {
        self.threads
    }

    fn tactics_for(&self, node: &Node) -> Vec<Box<dyn Tactic>> {
        let reference: Box<dyn Tactic> = Box::new(ReferenceTactic::new(node.op.clone()));
        if node.op.unresolved().is_some() || !node.domain.is_empty() {
            return vec![reference];
        }
        let fast: Option<Box<dyn Tactic>> = match node.op_type() {
            "MatMul" => Some(Box::new(MatMulGemm::new(node.op.clone()))),
            "Gemm" => GemmTactic::from_node(node).map(|t| Box::new(t) as Box<dyn Tactic>),
            "Conv" => ConvIm2col::from_node(node).map(|t| Box::new(t) as Box<dyn Tactic>),
            _ => None,
        };
        match fast {
            Some(f) => vec![f, reference],
            None => vec![reference],
        }
    }

    fn execute(
        &self,
        tactic: &dyn Tactic,
        inputs: &[Option<&Value>],
        ctx: &RunContext<'_>,
    ) -> Result<Vec<Value>> {
        self.pool.install(|| tactic.run(inputs, ctx))
    }
}
