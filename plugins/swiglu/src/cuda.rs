//! The CUDA implementation: a kernel compiled with NVRTC once per CUDA context, launched
//! on the caller's stream with the driver API.

use cudarc::driver::{result, sys};
use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::{Mutex, OnceLock};

const SRC: &str = r#"
extern "C" __global__ void kiln_swiglu_f32(const float* x, float* y,
        unsigned long long n, unsigned long long h, float beta) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned long long r = i / h, c = i - r * h;
    float a = x[r * 2 * h + c];
    float b = x[r * 2 * h + h + c];
    y[i] = a / (1.0f + expf(-beta * a)) * b;
}
"#;

/// The compiled PTX (compiled once per process).
fn ptx() -> Result<&'static CString, String> {
    static PTX: OnceLock<Result<CString, String>> = OnceLock::new();
    PTX.get_or_init(|| {
        let ptx = cudarc::nvrtc::compile_ptx(SRC).map_err(|e| format!("NVRTC: {e:?}"))?;
        CString::new(ptx.to_src()).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The kernel in the current context (loaded once per context; `CUfunction` as usize).
fn function() -> Result<sys::CUfunction, String> {
    static FUNCS: OnceLock<Mutex<HashMap<usize, usize>>> = OnceLock::new();
    let ctx = result::ctx::get_current()
        .map_err(|e| format!("cuCtxGetCurrent: {e:?}"))?
        .ok_or("no CUDA context is current on the calling thread")?;
    let mut map = FUNCS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&f) = map.get(&(ctx as usize)) {
        return Ok(f as sys::CUfunction);
    }
    let image = ptx()?;
    // SAFETY: `image` is a NUL-terminated PTX string that outlives the call; the module
    // is loaded into the context current on this thread and kept for the process.
    let module = unsafe { result::module::load_data(image.as_ptr().cast()) }
        .map_err(|e| format!("cuModuleLoadData: {e:?}"))?;
    // SAFETY: `module` was just loaded and holds `kiln_swiglu_f32`.
    let f = unsafe { result::module::get_function(module, c"kiln_swiglu_f32".into()) }
        .map_err(|e| format!("cuModuleGetFunction: {e:?}"))?;
    map.insert(ctx as usize, f as usize);
    Ok(f)
}

/// Launch SwiGLU on `stream`: `x` holds `n / h` rows of `2h` f32, `y` `n` f32.
pub fn launch_swiglu(x: u64, y: u64, n: u64, h: u64, beta: f32, stream: u64) -> Result<(), String> {
    // SAFETY: only probes for the driver library (cudarc panics on first use without it).
    if !unsafe { sys::is_culib_present() } {
        return Err("the CUDA driver library (libcuda) is not available".into());
    }
    if n == 0 {
        return Ok(());
    }
    if h == 0 {
        return Err("the last output dimension is 0".into());
    }
    let f = function()?;
    let (mut x, mut y, mut n_, mut h_, mut beta) = (x, y, n, h, beta);
    let mut params: [*mut c_void; 5] = [
        (&mut x as *mut u64).cast(),
        (&mut y as *mut u64).cast(),
        (&mut n_ as *mut u64).cast(),
        (&mut h_ as *mut u64).cast(),
        (&mut beta as *mut f32).cast(),
    ];
    let block = 256u32;
    let grid =
        u32::try_from(n.div_ceil(block as u64)).map_err(|_| "tensor too large for one launch")?;
    // SAFETY: `f` takes (const float*, float*, u64, u64, float), matching `params`; the
    // host guarantees `x`/`y` are device buffers of the declared sizes and `stream` a
    // stream of the current context.
    unsafe {
        result::launch_kernel(
            f,
            (grid, 1, 1),
            (block, 1, 1),
            0,
            stream as sys::CUstream,
            &mut params,
        )
    }
    .map_err(|e| format!("cuLaunchKernel: {e:?}"))
}
