//! `simd` tactic of LayerNormalization on f32 (only the `Y` output): rows in parallel,
//! two passes per row (mean, then variance), scale and bias of the normalized shape.

use super::pool::sum_f32;
use crate::{RunContext, Tactic};
use kiln_core::ops::util::normalize_axis;
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// LayerNormalization with `Y` as its only requested output.
#[derive(Debug, Clone)]
pub struct LayerNormTactic {
    op: Arc<dyn Op>,
    axis: i64,
    epsilon: f32,
}

impl LayerNormTactic {
    /// The tactic for a LayerNormalization node that requests only `Y`.
    pub fn from_node(node: &Node) -> Option<LayerNormTactic> {
        if node.op_type() != "LayerNormalization"
            || node.outputs.iter().skip(1).any(|o| !o.is_empty())
        {
            return None;
        }
        Some(LayerNormTactic {
            op: node.op.clone(),
            axis: node.attrs.int_or("axis", -1).ok()?,
            epsilon: node.attrs.float_or("epsilon", 1e-5).ok()?,
        })
    }
}

/// The values of a scale/bias tensor when it has exactly `inner` elements laid out like the
/// normalized dims (leading 1s allowed).
fn params<'a>(t: &'a kiln_core::ndarray::ArrayD<f32>, norm: &[usize]) -> Option<&'a [f32]> {
    let s = t.shape();
    let lead = s.len().checked_sub(norm.len())?;
    if s[lead..] != *norm || s[..lead].iter().any(|&d| d != 1) {
        return None;
    }
    t.as_slice()
}

impl Tactic for LayerNormTactic {
    fn name(&self) -> &str {
        "simd"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f32_of = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(Some(a)),
            None | Some(None) => Some(None),
            _ => None,
        };
        if let (Some(Some(x)), Some(Some(scale)), Some(bias)) = (f32_of(0), f32_of(1), f32_of(2))
            && inputs.len() <= 3
            && x.ndim() > 0
            && let Ok(a) = normalize_axis(self.axis, x.ndim())
        {
            let norm = &x.shape()[a..];
            let inner: usize = norm.iter().product();
            let sc = params(scale, norm);
            let bi = match bias {
                Some(b) => params(b, norm).map(Some),
                None => Some(None),
            };
            let mut y = super::elementwise::owned_copy(x, ctx);
            if let (Some(sc), Some(bi), Some(data)) = (sc, bi, y.as_slice_mut())
                && inner > 0
            {
                let eps = self.epsilon;
                let rows_per = (8192 / inner).max(1);
                data.par_chunks_mut(rows_per * inner).for_each(|block| {
                    for row in block.chunks_mut(inner) {
                        let mean = sum_f32(row) / inner as f32;
                        let mut var_acc = [0f32; 8];
                        let chunks = row.chunks_exact(8);
                        let rest: f32 = chunks.remainder().iter().map(|v| (v - mean).powi(2)).sum();
                        for c in chunks {
                            for (acc, v) in var_acc.iter_mut().zip(c) {
                                *acc += (v - mean) * (v - mean);
                            }
                        }
                        let var = (var_acc.iter().sum::<f32>() + rest) / inner as f32;
                        let inv = 1.0 / (var + eps).sqrt();
                        match bi {
                            Some(b) => {
                                for ((v, s), b) in row.iter_mut().zip(sc).zip(b) {
                                    *v = (*v - mean) * inv * s + b;
                                }
                            }
                            None => {
                                for (v, s) in row.iter_mut().zip(sc) {
                                    *v = (*v - mean) * inv * s;
                                }
                            }
                        }
                    }
                });
                return Ok(vec![Value::Tensor(Tensor::F32(y))]);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
