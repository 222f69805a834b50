//! The `.cu` kernel sources (embedded with `include_str!`) and their NVRTC compilation to PTX.

use super::CudaError;

/// Definitions prepended to every kernel source.
const COMMON: &str = include_str!("kernels/common.cuh");

/// Every kernel source: (module name, source text). Module names are stable (cache keys).
pub const SOURCES: &[(&str, &str)] = &[
    ("elementwise", include_str!("kernels/elementwise.cu")),
    ("softmax", include_str!("kernels/softmax.cu")),
    ("layernorm", include_str!("kernels/layernorm.cu")),
    ("reduce", include_str!("kernels/reduce.cu")),
    ("pool", include_str!("kernels/pool.cu")),
    ("layout", include_str!("kernels/layout.cu")),
    ("conv", include_str!("kernels/conv.cu")),
];

/// The full source of module `name` (common definitions + the module's `.cu`).
pub fn source(name: &str) -> Option<String> {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| format!("{COMMON}\n{src}"))
}

/// NVRTC's version (major, minor), or an error when the library is missing.
pub fn version() -> Result<(i32, i32), CudaError> {
    if !super::nvrtc_present() {
        return Err(CudaError::MissingLibrary("libnvrtc"));
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; both pointers are valid for writes.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    r.result()
        .map_err(|e| CudaError::driver("nvrtcVersion", e))?;
    Ok((major, minor))
}

/// Compile module `name` to PTX for `arch` (e.g. `sm_90`).
pub fn compile(name: &str, arch: &'static str) -> Result<String, CudaError> {
    if !super::nvrtc_present() {
        return Err(CudaError::MissingLibrary("libnvrtc"));
    }
    let src = source(name)
        .ok_or_else(|| CudaError::Unsupported(format!("no kernel module named '{name}'")))?;
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        name: Some(format!("{name}.cu")),
        options: vec!["--std=c++17".to_string()],
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src, opts).map_err(|e| {
        let log = match &e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => {
                log.to_string_lossy().into_owned()
            }
            other => format!("{other:?}"),
        };
        CudaError::Compile {
            module: name.to_string(),
            arch: arch.to_string(),
            log,
        }
    })?;
    tracing::debug!(
        module = name,
        arch,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "NVRTC compiled"
    );
    Ok(ptx.to_src())
}

/// The static `sm_XY` name of a compute capability (NVRTC needs a `'static` string).
pub fn arch_name(major: i32, minor: i32) -> Option<&'static str> {
    Some(match (major, minor) {
        (7, 5) => "sm_75",
        (8, 0) => "sm_80",
        (8, 6) => "sm_86",
        (8, 7) => "sm_87",
        (8, 9) => "sm_89",
        (9, 0) => "sm_90",
        (10, 0) => "sm_100",
        (10, 3) => "sm_103",
        (12, 0) => "sm_120",
        _ => return None,
    })
}
