//! The `cuda` backend: the GPU (fingerprint, kernels) plus the CPU backend's tactics, which
//! are the host fallback of layers without a GPU kernel.

use super::{CudaError, Gpu};
use crate::{Backend, CpuBackend, RunContext, Tactic, TargetFingerprint};
use kiln_core::{Node, Result, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The process's open GPUs by ordinal: every engine on a device shares its context, its
/// compiled kernel modules and its library handles (opening a device and compiling the
/// NVRTC modules once per process, not once per engine).
fn shared_gpu(ordinal: usize) -> std::result::Result<Arc<Gpu>, CudaError> {
    static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
    let mut open = GPUS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(gpu) = open.get(&ordinal) {
        return Ok(gpu.clone());
    }
    let gpu = Gpu::open(ordinal)?;
    open.insert(ordinal, gpu.clone());
    Ok(gpu)
}

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
        let gpu = shared_gpu(ordinal)?;
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

    fn scope(&self, f: &mut (dyn FnMut() + Send)) {
        self.cpu.scope(f)
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
