//! `Attention` (the ONNX op the optimizer's attention fusion makes): 4-D Q, K, V
//! `[batch, heads, seq, head_size]` with the same number of heads, no mask, cache, causal
//! masking or softcap: `softmax(scale * Q K^T) V` as two strided-batched cuBLASLt GEMMs
//! around the NVRTC softmax, the scores in the layer's workspace.

use super::Ctx;
use crate::cuda::gemm::{GEMM_WORKSPACE, Gemm};
use crate::cuda::layer::launch;
use crate::cuda::memory::align_up;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use cudarc::driver::LaunchConfig;

/// Scaled dot-product attention of `bh` (batch x heads) independent heads.
#[derive(Debug)]
pub struct AttentionLayer {
    dt: kiln_core::DataType,
    tf32: bool,
    bh: usize,
    sq: usize,
    skv: usize,
    d: usize,
    dv: usize,
    scale: f32,
}

pub(crate) fn attention(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    if c.inputs.len() > 3 || c.outputs.len() != 1 {
        return None;
    }
    let attrs = &c.node.attrs;
    if attrs.int_or("is_causal", 0).ok()? != 0
        || attrs.float_or("softcap", 0.0).ok()? != 0.0
        || attrs.int_or("qk_matmul_output_mode", 0).ok()? != 0
    {
        return None;
    }
    let (q, k, v) = (&c.input(0)?.shape, &c.input(1)?.shape, &c.input(2)?.shape);
    if q.len() != 4 || k.len() != 4 || v.len() != 4 {
        return None;
    }
    if q[0] != k[0] || q[0] != v[0] || q[1] != k[1] || q[1] != v[1] || q[3] != k[3] || k[2] != v[2]
    {
        return None;
    }
    let (bh, sq, skv, d, dv) = (q[0] * q[1], q[2], k[2], q[3], v[3]);
    if c.outputs[0].shape != [q[0], q[1], sq, dv] || d == 0 || skv == 0 {
        return None;
    }
    let scale = match attrs.float("scale").ok()? {
        Some(s) => s,
        None => 1.0 / (d as f32).sqrt(),
    };
    Some(Box::new(AttentionLayer {
        dt,
        tf32: c.opts.tf32,
        bh,
        sq,
        skv,
        d,
        dv,
        scale,
    }))
}

impl AttentionLayer {
    fn scores_bytes(&self) -> usize {
        align_up(self.bh * self.sq * self.skv * self.dt.size_of().unwrap_or(4))
    }
}

impl GpuLayer for AttentionLayer {
    fn kernel(&self) -> &str {
        "cublaslt-gemm+nvrtc-softmax+cublaslt-gemm"
    }

    fn workspace_bytes(&self) -> usize {
        self.scores_bytes() + GEMM_WORKSPACE
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        ws: u64,
    ) -> Result<(), CudaError> {
        let get = |i: usize| {
            ins.get(i)
                .copied()
                .flatten()
                .map(|t| t.ptr)
                .ok_or_else(|| CudaError::Unsupported("missing input".into()))
        };
        let (q, k, v) = (get(0)?, get(1)?, get(2)?);
        if outs[0].is_empty() {
            return Ok(());
        }
        let scores = ws;
        let gemm_ws = ws + self.scores_bytes() as u64;
        let (bh, sq, skv, d, dv) = (self.bh, self.sq, self.skv, self.d, self.dv);
        let qk = Gemm {
            m: sq,
            n: skv,
            k: d,
            trans_a: false,
            trans_b: true,
            batch: bh,
            stride_a: sq * d,
            stride_b: skv * d,
            stride_c: sq * skv,
            alpha: self.scale,
            beta: 0.0,
            relu: false,
            tf32: self.tf32,
            dtype: self.dt,
        };
        qk.enqueue(ex, q, k, None, None, scores, gemm_ws)?;
        let rows = bh * sq;
        let threads = if skv >= 1024 {
            1024
        } else {
            skv.next_power_of_two().clamp(32, 1024)
        } as u32;
        let cfg = LaunchConfig {
            grid_dim: (rows as u32, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let f = ex.function_t("softmax", "kiln_softmax", self.dt)?;
        let (r, cl, log) = (rows as i64, skv as i64, 0i32);
        launch!(ex, &f, cfg, "kiln_softmax"; &scores, &scores, &r, &cl, &log)?;
        let pv = Gemm {
            m: sq,
            n: dv,
            k: skv,
            trans_a: false,
            trans_b: false,
            batch: bh,
            stride_a: sq * skv,
            stride_b: skv * dv,
            stride_c: sq * dv,
            alpha: 1.0,
            beta: 0.0,
            relu: false,
            tf32: self.tf32,
            dtype: self.dt,
        };
        pv.enqueue(ex, scores, v, None, None, outs[0].ptr, gemm_ws)
    }
}
