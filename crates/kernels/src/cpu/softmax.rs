//! `simd` tactic of Softmax / LogSoftmax on f32: rows of the reduced axis in parallel (the
//! axis may sit anywhere: lanes are strided by the product of the dims after it).

use crate::{RunContext, Tactic};
use kiln_core::ops::util::normalize_axis;
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Softmax or LogSoftmax over one axis.
#[derive(Debug, Clone)]
pub struct SoftmaxTactic {
    op: Arc<dyn Op>,
    axis: i64,
    log: bool,
}

impl SoftmaxTactic {
    /// The tactic for a Softmax / LogSoftmax node.
    pub fn from_node(node: &Node) -> Option<SoftmaxTactic> {
        let log = match node.op_type() {
            "Softmax" => false,
            "LogSoftmax" => true,
            _ => return None,
        };
        Some(SoftmaxTactic {
            op: node.op.clone(),
            axis: node.attrs.int_or("axis", -1).ok()?,
            log,
        })
    }
}

/// Softmax of one contiguous lane in place.
pub(crate) fn softmax_lane(xs: &mut [f32], log: bool) {
    let max = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if log {
        let sum: f32 = xs.iter().map(|&x| (x - max).exp()).sum();
        let lse = max + sum.ln();
        xs.iter_mut().for_each(|x| *x -= lse);
    } else {
        let sum = super::fastmath::exp_shift_sum(xs, max);
        let inv = 1.0 / sum;
        xs.iter_mut().for_each(|x| *x *= inv);
    }
}

impl Tactic for SoftmaxTactic {
    fn name(&self) -> &str {
        "simd"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [Some(Value::Tensor(Tensor::F32(x)))] = inputs
            && x.ndim() > 0
            && let Ok(axis) = normalize_axis(self.axis, x.ndim())
        {
            let shape = x.shape();
            let len = shape[axis];
            let inner: usize = shape[axis + 1..].iter().product();
            let mut y = super::elementwise::owned_copy(x, ctx);
            if let Some(data) = y.as_slice_mut()
                && len > 0
                && !data.is_empty()
            {
                let log = self.log;
                if inner == 1 {
                    data.par_chunks_mut(len)
                        .for_each(|lane| softmax_lane(lane, log));
                } else {
                    data.par_chunks_mut(len * inner).for_each(|block| {
                        let mut lane = vec![0f32; len];
                        for j in 0..inner {
                            for (i, v) in lane.iter_mut().enumerate() {
                                *v = block[i * inner + j];
                            }
                            softmax_lane(&mut lane, log);
                            for (i, v) in lane.iter().enumerate() {
                                block[i * inner + j] = *v;
                            }
                        }
                    });
                }
                return Ok(vec![Value::Tensor(Tensor::F32(y))]);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
