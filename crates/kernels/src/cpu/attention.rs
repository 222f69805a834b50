//! `gemm` tactic of Attention (f32, 3-D or 4-D Q/K/V, optional float or bool mask that
//! broadcasts to `[batch, heads, q_len, kv_len]`, causal, grouped-query heads; no KV cache,
//! softcap or diagnostic outputs): one task per (batch, head) computes `Q K^T` with a GEMM,
//! masks, softmaxes and multiplies by `V` with a second GEMM, reading heads in place through
//! strides (no transposes).

use super::sgemm::{Par, sgemm_raw};
use super::softmax::softmax_lane;
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Fast Attention for the plain encoder case.
#[derive(Debug, Clone)]
pub struct AttentionTactic {
    op: Arc<dyn Op>,
    causal: bool,
    q_heads: Option<usize>,
    kv_heads: Option<usize>,
    scale: Option<f32>,
}

impl AttentionTactic {
    /// The tactic for an Attention node this kernel handles (only `Y` requested, no
    /// softcap, default `qk_matmul_output_mode`).
    pub fn from_node(node: &Node) -> Option<AttentionTactic> {
        let a = &node.attrs;
        if node.op_type() != "Attention"
            || node.outputs.iter().skip(1).any(|o| !o.is_empty())
            || a.float_or("softcap", 0.0).ok()? != 0.0
            || a.int_or("qk_matmul_output_mode", 0).ok()? != 0
        {
            return None;
        }
        let heads = |n: &str| a.int(n).ok().map(|v| v.map(|v| v.max(1) as usize));
        Some(AttentionTactic {
            op: node.op.clone(),
            causal: a.int_or("is_causal", 0).ok()? == 1,
            q_heads: heads("q_num_heads")?,
            kv_heads: heads("kv_num_heads")?,
            scale: a.float("scale").ok()?,
        })
    }
}

/// Where the heads of one operand lie: base of (batch b, head h) and the row stride.
#[derive(Clone, Copy, Debug)]
struct HeadLayout {
    heads: usize,
    seq: usize,
    size: usize,
    four_d: bool,
}

impl HeadLayout {
    fn of(shape: &[usize], heads: Option<usize>) -> Option<HeadLayout> {
        match *shape {
            [_, h, seq, size] => Some(HeadLayout {
                heads: h,
                seq,
                size,
                four_d: true,
            }),
            [_, seq, hidden] => {
                let h = heads?;
                (hidden % h == 0).then_some(HeadLayout {
                    heads: h,
                    seq,
                    size: hidden / h,
                    four_d: false,
                })
            }
            _ => None,
        }
    }

    fn base(&self, b: usize, h: usize) -> usize {
        if self.four_d {
            ((b * self.heads + h) * self.seq) * self.size
        } else {
            b * self.seq * self.heads * self.size + h * self.size
        }
    }

    fn row_stride(&self) -> usize {
        if self.four_d {
            self.size
        } else {
            self.heads * self.size
        }
    }
}

/// A raw output pointer shared by tasks writing disjoint heads.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: each task writes only the rows of its own (batch, head) block of one live buffer.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

impl AttentionTactic {
    fn compute(
        &self,
        q: &ArrayD<f32>,
        k: &ArrayD<f32>,
        v: &ArrayD<f32>,
        mask: Option<&Tensor>,
        ctx: &RunContext<'_>,
    ) -> Option<ArrayD<f32>> {
        if q.ndim() != k.ndim() || q.ndim() != v.ndim() {
            return None;
        }
        let batch = q.shape()[0];
        if k.shape()[0] != batch || v.shape()[0] != batch {
            return None;
        }
        let lq = HeadLayout::of(q.shape(), self.q_heads)?;
        let lk = HeadLayout::of(k.shape(), self.kv_heads)?;
        let lv = HeadLayout::of(v.shape(), self.kv_heads)?;
        if lk.size != lq.size || lk.heads != lv.heads || lk.seq != lv.seq || lk.heads == 0 {
            return None;
        }
        if lq.heads % lk.heads != 0 {
            return None;
        }
        let (sq, sk, d, dv) = (lq.seq, lk.seq, lq.size, lv.size);
        let group = lq.heads / lk.heads;
        let full = [batch, lq.heads, sq, sk];
        let float_mask: Option<ArrayD<f32>>;
        let mask_view: Option<ArrayViewD<'_, f32>> = match mask {
            None => None,
            Some(Tensor::F32(m)) => Some(m.broadcast(IxDyn(&full))?),
            Some(Tensor::Bool(m)) => {
                float_mask = Some(m.mapv(|b| if b { 0.0 } else { f32::NEG_INFINITY }));
                Some(float_mask.as_ref()?.broadcast(IxDyn(&full))?)
            }
            Some(_) => return None,
        };
        let (q_std, k_std, v_std) = (
            q.as_standard_layout(),
            k.as_standard_layout(),
            v.as_standard_layout(),
        );
        let (qd, kd, vd) = (q_std.as_slice()?, k_std.as_slice()?, v_std.as_slice()?);
        let scale = self.scale.unwrap_or(1.0 / (d as f32).sqrt());
        let ly = HeadLayout {
            heads: lq.heads,
            seq: sq,
            size: dv,
            four_d: lq.four_d,
        };
        let mut y = ctx.alloc_f32(batch * lq.heads * sq * dv);
        let y_ptr = OutPtr(y.as_mut_ptr());
        let causal = self.causal;
        (0..batch * lq.heads).into_par_iter().for_each_init(
            || vec![0f32; sq * sk],
            |scores, bh| {
                let (b, h) = (bh / lq.heads, bh % lq.heads);
                let kh = h / group;
                let (qb, kb, vb) = (lq.base(b, h), lk.base(b, kh), lv.base(b, kh));
                // SAFETY: Q's head block (sq rows of d at stride row_stride) lies in `qd`,
                // K's (sk rows of d) in `kd`, as their shapes were checked above; `scores`
                // is this task's own sq x sk buffer.
                unsafe {
                    sgemm_raw(
                        sq,
                        sk,
                        d,
                        scale,
                        qd[qb..].as_ptr(),
                        lq.row_stride() as isize,
                        1,
                        kd[kb..].as_ptr(),
                        1,
                        lk.row_stride() as isize,
                        false,
                        scores.as_mut_ptr(),
                        sk as isize,
                        Par::Seq,
                    );
                }
                let mask_bh = mask_view
                    .as_ref()
                    .map(|m| m.index_axis(Axis(0), b).index_axis_move(Axis(0), h));
                for (i, row) in scores.chunks_mut(sk.max(1)).enumerate() {
                    if let Some(m) = &mask_bh {
                        row.iter_mut()
                            .zip(m.index_axis(Axis(0), i).iter())
                            .for_each(|(s, mv)| *s += mv);
                    }
                    if causal {
                        row.iter_mut()
                            .skip(i + 1)
                            .for_each(|s| *s = f32::NEG_INFINITY);
                    }
                    softmax_lane(row, false);
                }
                // SAFETY: V's head block (sk rows of dv) lies in `vd`; the destination is
                // this task's (b, h) block of `y` (sq rows of dv at the output's row
                // stride), written by no other task.
                unsafe {
                    sgemm_raw(
                        sq,
                        dv,
                        sk,
                        1.0,
                        scores.as_ptr(),
                        sk as isize,
                        1,
                        vd[vb..].as_ptr(),
                        lv.row_stride() as isize,
                        1,
                        false,
                        y_ptr.get().add(ly.base(b, h)),
                        ly.row_stride() as isize,
                        Par::Seq,
                    );
                }
            },
        );
        let shape = if lq.four_d {
            vec![batch, lq.heads, sq, dv]
        } else {
            vec![batch, sq, lq.heads * dv]
        };
        ArrayD::from_shape_vec(IxDyn(&shape), y).ok()
    }
}

impl Tactic for AttentionTactic {
    fn name(&self) -> &str {
        "gemm"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let t = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(t))) => Some(t),
            _ => None,
        };
        if let (Some(Tensor::F32(q)), Some(Tensor::F32(k)), Some(Tensor::F32(v))) =
            (t(0), t(1), t(2))
            && inputs.len() <= 4
            && let Some(y) = self.compute(q, k, v, t(3), ctx)
        {
            return Ok(vec![Value::Tensor(Tensor::F32(y))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
