//! The GPU layer interface: device tensors, the launch context, and [`GpuLayer`].

use super::{CudaError, Gpu};
use cudarc::driver::{CudaFunction, CudaStream, LaunchConfig};
use kiln_core::DataType;
use std::fmt::Debug;
use std::sync::Arc;

/// A tensor in device memory: address, type and shape (dense, row-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevTensor {
    /// Device address of the first element.
    pub ptr: u64,
    /// Element type.
    pub dtype: DataType,
    /// Shape.
    pub shape: Vec<usize>,
}

impl DevTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes (0 for types without a fixed size).
    pub fn bytes(&self) -> usize {
        self.dtype.size_of().unwrap_or(0) * self.len()
    }
}

/// Where a layer enqueues its work: the device and the execution context's stream.
#[derive(Clone, Copy, Debug)]
pub struct Exec<'a> {
    /// The device.
    pub gpu: &'a Gpu,
    /// The stream of the execution context.
    pub stream: &'a Arc<CudaStream>,
}

/// Threads per block of the 1-D kernels.
pub(crate) const BLOCK: u32 = 256;

/// A grid-stride launch over `n` elements.
pub(crate) fn grid_for(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 65_535 * 8) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl Exec<'_> {
    /// Kernel `func` of module `module` (compiled on first use).
    pub(crate) fn function(
        &self,
        module: &'static str,
        func: &'static str,
    ) -> Result<CudaFunction, CudaError> {
        self.gpu.function(module, func)
    }

    /// The instantiation of templated kernel `base` of module `module` for storage type `dt`
    /// (`kiln_unary` + F16 -> `kiln_unary_f16`).
    pub(crate) fn function_t(
        &self,
        module: &'static str,
        base: &'static str,
        dt: DataType,
    ) -> Result<CudaFunction, CudaError> {
        let sfx = float_suffix(dt).ok_or_else(|| {
            CudaError::Unsupported(format!("kernel {base} has no {dt} instantiation"))
        })?;
        self.gpu.function(module, &format!("{base}_{sfx}"))
    }
}

/// The kernel-name suffix of a floating-point storage type (`f32`, `f16`, `bf16`).
pub fn float_suffix(dt: DataType) -> Option<&'static str> {
    match dt {
        DataType::F32 => Some("f32"),
        DataType::F16 => Some("f16"),
        DataType::BF16 => Some("bf16"),
        _ => None,
    }
}

/// True for the floating-point types the GPU kernels store (f32, f16, bf16).
pub fn is_gpu_float(dt: DataType) -> bool {
    float_suffix(dt).is_some()
}

/// Launch kernel `$f` on the stream of `$ex` with launch config `$cfg`; the arguments are
/// references in the order of the kernel's `.cu` signature.
macro_rules! launch {
    ($ex:expr, $f:expr, $cfg:expr, $what:expr; $($arg:expr),* $(,)?) => {{
        use cudarc::driver::PushKernelArg as _;
        let mut b = $ex.stream.launch_builder($f);
        $( b.arg($arg); )*
        // SAFETY: the arguments follow the kernel's `.cu` signature (kept beside it in the
        // op's file); device pointers come from the context's arena or the engine's weights
        // with sizes checked by the op against the tensor shapes.
        unsafe { b.launch($cfg) }
            .map(|_| ())
            .map_err(|e| $crate::cuda::CudaError::driver(format!("launching {}", $what), e))
    }};
}
pub(crate) use launch;

/// One layer's GPU implementation, built for concrete shapes. Enqueues its kernels on the
/// context's stream; never synchronizes.
pub trait GpuLayer: Send + Sync + Debug {
    /// Stable kernel name for reports (`cublaslt-gemm`, `nvrtc-softmax`, ...).
    fn kernel(&self) -> &str;

    /// Scratch bytes the layer needs (given to `enqueue` as `workspace`).
    fn workspace_bytes(&self) -> usize {
        0
    }

    /// Enqueue the layer: `inputs` as the node's (`None` = omitted), `outputs` preallocated
    /// with their shapes, `workspace` the address of `workspace_bytes()` scratch bytes.
    fn enqueue(
        &self,
        exec: &Exec<'_>,
        inputs: &[Option<&DevTensor>],
        outputs: &[DevTensor],
        workspace: u64,
    ) -> Result<(), CudaError>;
}
