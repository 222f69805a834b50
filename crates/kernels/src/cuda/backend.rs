//! The `cuda` backend: the GPU (fingerprint, kernels) plus the CPU backend's tactics, which
//! are the host fallback of layers without a GPU kernel.

use super::{CudaError, Gpu};
use crate::{Backend, CpuBackend, RunContext, Tactic, TargetFingerprint};
use kiln_core::{Node, Result, Value};
use std::sync::Arc;

/// The CUDA backend of one device.
#[derive(Debug)]
pub struct CudaBackend {
    gpu: Arc<Gpu>,
    cpu: Arc<dyn Backend>,
    fingerprint: TargetFingerprint,
}

impl CudaBackend {
    /// Open device `ordinal`; the CPU fallback runs on `threads` workers (`None`: all cores).
    pub fn new(
        ordinal: usize,
        threads: Option<usize>,
    ) -> std::result::Result<CudaBackend, CudaError> {
        let gpu = Gpu::open(ordinal)?;
        let cpu = CpuBackend::shared(threads).map_err(|e| CudaError::Unsupported(e.to_string()))?;
        Ok(CudaBackend {
            fingerprint: gpu.info().fingerprint(),
            gpu,
            cpu,
        })
    }

    /// As [`CudaBackend::new`], shared.
    pub fn shared(
        ordinal: usize,
        threads: Option<usize>,
    ) -> std::result::Result<Arc<dyn Backend>, CudaError> {
        Ok(Arc::new(CudaBackend::new(ordinal, threads)?))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &str {
        "cuda"
    }

    fn fingerprint(&self) -> &TargetFingerprint {
        &self.fingerprint
    }

    fn threads(&self) -> usize {
        self.cpu.threads()
    }

    /// The host tactics (CPU fallback); GPU kernels are picked per layer by
    /// [`layer_for`](super::layer_for) when the execution context plans device memory.
    fn tactics_for(&self, node: &Node) -> Vec<Box<dyn Tactic>> {
        self.cpu.tactics_for(node)
    }

    fn execute(
        &self,
        tactic: &dyn Tactic,
        inputs: &[Option<&Value>],
        ctx: &RunContext<'_>,
    ) -> Result<Vec<Value>> {
        self.cpu.execute(tactic, inputs, ctx)
    }

    fn gpu(&self) -> Option<&Arc<Gpu>> {
        Some(&self.gpu)
    }
}
