//! 2-D convolution through cuDNN (NCHW, f32/f16/bf16 with f32 accumulation): descriptors
//! made and the algorithm chosen by timing on the device (`cudnnFindConvolutionForwardAlgorithm`)
//! on the first run, within the workspace limit; bias + ReLU (+ residual) fused with
//! `cudnnConvolutionBiasActivationForward`, other epilogues by the NVRTC bias/act kernel.
//! When cuDNN cannot run the layer (no algorithm, a library error at setup) the layer keeps
//! using its im2col + cuBLASLt fallback, with a warning naming it.

use super::conv::ConvLayer;
use super::elementwise::BiasAct;
use crate::cuda::cudnn::dnn_err;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use cudarc::cudnn::{result as dnn, sys};
use kiln_core::{DataType, Node};
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Default cuDNN workspace limit per convolution (bytes); `KILN_CUDNN_WORKSPACE_MB` changes it.
const DEFAULT_WORKSPACE: usize = 256 << 20;

/// The workspace limit of cuDNN convolutions.
fn workspace_limit() -> usize {
    std::env::var("KILN_CUDNN_WORKSPACE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(DEFAULT_WORKSPACE, |mb| mb << 20)
}

/// The cuDNN descriptors and the chosen algorithm of one layer.
#[derive(Debug)]
struct Plan {
    x: sys::cudnnTensorDescriptor_t,
    y: sys::cudnnTensorDescriptor_t,
    bias: sys::cudnnTensorDescriptor_t,
    w: sys::cudnnFilterDescriptor_t,
    conv: sys::cudnnConvolutionDescriptor_t,
    act: sys::cudnnActivationDescriptor_t,
    algo: sys::cudnnConvolutionFwdAlgo_t,
    ws_bytes: usize,
}

// SAFETY: descriptors are plain host objects, used under the layer's lock.
unsafe impl Send for Plan {}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: each descriptor was created once in `setup` (null ones are skipped) and is
        // destroyed once here.
        unsafe {
            if !self.x.is_null() {
                let _ = dnn::destroy_tensor_descriptor(self.x);
            }
            if !self.y.is_null() {
                let _ = dnn::destroy_tensor_descriptor(self.y);
            }
            if !self.bias.is_null() {
                let _ = dnn::destroy_tensor_descriptor(self.bias);
            }
            if !self.w.is_null() {
                let _ = dnn::destroy_filter_descriptor(self.w);
            }
            if !self.conv.is_null() {
                let _ = dnn::destroy_convolution_descriptor(self.conv);
            }
            if !self.act.is_null() {
                let _ = sys::cudnnDestroyActivationDescriptor(self.act);
            }
        }
    }
}

/// A convolution run by cuDNN, with the im2col path as fallback.
#[derive(Debug)]
pub struct CudnnConv {
    name: String,
    fallback: ConvLayer,
    limit: usize,
    /// Set up on the first run: `Err` = cuDNN cannot run it (the fallback does).
    state: Mutex<Option<Result<Plan, String>>>,
    /// cuDNN ran the layer successfully at least once.
    verified: AtomicBool,
}

fn data_type(dt: DataType) -> sys::cudnnDataType_t {
    match dt {
        DataType::F16 => sys::cudnnDataType_t::CUDNN_DATA_HALF,
        DataType::BF16 => sys::cudnnDataType_t::CUDNN_DATA_BFLOAT16,
        _ => sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
    }
}

impl CudnnConv {
    pub(super) fn new(node: &Node, fallback: ConvLayer) -> CudnnConv {
        CudnnConv {
            name: node.name.clone(),
            fallback,
            limit: workspace_limit(),
            state: Mutex::new(None),
            verified: AtomicBool::new(false),
        }
    }

    /// The epilogue runs inside cuDNN: bias + ReLU (+ residual).
    fn fused(&self) -> bool {
        self.fallback.has_bias && self.fallback.p.act == 1
    }

    fn math(&self) -> sys::cudnnMathType_t {
        use sys::cudnnMathType_t as M;
        match (self.fallback.dt, self.fallback.tf32()) {
            (DataType::F32, false) => M::CUDNN_FMA_MATH,
            (DataType::F32, true) => M::CUDNN_DEFAULT_MATH,
            _ => M::CUDNN_TENSOR_OP_MATH,
        }
    }

    fn setup(&self, ex: &Exec<'_>) -> Result<Plan, CudaError> {
        let p = self.fallback.p;
        let dt = data_type(self.fallback.dt);
        let i = |v: i64| -> Result<i32, CudaError> {
            i32::try_from(v).map_err(|_| CudaError::Unsupported("dimension over i32".into()))
        };
        let mut plan = Plan {
            x: dnn::create_tensor_descriptor().map_err(|e| dnn_err("tensor descriptor", e))?,
            y: std::ptr::null_mut(),
            bias: std::ptr::null_mut(),
            w: std::ptr::null_mut(),
            conv: std::ptr::null_mut(),
            act: std::ptr::null_mut(),
            algo: sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
            ws_bytes: 0,
        };
        plan.y = dnn::create_tensor_descriptor().map_err(|e| dnn_err("tensor descriptor", e))?;
        plan.bias = dnn::create_tensor_descriptor().map_err(|e| dnn_err("tensor descriptor", e))?;
        plan.w = dnn::create_filter_descriptor().map_err(|e| dnn_err("filter descriptor", e))?;
        plan.conv =
            dnn::create_convolution_descriptor().map_err(|e| dnn_err("conv descriptor", e))?;
        plan.act =
            dnn::create_activation_descriptor().map_err(|e| dnn_err("activation descriptor", e))?;
        let nchw = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
        let cg = p.c / p.groups as i64;
        // SAFETY: all descriptors were created above and are set once here.
        unsafe {
            dnn::set_tensor4d_descriptor(plan.x, nchw, dt, [i(p.n)?, i(p.c)?, i(p.h)?, i(p.w)?])
                .map_err(|e| dnn_err("input descriptor", e))?;
            dnn::set_tensor4d_descriptor(plan.y, nchw, dt, [i(p.n)?, i(p.m)?, i(p.oh)?, i(p.ow)?])
                .map_err(|e| dnn_err("output descriptor", e))?;
            dnn::set_tensor4d_descriptor(plan.bias, nchw, dt, [1, i(p.m)?, 1, 1])
                .map_err(|e| dnn_err("bias descriptor", e))?;
            dnn::set_filter4d_descriptor(plan.w, dt, nchw, [i(p.m)?, i(cg)?, p.kh, p.kw])
                .map_err(|e| dnn_err("filter descriptor", e))?;
            dnn::set_convolution2d_descriptor(
                plan.conv,
                p.ph,
                p.pw,
                p.sh,
                p.sw,
                p.dh,
                p.dw,
                sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
            )
            .map_err(|e| dnn_err("convolution descriptor", e))?;
            dnn::set_convolution_group_count(plan.conv, p.groups)
                .map_err(|e| dnn_err("group count", e))?;
            dnn::set_convolution_math_type(plan.conv, self.math())
                .map_err(|e| dnn_err("math type", e))?;
            dnn::set_activation_descriptor(
                plan.act,
                sys::cudnnActivationMode_t::CUDNN_ACTIVATION_RELU,
                sys::cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN,
                0.0,
            )
            .map_err(|e| dnn_err("activation descriptor", e))?;
        }
        let guard = ex
            .gpu
            .dnn()
            .lock(ex.stream.cu_stream() as sys::cudaStream_t)?;
        let handle = match guard.as_ref() {
            Some(Ok(h)) => h.0,
            _ => return Err(CudaError::Unsupported("cuDNN handle".into())),
        };
        const WANT: usize = 10;
        // SAFETY: plain-old-data result records, written by cuDNN.
        let mut perf: [sys::cudnnConvolutionFwdAlgoPerf_t; WANT] = unsafe { std::mem::zeroed() };
        let mut got = 0i32;
        // SAFETY: handle and descriptors are valid; `perf` holds WANT records.
        unsafe {
            sys::cudnnFindConvolutionForwardAlgorithm(
                handle,
                plan.x,
                plan.w,
                plan.conv,
                plan.y,
                WANT as i32,
                &mut got,
                perf.as_mut_ptr(),
            )
        }
        .result()
        .map_err(|e| dnn_err("cudnnFindConvolutionForwardAlgorithm", e))?;
        let ok: Vec<&sys::cudnnConvolutionFwdAlgoPerf_t> = perf
            [..got.clamp(0, WANT as i32) as usize]
            .iter()
            .filter(|r| {
                r.status == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS && r.memory <= self.limit
            })
            .collect();
        let strict = self.math() == sys::cudnnMathType_t::CUDNN_FMA_MATH;
        let best = ok
            .iter()
            .find(|r| !strict || r.mathType == sys::cudnnMathType_t::CUDNN_FMA_MATH)
            .ok_or_else(|| {
                CudaError::Unsupported(format!(
                    "no cuDNN algorithm within the {} MiB workspace limit",
                    self.limit >> 20
                ))
            })?;
        // SAFETY: valid descriptor; the math type is the one the algorithm was timed with.
        unsafe { dnn::set_convolution_math_type(plan.conv, best.mathType) }
            .map_err(|e| dnn_err("math type", e))?;
        plan.algo = best.algo;
        plan.ws_bytes = best.memory;
        tracing::debug!(layer = %self.name, algo = ?best.algo, ms = best.time, workspace = best.memory, math = ?best.mathType, "cuDNN algorithm chosen");
        Ok(plan)
    }

    fn run(
        &self,
        ex: &Exec<'_>,
        plan: &Plan,
        ins: &[Option<&DevTensor>],
        y: &DevTensor,
        ws: u64,
    ) -> Result<(), CudaError> {
        let get = |i: usize| ins.get(i).copied().flatten().map_or(0, |t| t.ptr);
        let (x, wt, bias, z) = (get(0), get(1), get(2), get(3));
        let guard = ex
            .gpu
            .dnn()
            .lock(ex.stream.cu_stream() as sys::cudaStream_t)?;
        let handle = match guard.as_ref() {
            Some(Ok(h)) => h.0,
            _ => return Err(CudaError::Unsupported("cuDNN handle".into())),
        };
        let (one, zero) = (1.0f32, 0.0f32);
        let a = |v: &f32| v as *const f32 as *const c_void;
        if self.fused() {
            let (alpha2, zp) = if z != 0 { (1.0f32, z) } else { (0.0f32, y.ptr) };
            // SAFETY: descriptors describe the arena buffers (shapes checked at build time);
            // the workspace has at least `ws_bytes` bytes (workspace_bytes); the handle is
            // bound to this context's stream and held under the device's lock.
            unsafe {
                dnn::convolution_bias_activation_forward(
                    handle,
                    a(&one),
                    plan.x,
                    x as *const c_void,
                    plan.w,
                    wt as *const c_void,
                    plan.conv,
                    plan.algo,
                    ws as *mut c_void,
                    plan.ws_bytes,
                    a(&alpha2),
                    plan.y,
                    zp as *const c_void,
                    plan.bias,
                    bias as *const c_void,
                    plan.act,
                    plan.y,
                    y.ptr as *mut c_void,
                )
            }
            .map_err(|e| dnn_err("cudnnConvolutionBiasActivationForward", e))?;
            return Ok(());
        }
        // SAFETY: as above.
        unsafe {
            dnn::convolution_forward(
                handle,
                a(&one),
                plan.x,
                x as *const c_void,
                plan.w,
                wt as *const c_void,
                plan.conv,
                plan.algo,
                ws as *mut c_void,
                plan.ws_bytes,
                a(&zero),
                plan.y,
                y.ptr as *mut c_void,
            )
        }
        .map_err(|e| dnn_err("cudnnConvolutionForward", e))?;
        drop(guard);
        let p = self.fallback.p;
        if bias != 0 || z != 0 || p.act != 0 {
            BiasAct {
                dt: self.fallback.dt,
                inner: (p.oh * p.ow) as usize,
                channels: p.m as usize,
                alpha: 1.0,
                bias_scale: 1.0,
                z_scale: 1.0,
                act: (p.act, p.act_a, p.act_b),
            }
            .launch(ex, y.ptr, bias, z, y.len())?;
        }
        Ok(())
    }
}

impl GpuLayer for CudnnConv {
    fn kernel(&self) -> &str {
        match self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(Err(_)) => self.fallback.kernel(),
            _ if self.fused() => "cudnn-conv-bias-relu",
            _ => "cudnn-conv",
        }
    }

    fn workspace_bytes(&self) -> usize {
        self.limit.max(self.fallback.workspace_bytes())
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        ws: u64,
    ) -> Result<(), CudaError> {
        let y = &outs[0];
        if y.is_empty() {
            return Ok(());
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.is_none() {
            let made = self.setup(ex).map_err(|e| e.to_string());
            if let Err(why) = &made {
                tracing::warn!(layer = %self.name, reason = %why, "cuDNN cannot run this convolution: im2col + cuBLASLt instead");
            }
            *st = Some(made);
        }
        let ran = match st.as_ref() {
            Some(Ok(plan)) => self.run(ex, plan, ins, y, ws),
            _ => {
                drop(st);
                return self.fallback.enqueue(ex, ins, outs, ws);
            }
        };
        match ran {
            Ok(()) => {
                self.verified.store(true, Ordering::Relaxed);
                Ok(())
            }
            // A configuration cuDNN accepted at setup but refuses to run: the fallback takes
            // over for good (only before the layer ever ran, so outputs never mix paths).
            Err(e) if !self.verified.load(Ordering::Relaxed) => {
                tracing::warn!(layer = %self.name, reason = %e, "cuDNN failed to run this convolution: im2col + cuBLASLt instead");
                *st = Some(Err(e.to_string()));
                drop(st);
                self.fallback.enqueue(ex, ins, outs, ws)
            }
            Err(e) => Err(e),
        }
    }
}
