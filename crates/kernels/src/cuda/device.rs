//! Device detection, the target fingerprint of a GPU, and [`Gpu`]: one CUDA device with its
//! context, its compiled kernel modules and its cuBLASLt handle.

use super::{CudaError, nvrtc};
use crate::TargetFingerprint;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a GPU is: name, compute capability and the versions of the driver and libraries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device ordinal.
    pub ordinal: usize,
    /// Device name (`NVIDIA H200`).
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Device memory in bytes.
    pub memory_bytes: usize,
    /// CUDA version the driver supports (`13000` = 13.0).
    pub driver_version: i32,
    /// NVRTC version (major, minor), when the library is present.
    pub nvrtc_version: Option<(i32, i32)>,
    /// cuBLASLt version, when the library is present.
    pub cublaslt_version: Option<usize>,
    /// cuDNN version (`91400` = 9.14.0), when the library is present.
    pub cudnn_version: Option<usize>,
}

impl DeviceInfo {
    /// The `sm_XY` architecture name.
    pub fn arch(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }

    /// The target fingerprint of plans built for this GPU: backend `cuda`, the architecture,
    /// and the GPU name (plans are refused on another GPU model).
    pub fn fingerprint(&self) -> TargetFingerprint {
        TargetFingerprint {
            backend: "cuda".to_string(),
            arch: self.arch(),
            features: vec![format!("gpu={}", self.name)],
        }
    }

    /// One line for logs and reports: name, capability, memory and versions.
    pub fn summary(&self) -> String {
        let v = |n: Option<usize>| n.map_or("none".to_string(), |n| n.to_string());
        format!(
            "cuda:{} {} ({}, {:.1} GiB), driver CUDA {}.{}, nvrtc {}, cublasLt {}, cudnn {}",
            self.ordinal,
            self.name,
            self.arch(),
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.driver_version / 1000,
            (self.driver_version % 1000) / 10,
            self.nvrtc_version
                .map_or("none".to_string(), |(a, b)| format!("{a}.{b}")),
            v(self.cublaslt_version),
            v(self.cudnn_version),
        )
    }

    /// The timing-cache key of this GPU: name, capability, driver and library versions.
    pub fn timing_key(&self) -> String {
        format!(
            "{}|{}|drv{}|lt{:?}|dnn{:?}",
            self.name,
            self.arch(),
            self.driver_version,
            self.cublaslt_version,
            self.cudnn_version
        )
    }
}

/// Number of CUDA devices (0 when there is no driver).
pub fn device_count() -> usize {
    if !super::driver_present() {
        return 0;
    }
    if cudarc::driver::result::init().is_err() {
        return 0;
    }
    cudarc::driver::result::device::get_count().map_or(0, |n| n.max(0) as usize)
}

/// Detect device `ordinal`: a clear error when there is no driver or no such device.
pub fn probe(ordinal: usize) -> Result<DeviceInfo, CudaError> {
    Ok(open(ordinal)?.1)
}

fn open(ordinal: usize) -> Result<(Arc<CudaContext>, DeviceInfo), CudaError> {
    if !super::driver_present() {
        return Err(CudaError::NoDriver);
    }
    cudarc::driver::result::init().map_err(|e| CudaError::driver("cuInit", e))?;
    let count = cudarc::driver::result::device::get_count()
        .map_err(|e| CudaError::driver("cuDeviceGetCount", e))?
        .max(0) as usize;
    if ordinal >= count {
        return Err(CudaError::NoDevice { ordinal, count });
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| CudaError::driver("creating a context", e))?;
    let name = ctx
        .name()
        .map_err(|e| CudaError::driver("cuDeviceGetName", e))?;
    let compute_capability = ctx
        .compute_capability()
        .map_err(|e| CudaError::driver("compute capability", e))?;
    let memory_bytes = ctx
        .total_mem()
        .map_err(|e| CudaError::driver("cuDeviceTotalMem", e))?;
    let mut driver_version = 0;
    // SAFETY: the driver library is loaded (checked above); the pointer is valid for writes.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver_version) }
        .result()
        .map_err(|e| CudaError::driver("cuDriverGetVersion", e))?;
    let cublaslt_version = super::cublaslt_present().then(|| {
        // SAFETY: the library is present; cublasLtGetVersion has no preconditions.
        unsafe { cudarc::cublaslt::sys::cublasLtGetVersion() }
    });
    let cudnn_version = super::cudnn_present().then(cudarc::cudnn::result::get_version);
    let info = DeviceInfo {
        ordinal,
        name,
        compute_capability,
        memory_bytes,
        driver_version,
        nvrtc_version: nvrtc::version().ok(),
        cublaslt_version,
        cudnn_version,
    };
    Ok((ctx, info))
}

/// One CUDA device: its context, compiled kernel modules (compiled by NVRTC on first use and
/// cached), and a cuBLASLt handle. Shared by all engines and contexts on the device.
#[derive(Debug)]
pub struct Gpu {
    info: DeviceInfo,
    arch: &'static str,
    ctx: Arc<CudaContext>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(&'static str, String), CudaFunction>>,
    blas: super::gemm::BlasHandle,
    dnn: super::cudnn::Dnn,
}

impl Gpu {
    /// Open device `ordinal` (errors: no driver, no device, missing NVRTC/cuBLASLt,
    /// unsupported architecture).
    pub fn open(ordinal: usize) -> Result<Arc<Gpu>, CudaError> {
        let (ctx, info) = open(ordinal)?;
        if !super::nvrtc_present() {
            return Err(CudaError::MissingLibrary("libnvrtc"));
        }
        if !super::cublaslt_present() {
            return Err(CudaError::MissingLibrary("libcublasLt"));
        }
        let (major, minor) = info.compute_capability;
        let arch = nvrtc::arch_name(major, minor).ok_or_else(|| {
            CudaError::Unsupported(format!(
                "GPU '{}' has compute capability {major}.{minor}, which Kiln's CUDA backend does not target (sm_75 and newer)",
                info.name
            ))
        })?;
        // Kiln tracks the order of work itself (one stream per execution context, explicit
        // synchronization), so cudarc's per-allocation events are not needed.
        // SAFETY: no cudarc-managed allocations exist on this context yet.
        unsafe { ctx.disable_event_tracking() };
        let blas = super::gemm::BlasHandle::new()?;
        tracing::info!(device = %info.summary(), "CUDA device opened");
        Ok(Arc::new(Gpu {
            info,
            arch,
            ctx,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            blas,
            dnn: super::cudnn::Dnn::default(),
        }))
    }

    /// What the device is.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The CUDA context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The cuBLASLt handle.
    pub(crate) fn blas(&self) -> &super::gemm::BlasHandle {
        &self.blas
    }

    /// The cuDNN state (handle created on first use).
    pub(crate) fn dnn(&self) -> &super::cudnn::Dnn {
        &self.dnn
    }

    /// A new stream (one per execution context).
    pub fn new_stream(&self) -> Result<Arc<CudaStream>, CudaError> {
        self.ctx
            .new_stream()
            .map_err(|e| CudaError::driver("creating a stream", e))
    }

    /// Make the device's context current on this thread.
    pub fn bind(&self) -> Result<(), CudaError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| CudaError::driver("binding the context", e))
    }

    /// Kernel `func` of module `module`, compiling and loading the module on first use.
    pub fn function(&self, module: &'static str, func: &str) -> Result<CudaFunction, CudaError> {
        let mut fns = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fns.get(&(module, func.to_string())) {
            return Ok(f.clone());
        }
        let m = self.module(module)?;
        let f = m
            .load_function(func)
            .map_err(|e| CudaError::driver(format!("loading kernel {module}::{func}"), e))?;
        fns.insert((module, func.to_string()), f.clone());
        Ok(f)
    }

    fn module(&self, name: &'static str) -> Result<Arc<CudaModule>, CudaError> {
        let mut mods = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = mods.get(name) {
            return Ok(m.clone());
        }
        let ptx = nvrtc::compile(name, self.arch)?;
        let m = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(|e| CudaError::driver(format!("loading module {name}"), e))?;
        mods.insert(name, m.clone());
        Ok(m)
    }
}
