//! 2-D convolution (Conv, FusedConv) of NCHW f32/f16/bf16 tensors. With cuDNN present the
//! layer is a [`CudnnConv`](super::conv_cudnn::CudnnConv) (algorithm found by timing, bias +
//! ReLU + residual fused) that keeps this file's path as its fallback: im2col (`conv.cu`) +
//! cuBLASLt GEMM for one group, then the bias/residual/activation epilogue; grouped and
//! depthwise convolutions use the direct kernel with the epilogue fused.

use super::Ctx;
use super::elementwise::{BiasAct, act_code};
use crate::cuda::gemm::{GEMM_WORKSPACE, Gemm};
use crate::cuda::layer::grid_for;
use crate::cuda::layer::launch;
use crate::cuda::memory::align_up;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use kiln_core::DataType;
use kiln_core::ops::fused::Activation;

/// Bytes of im2col columns per chunk of images (more images are processed in chunks).
const COL_BUDGET: usize = 128 << 20;

/// `ConvParams` of `conv.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct ConvParams {
    pub n: i64,
    pub c: i64,
    pub h: i64,
    pub w: i64,
    pub m: i64,
    pub oh: i64,
    pub ow: i64,
    pub kh: i32,
    pub kw: i32,
    pub sh: i32,
    pub sw: i32,
    pub ph: i32,
    pub pw: i32,
    pub dh: i32,
    pub dw: i32,
    pub groups: i32,
    pub act: i32,
    pub act_a: f32,
    pub act_b: f32,
}

// SAFETY: plain old data with the layout of `struct ConvParams` in conv.cu.
unsafe impl cudarc::driver::DeviceRepr for ConvParams {}

/// A 2-D convolution with its epilogue.
#[derive(Debug)]
pub struct ConvLayer {
    pub(super) dt: DataType,
    tf32: bool,
    pub(super) p: ConvParams,
    /// Images per im2col chunk (0: direct kernel).
    chunk: usize,
    /// 1x1, stride 1, no padding: the input is its own im2col matrix.
    pointwise: bool,
    pub(super) has_bias: bool,
    pub(super) has_z: bool,
}

pub(crate) fn conv(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let attrs = &c.node.attrs;
    // NHWC layers (a CPU plan's layout, re-tuned for the GPU) keep their CPU tactic.
    if attrs.string_or("layout", "NCHW".into()).ok()? != "NCHW" {
        return None;
    }
    let act = if c.node.op_type() == "FusedConv" {
        Activation::from_attrs(attrs).ok()?
    } else {
        Activation::None
    };
    let (act, act_a, act_b) = act_code(&act)?;
    let x = &c.input(0)?.shape;
    let wt = &c.input(1)?.shape;
    let y = &c.outputs.first()?.shape;
    if x.len() != 4 || wt.len() != 4 || y.len() != 4 {
        return None;
    }
    match attrs.string_or("auto_pad", "NOTSET".into()).ok()?.as_str() {
        "NOTSET" | "VALID" => {}
        _ => return None,
    }
    let ints = |n: &str, d: Vec<i64>| attrs.ints_or(n, d).ok();
    let strides = ints("strides", vec![1, 1])?;
    let dil = ints("dilations", vec![1, 1])?;
    let pads = ints("pads", vec![0, 0, 0, 0])?;
    let groups = attrs.int_or("group", 1).ok()?;
    if strides.len() != 2 || dil.len() != 2 || pads.len() != 4 || groups < 1 {
        return None;
    }
    let (n, ch, h, w) = (x[0], x[1], x[2], x[3]);
    let (m, kh, kw) = (wt[0], wt[2], wt[3]);
    let g = groups as usize;
    if ch % g != 0 || m % g != 0 || wt[1] * g != ch || y[0] != n || y[1] != m {
        return None;
    }
    let has_bias = c.input(2).is_some_and(|s| s.shape == [m]);
    if c.input(2).is_some() && !has_bias {
        return None;
    }
    let has_z = c.input(3).is_some();
    if has_z && c.input(3)?.shape != *y {
        return None;
    }
    let p = ConvParams {
        n: n as i64,
        c: ch as i64,
        h: h as i64,
        w: w as i64,
        m: m as i64,
        oh: y[2] as i64,
        ow: y[3] as i64,
        kh: kh as i32,
        kw: kw as i32,
        sh: strides[0] as i32,
        sw: strides[1] as i32,
        ph: pads[0] as i32,
        pw: pads[1] as i32,
        dh: dil[0] as i32,
        dw: dil[1] as i32,
        groups: groups as i32,
        act,
        act_a,
        act_b,
    };
    let pointwise = g == 1
        && kh == 1
        && kw == 1
        && p.sh == 1
        && p.sw == 1
        && pads.iter().all(|&v| v == 0)
        && y[2] == h
        && y[3] == w;
    let elem = dt.size_of()?;
    let col_per_image = ch * kh * kw * y[2] * y[3] * elem;
    let chunk = if g == 1 {
        (COL_BUDGET / col_per_image.max(1)).clamp(1, n.max(1))
    } else {
        0
    };
    let layer = ConvLayer {
        dt,
        tf32: c.opts.tf32,
        p,
        chunk,
        pointwise,
        has_bias,
        has_z,
    };
    let symmetric = pads[0] == pads[2] && pads[1] == pads[3];
    if symmetric && crate::cuda::cudnn_usable() {
        return Some(Box::new(super::conv_cudnn::CudnnConv::new(c.node, layer)));
    }
    Some(Box::new(layer))
}

impl ConvLayer {
    /// FP32 convolutions may use TF32.
    pub(super) fn tf32(&self) -> bool {
        self.tf32
    }

    fn elem(&self) -> usize {
        self.dt.size_of().unwrap_or(4)
    }

    fn col_bytes(&self) -> usize {
        if self.chunk == 0 || self.pointwise {
            return 0;
        }
        let p = &self.p;
        align_up(
            self.chunk
                * (p.c as usize)
                * (p.kh * p.kw) as usize
                * (p.oh * p.ow) as usize
                * self.elem(),
        )
    }
}

impl GpuLayer for ConvLayer {
    fn kernel(&self) -> &str {
        match (self.chunk, self.pointwise) {
            (0, _) => "nvrtc-conv-direct",
            (_, true) => "cublaslt-conv1x1",
            _ => "nvrtc-im2col+cublaslt-gemm",
        }
    }

    fn workspace_bytes(&self) -> usize {
        if self.chunk == 0 {
            0
        } else {
            self.col_bytes() + GEMM_WORKSPACE
        }
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        ws: u64,
    ) -> Result<(), CudaError> {
        let get = |i: usize| ins.get(i).copied().flatten().map_or(0, |t| t.ptr);
        let (x, wt, bias, z) = (get(0), get(1), get(2), get(3));
        let y = &outs[0];
        if y.is_empty() {
            return Ok(());
        }
        let p = self.p;
        if self.chunk == 0 {
            let f = ex.function_t("conv", "kiln_conv2d_direct", self.dt)?;
            return launch!(ex, &f, grid_for(y.len()), "kiln_conv2d_direct"; &x, &wt, &bias, &z, &y.ptr, &p);
        }
        let (k, pix, m) = (
            (p.c * p.kh as i64 * p.kw as i64) as usize,
            (p.oh * p.ow) as usize,
            p.m as usize,
        );
        let col = ws;
        let gemm_ws = ws + self.col_bytes() as u64;
        let n = p.n as usize;
        let mut first = 0usize;
        while first < n {
            let count = self.chunk.min(n - first);
            let b_ptr = if self.pointwise {
                x + (first * k * pix * self.elem()) as u64
            } else {
                let f = ex.function_t("conv", "kiln_im2col", self.dt)?;
                let (f64_, c64) = (first as i64, count as i64);
                launch!(ex, &f, grid_for(count * k * pix), "kiln_im2col"; &x, &col, &p, &f64_, &c64)?;
                col
            };
            let gemm = Gemm {
                m,
                n: pix,
                k,
                trans_a: false,
                trans_b: false,
                batch: count,
                stride_a: 0,
                stride_b: k * pix,
                stride_c: m * pix,
                alpha: 1.0,
                beta: 0.0,
                relu: false,
                tf32: self.tf32,
                dtype: self.dt,
            };
            gemm.enqueue(
                ex,
                wt,
                b_ptr,
                None,
                None,
                y.ptr + (first * m * pix * self.elem()) as u64,
                gemm_ws,
            )?;
            first += count;
        }
        if self.has_bias || self.has_z || p.act != 0 {
            BiasAct {
                dt: self.dt,
                inner: pix,
                channels: m,
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
