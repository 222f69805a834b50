//! GEMM through cuBLASLt on raw device pointers: row-major `D[M,N] = alpha * op(A) op(B) +
//! beta * C (+ bias[N]) (relu)`, strided-batched, with the bias and ReLU epilogues fused.

use super::{CudaError, Exec};
use cudarc::cublaslt::{result as lt, sys};
use kiln_core::DataType;
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::size_of;
use std::sync::Mutex;

/// Workspace bytes handed to cuBLASLt per GEMM (NVIDIA's recommendation for Hopper).
pub const GEMM_WORKSPACE: usize = 32 << 20;

/// A cuBLASLt handle (one per device) with the algorithm chosen per GEMM configuration (the
/// heuristic query runs once per distinct configuration, not per call).
#[derive(Debug)]
pub(crate) struct BlasHandle(
    sys::cublasLtHandle_t,
    Mutex<HashMap<AlgoKey, sys::cublasLtMatmulAlgo_t>>,
);

/// What the heuristic's choice depends on: the GEMM and its epilogue.
type AlgoKey = (Gemm32, u32);

/// The integer fields of a [`Gemm`] (alpha/beta do not change the algorithm).
type Gemm32 = [usize; 10];

// SAFETY: a cuBLASLt handle may be used from several threads as long as each call has its
// own workspace and stream (contexts give each GEMM their own workspace).
unsafe impl Send for BlasHandle {}
// SAFETY: as above.
unsafe impl Sync for BlasHandle {}

impl BlasHandle {
    pub(crate) fn new() -> Result<BlasHandle, CudaError> {
        lt::create_handle()
            .map(|h| BlasHandle(h, Mutex::new(HashMap::new())))
            .map_err(|e| CudaError::blas("cublasLtCreate", e))
    }
}

impl Drop for BlasHandle {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        let _ = unsafe { lt::destroy_handle(self.0) };
    }
}

/// One (batched) row-major GEMM.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of D.
    pub m: usize,
    /// Columns of D.
    pub n: usize,
    /// The reduced dimension.
    pub k: usize,
    /// A is stored `[K, M]` (transposed).
    pub trans_a: bool,
    /// B is stored `[N, K]` (transposed).
    pub trans_b: bool,
    /// Number of products.
    pub batch: usize,
    /// Element strides between the batch's matrices (0: shared).
    pub stride_a: usize,
    /// As `stride_a`, for B.
    pub stride_b: usize,
    /// As `stride_a`, for C and D.
    pub stride_c: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of C (when given).
    pub beta: f32,
    /// Fuse a ReLU after the bias.
    pub relu: bool,
    /// Allow TF32 tensor cores (f32 data only).
    pub tf32: bool,
    /// Element type of A, B, C, D and the bias: f32, f16 or bf16 (the product always
    /// accumulates in f32; alpha and beta are f32).
    pub dtype: DataType,
}

/// The cuBLAS data type of a GEMM element type.
fn cuda_type(dt: DataType) -> Result<sys::cudaDataType_t, CudaError> {
    Ok(match dt {
        DataType::F32 => sys::cudaDataType_t::CUDA_R_32F,
        DataType::F16 => sys::cudaDataType_t::CUDA_R_16F,
        DataType::BF16 => sys::cudaDataType_t::CUDA_R_16BF,
        other => {
            return Err(CudaError::Unsupported(format!(
                "cuBLASLt GEMM of {other} data"
            )));
        }
    })
}

struct Layout(sys::cublasLtMatrixLayout_t);

impl Layout {
    fn new(
        dt: sys::cudaDataType_t,
        rows: usize,
        cols: usize,
        ld: usize,
        batch: usize,
        stride: usize,
    ) -> Result<Layout, CudaError> {
        let h = lt::create_matrix_layout(dt, rows as u64, cols as u64, ld as i64)
            .map_err(|e| CudaError::blas("matrix layout", e))?;
        let l = Layout(h);
        if batch > 1 {
            let count = batch as i32;
            let stride = stride as i64;
            // SAFETY: valid layout handle; the buffers hold values of the attribute's type.
            unsafe {
                lt::set_matrix_layout_attribute(
                    l.0,
                    sys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                    (&count) as *const i32 as *const c_void,
                    size_of::<i32>(),
                )
                .map_err(|e| CudaError::blas("batch count", e))?;
                lt::set_matrix_layout_attribute(
                    l.0,
                    sys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                    (&stride) as *const i64 as *const c_void,
                    size_of::<i64>(),
                )
                .map_err(|e| CudaError::blas("batch stride", e))?;
            }
        }
        Ok(l)
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        let _ = unsafe { lt::destroy_matrix_layout(self.0) };
    }
}

struct Desc(sys::cublasLtMatmulDesc_t);

impl Desc {
    fn set<T>(
        &self,
        attr: sys::cublasLtMatmulDescAttributes_t,
        v: &T,
        what: &str,
    ) -> Result<(), CudaError> {
        // SAFETY: valid descriptor; `v` is a value of the attribute's type.
        unsafe {
            lt::set_matmul_desc_attribute(
                self.0,
                attr,
                v as *const T as *const c_void,
                size_of::<T>(),
            )
        }
        .map_err(|e| CudaError::blas(what, e))
    }
}

impl Drop for Desc {
    fn drop(&mut self) {
        // SAFETY: created once, destroyed once.
        let _ = unsafe { lt::destroy_matmul_desc(self.0) };
    }
}

struct Pref(sys::cublasLtMatmulPreference_t);

impl Drop for Pref {
    fn drop(&mut self) {
        // SAFETY: created once, destroyed once.
        let _ = unsafe { lt::destroy_matmul_pref(self.0) };
    }
}

impl Gemm {
    /// Enqueue `D = alpha * op(A) op(B) + beta * C + bias` (C and bias optional; C has D's
    /// layout, bias has N elements) with `workspace` of [`GEMM_WORKSPACE`] bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue(
        &self,
        exec: &Exec<'_>,
        a: u64,
        b: u64,
        c: Option<u64>,
        bias: Option<u64>,
        d: u64,
        workspace: u64,
    ) -> Result<(), CudaError> {
        let (m, n, k) = (self.m, self.n, self.k);
        let dt = cuda_type(self.dtype)?;
        // Row-major D[M,N] is column-major D^T[N,M] = op(B)^T op(A)^T: cuBLASLt's "A" is our
        // B and its "B" is our A.
        let (lt_a, op_a) = if self.trans_b {
            (Layout::new(dt, k, n, k, self.batch, self.stride_b)?, 1i32)
        } else {
            (Layout::new(dt, n, k, n, self.batch, self.stride_b)?, 0i32)
        };
        let (lt_b, op_b) = if self.trans_a {
            (Layout::new(dt, m, k, m, self.batch, self.stride_a)?, 1i32)
        } else {
            (Layout::new(dt, k, m, k, self.batch, self.stride_a)?, 0i32)
        };
        let lt_c = Layout::new(dt, n, m, n, self.batch, self.stride_c)?;
        let compute = if self.tf32 && self.dtype == DataType::F32 {
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32
        } else {
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F
        };
        let desc = Desc(
            lt::create_matmul_desc(compute, sys::cudaDataType_t::CUDA_R_32F)
                .map_err(|e| CudaError::blas("matmul descriptor", e))?,
        );
        use sys::cublasLtMatmulDescAttributes_t as A;
        desc.set(A::CUBLASLT_MATMUL_DESC_TRANSA, &op_a, "transa")?;
        desc.set(A::CUBLASLT_MATMUL_DESC_TRANSB, &op_b, "transb")?;
        let epilogue = match (bias, self.relu) {
            (Some(p), relu) => {
                desc.set(A::CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p, "bias pointer")?;
                if relu {
                    sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU_BIAS
                } else {
                    sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS
                }
            }
            (None, true) => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU,
            (None, false) => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_DEFAULT,
        };
        desc.set(A::CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, "epilogue")?;
        let pref = Pref(lt::create_matmul_pref().map_err(|e| CudaError::blas("preference", e))?);
        let ws = GEMM_WORKSPACE;
        // SAFETY: valid preference handle; the value is a usize as the attribute requires.
        unsafe {
            lt::set_matmul_pref_attribute(
                pref.0,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&ws) as *const usize as *const c_void,
                size_of::<usize>(),
            )
        }
        .map_err(|e| CudaError::blas("workspace preference", e))?;
        let blas = exec.gpu.blas();
        let handle = blas.0;
        let key: AlgoKey = (
            [
                m,
                n,
                k,
                self.trans_a as usize,
                self.trans_b as usize,
                self.batch,
                self.stride_a,
                self.stride_b,
                self.stride_c,
                self.dtype as usize,
            ],
            (epilogue as u32) * 4 + (self.tf32 as u32) * 2 + c.is_some() as u32,
        );
        let cached = blas
            .1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied();
        let algo = match cached {
            Some(a) => a,
            None => {
                // SAFETY: all descriptors are valid and describe the caller's buffers.
                let heur = unsafe {
                    lt::get_matmul_algo_heuristic(
                        handle, desc.0, lt_a.0, lt_b.0, lt_c.0, lt_c.0, pref.0,
                    )
                }
                .map_err(|e| {
                    CudaError::blas(
                        format!("no algorithm for GEMM {m}x{n}x{k} batch {}", self.batch),
                        e,
                    )
                })?;
                blas.1
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, heur.algo);
                heur.algo
            }
        };
        let alpha = self.alpha;
        let beta = if c.is_some() { self.beta } else { 0.0f32 };
        let c_ptr = c.unwrap_or(d);
        // SAFETY: the pointers address device buffers of the sizes the layouts describe (the
        // op checked the shapes); the workspace has GEMM_WORKSPACE bytes; the stream belongs
        // to the same context.
        unsafe {
            lt::matmul(
                handle,
                desc.0,
                (&alpha) as *const f32 as *const c_void,
                (&beta) as *const f32 as *const c_void,
                b as *const c_void,
                lt_a.0,
                a as *const c_void,
                lt_b.0,
                c_ptr as *const c_void,
                lt_c.0,
                d as *mut c_void,
                lt_c.0,
                (&algo) as *const _,
                workspace as *mut c_void,
                ws,
                exec.stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| CudaError::blas(format!("GEMM {m}x{n}x{k} batch {}", self.batch), e))
    }
}
