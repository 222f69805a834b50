//! MatMul, Gemm and FusedMatMul on cuBLASLt, with the bias (+ReLU) epilogue fused in the
//! GEMM when it fits and the `kiln_bias_act_f32` epilogue otherwise.

use super::Ctx;
use super::elementwise::{BiasAct, act_code};
use crate::cuda::gemm::{GEMM_WORKSPACE, Gemm};
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use kiln_core::ops::fused::Activation;

/// How the bias and residual reach the output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bias {
    None,
    /// Input `i` is an N-vector added by the GEMM epilogue.
    Epilogue(usize),
    /// Input `i` is an N-vector added by the bias/act kernel scaled by `scale`.
    Kernel(usize, f32),
}

/// A GEMM layer: product, optional C input (beta), bias and activation.
#[derive(Debug)]
pub struct GemmLayer {
    gemm: Gemm,
    /// Input index of A and B.
    a: usize,
    b: usize,
    /// Input index of an output-shaped C added with `gemm.beta`.
    c: Option<usize>,
    bias: Bias,
    /// Activation applied by the epilogue kernel (None when fused in the GEMM or absent).
    post: Option<(i32, f32, f32)>,
}

/// Batch layout of a row-major `A[..., M, K] @ B[..., K, N]`: (batch, stride_a, stride_b,
/// m) or `None` when the broadcast is not a supported one.
fn batching(
    a: &[usize],
    b: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Option<(usize, usize, usize, usize)> {
    let (ra, rb) = (a.len(), b.len());
    if ra < 2 || rb < 2 {
        return None;
    }
    let la: usize = a[..ra - 2].iter().product();
    let lb: usize = b[..rb - 2].iter().product();
    if lb == 1 {
        // Shared weight: fold A's batch into M.
        return Some((1, 0, 0, la * m));
    }
    if la == 1 {
        return Some((lb, 0, k * n, m));
    }
    if a[..ra - 2] == b[..rb - 2] {
        return Some((la, m * k, k * n, m));
    }
    None
}

fn is_vector_of(shape: &[usize], n: usize) -> bool {
    shape.last() == Some(&n) && shape.iter().rev().skip(1).all(|&d| d == 1)
}

fn build(
    c: &Ctx<'_>,
    trans_b: bool,
    alpha: f32,
    act: Activation,
    bias_in: Option<usize>,
    z_in: Option<usize>,
) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let (a, b) = (&c.input(0)?.shape, &c.input(1)?.shape);
    let (ra, rb) = (a.len(), b.len());
    if ra < 2 || rb < 2 {
        return None;
    }
    let (m, k) = (a[ra - 2], a[ra - 1]);
    let (kb, n) = if trans_b {
        (b[rb - 1], b[rb - 2])
    } else {
        (b[rb - 2], b[rb - 1])
    };
    if k != kb {
        return None;
    }
    let (batch, stride_a, stride_b, m_eff) = batching(a, b, m, k, n)?;
    let out = &c.outputs.first()?.shape;
    if out.iter().product::<usize>() != batch * m_eff * n {
        return None;
    }
    let code = act_code(&act)?;
    let bias_vec = bias_in.and_then(|i| c.input(i).map(|s| (i, s)));
    if let Some((_, s)) = bias_vec {
        if !is_vector_of(&s.shape, n) {
            return None;
        }
    }
    let z = z_in.and_then(|i| c.input(i).map(|s| (i, s)));
    if let Some((_, s)) = z {
        if s.shape != *out {
            return None;
        }
    }
    let fuse_act = matches!(act, Activation::None | Activation::Relu);
    let bias = match bias_vec {
        Some((i, _)) if fuse_act => Bias::Epilogue(i),
        Some((i, _)) => Bias::Kernel(i, 1.0),
        None => Bias::None,
    };
    let post = (!fuse_act).then_some(code);
    Some(Box::new(GemmLayer {
        gemm: Gemm {
            m: m_eff,
            n,
            k,
            trans_a: false,
            trans_b,
            batch,
            stride_a,
            stride_b,
            stride_c: m_eff * n,
            alpha,
            beta: 1.0,
            relu: fuse_act && act == Activation::Relu,
            tf32: c.opts.tf32,
            dtype: dt,
        },
        a: 0,
        b: 1,
        c: z.map(|(i, _)| i),
        bias,
        post,
    }))
}

pub(crate) fn matmul(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    build(c, false, 1.0, Activation::None, None, None)
}

pub(crate) fn fused_matmul(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let attrs = &c.node.attrs;
    let alpha = attrs.float_or("alpha", 1.0).ok()?;
    let trans_b = attrs.int_or("trans_b", 0).ok()? == 1;
    let act = Activation::from_attrs(attrs).ok()?;
    build(c, trans_b, alpha, act, Some(2), Some(3))
}

pub(crate) fn gemm(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let attrs = &c.node.attrs;
    let alpha = attrs.float_or("alpha", 1.0).ok()?;
    let beta = attrs.float_or("beta", 1.0).ok()?;
    let ta = attrs.int_or("transA", 0).ok()? == 1;
    let tb = attrs.int_or("transB", 0).ok()? == 1;
    let (a, b) = (&c.input(0)?.shape, &c.input(1)?.shape);
    if a.len() != 2 || b.len() != 2 {
        return None;
    }
    let (m, k) = if ta { (a[1], a[0]) } else { (a[0], a[1]) };
    let (kb, n) = if tb { (b[1], b[0]) } else { (b[0], b[1]) };
    if k != kb || c.outputs.first()?.shape != [m, n] {
        return None;
    }
    let (cin, bias) = match c.input(2) {
        None => (None, Bias::None),
        Some(s) if s.shape == [m, n] => (Some(2), Bias::None),
        Some(s) if is_vector_of(&s.shape, n) && (m > 1 || s.shape.len() <= 1) => {
            if beta == 1.0 {
                (None, Bias::Epilogue(2))
            } else {
                (None, Bias::Kernel(2, beta))
            }
        }
        Some(_) => return None,
    };
    Some(Box::new(GemmLayer {
        gemm: Gemm {
            m,
            n,
            k,
            trans_a: ta,
            trans_b: tb,
            batch: 1,
            stride_a: 0,
            stride_b: 0,
            stride_c: 0,
            alpha,
            beta,
            relu: false,
            tf32: c.opts.tf32,
            dtype: dt,
        },
        a: 0,
        b: 1,
        c: cin,
        bias,
        post: None,
    }))
}

impl GpuLayer for GemmLayer {
    fn kernel(&self) -> &str {
        if self.post.is_some() || matches!(self.bias, Bias::Kernel(..)) {
            "cublaslt-gemm+nvrtc-epilogue"
        } else {
            "cublaslt-gemm"
        }
    }

    fn workspace_bytes(&self) -> usize {
        GEMM_WORKSPACE
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        ws: u64,
    ) -> Result<(), CudaError> {
        let get = |i: usize| ins.get(i).copied().flatten().map(|t| t.ptr);
        let missing = || CudaError::Unsupported("GEMM input missing".into());
        let (a, b) = (
            get(self.a).ok_or_else(missing)?,
            get(self.b).ok_or_else(missing)?,
        );
        let y = &outs[0];
        if y.is_empty() {
            return Ok(());
        }
        if self.gemm.k == 0 {
            return Err(CudaError::Unsupported(
                "GEMM with K = 0 runs on the CPU".into(),
            ));
        }
        let c = self.c.and_then(get);
        let epi_bias = match self.bias {
            Bias::Epilogue(i) => get(i),
            _ => None,
        };
        self.gemm.enqueue(ex, a, b, c, epi_bias, y.ptr, ws)?;
        let kernel_bias = match self.bias {
            Bias::Kernel(i, s) => get(i).map(|p| (p, s)),
            _ => None,
        };
        if self.post.is_some() || kernel_bias.is_some() {
            let epi = BiasAct {
                dt: self.gemm.dtype,
                inner: 1,
                channels: self.gemm.n,
                alpha: 1.0,
                bias_scale: kernel_bias.map_or(0.0, |(_, s)| s),
                z_scale: 0.0,
                act: self.post.unwrap_or((0, 0.0, 0.0)),
            };
            epi.launch(ex, y.ptr, kernel_bias.map_or(0, |(p, _)| p), 0, y.len())?;
        }
        Ok(())
    }
}
