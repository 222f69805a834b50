//! The CUDA backend: device detection and fingerprint ([`probe`], [`Gpu`]), NVRTC-compiled
//! `.cu` kernels ([`nvrtc`]), cuBLASLt GEMM ([`gemm`]), device memory ([`DeviceMemory`],
//! [`DevTensor`]) and the per-layer GPU kernels ([`GpuLayer`], [`layer_for`]).
//!
//! cudarc is loaded dynamically: every entry point first checks that the CUDA driver (and
//! NVRTC, cuBLASLt) libraries are present, so a machine without a GPU gets a
//! [`CudaError`] instead of a panic, and the CPU backend keeps working.
//!
//! Execution model: tensors live in device memory planned by the caller (the engine's GPU
//! context owns one arena per execution context); a [`GpuLayer`] enqueues its kernels on the
//! context's stream ([`Exec`]) reading and writing [`DevTensor`]s of that arena. Layers with
//! no GPU kernel run on the CPU backend with explicit copies (the engine does that).

mod backend;
mod cudnn;
mod device;
pub mod gemm;
pub mod graph;
mod layer;
pub mod memory;
pub mod nvrtc;
pub mod ops;

pub use backend::CudaBackend;
/// A CUDA stream (cudarc's), for callers that hold one per execution context.
pub use cudarc::driver::CudaStream;
pub use cudnn::cudnn_usable;
pub use device::{DeviceInfo, Gpu, device_count, probe};
pub use layer::{DevTensor, Exec, GpuLayer, float_suffix, is_gpu_float};
pub use memory::DeviceMemory;
pub use ops::{LayerOptions, Spec, layer_for, layer_for_with};

/// Errors of the CUDA backend.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// The CUDA driver library (libcuda) is not on this machine.
    #[error(
        "no CUDA driver on this machine (libcuda.so not found): `--device cuda` needs an NVIDIA GPU with its driver; use `--device cpu`"
    )]
    NoDriver,
    /// A CUDA library other than the driver is missing.
    #[error(
        "the CUDA library {0} is not found (is the CUDA toolkit's lib folder on LD_LIBRARY_PATH?)"
    )]
    MissingLibrary(&'static str),
    /// The requested device ordinal does not exist.
    #[error("CUDA device {ordinal} requested but this machine has {count} CUDA device(s)")]
    NoDevice {
        /// Requested ordinal.
        ordinal: usize,
        /// Devices present.
        count: usize,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {what}: {message}")]
    Driver {
        /// What was being done.
        what: String,
        /// The driver's message.
        message: String,
    },
    /// NVRTC failed to compile a kernel source.
    #[error("NVRTC could not compile {module}.cu for {arch}: {log}")]
    Compile {
        /// Kernel source name.
        module: String,
        /// Target architecture (`sm_90`).
        arch: String,
        /// Compiler log.
        log: String,
    },
    /// cuBLASLt failed.
    #[error("cuBLASLt error in {what}: {message}")]
    Blas {
        /// What was being done.
        what: String,
        /// The library's status.
        message: String,
    },
    /// cuDNN failed.
    #[error("cuDNN error in {what}: {message}")]
    Dnn {
        /// What was being done.
        what: String,
        /// The library's status.
        message: String,
    },
    /// A layer's inputs are not what its GPU kernel handles.
    #[error("{0}")]
    Unsupported(String),
}

impl CudaError {
    pub(crate) fn driver(what: impl Into<String>, e: impl std::fmt::Debug) -> CudaError {
        CudaError::Driver {
            what: what.into(),
            message: format!("{e:?}"),
        }
    }

    pub(crate) fn blas(what: impl Into<String>, e: impl std::fmt::Debug) -> CudaError {
        CudaError::Blas {
            what: what.into(),
            message: format!("{e:?}"),
        }
    }
}

/// True when the CUDA driver library can be loaded (checked before any other CUDA call).
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// True when the NVRTC library can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the NVRTC library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// True when the cuBLASLt library can be loaded.
pub fn cublaslt_present() -> bool {
    // SAFETY: only tries to dlopen the cuBLASLt library by its usual names.
    unsafe { cudarc::cublaslt::sys::is_culib_present() }
}

/// True when the cuDNN library can be loaded.
pub fn cudnn_present() -> bool {
    // SAFETY: only tries to dlopen the cuDNN library by its usual names.
    unsafe { cudarc::cudnn::sys::is_culib_present() }
}
