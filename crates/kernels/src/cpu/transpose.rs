//! `strided` tactic of Transpose on f32: output rows in parallel, each gathered from the
//! input with the stride of the axis that lands last (a copy when that stride is 1).

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Transpose with an explicit or default (reversing) permutation.
#[derive(Debug, Clone)]
pub struct TransposeTactic {
    op: Arc<dyn Op>,
    perm: Option<Vec<usize>>,
}

impl TransposeTactic {
    /// The tactic for a Transpose node.
    pub fn from_node(node: &Node) -> Option<TransposeTactic> {
        let perm = match node.attrs.ints("perm").ok()? {
            Some(p) => Some(
                p.iter()
                    .map(|&v| usize::try_from(v).ok())
                    .collect::<Option<Vec<_>>>()?,
            ),
            None => None,
        };
        Some(TransposeTactic {
            op: node.op.clone(),
            perm,
        })
    }

    fn compute(&self, x: &ArrayD<f32>, ctx: &RunContext<'_>) -> Option<ArrayD<f32>> {
        let rank = x.ndim();
        let perm: Vec<usize> = match &self.perm {
            Some(p) => p.clone(),
            None => (0..rank).rev().collect(),
        };
        let mut seen = vec![false; rank];
        if perm.len() != rank || rank == 0 || perm.iter().any(|&p| p >= rank || seen[p]) {
            return None;
        }
        for &p in &perm {
            seen[p] = true;
        }
        let x_std = x.as_standard_layout();
        let xd = x_std.as_slice()?;
        let shape = x.shape();
        let mut in_strides = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            in_strides[d] = in_strides[d + 1] * shape[d + 1];
        }
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
        let n: usize = out_shape.iter().product();
        let row = out_shape[rank - 1];
        let mut out = ctx.alloc_f32(n);
        if n > 0 && row > 0 {
            let step = strides[rank - 1];
            let rows_per = (4096 / row).max(1);
            out.par_chunks_mut(rows_per * row)
                .enumerate()
                .for_each(|(ci, block)| {
                    for (ri, dst) in block.chunks_mut(row).enumerate() {
                        let mut r = ci * rows_per + ri;
                        let mut base = 0;
                        for d in (0..rank - 1).rev() {
                            base += (r % out_shape[d]) * strides[d];
                            r /= out_shape[d];
                        }
                        if step == 1 {
                            dst.copy_from_slice(&xd[base..base + row]);
                        } else {
                            for (o, v) in dst.iter_mut().zip(xd[base..].iter().step_by(step)) {
                                *o = *v;
                            }
                        }
                    }
                });
        }
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).ok()
    }
}

impl Tactic for TransposeTactic {
    fn name(&self) -> &str {
        "strided"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [Some(Value::Tensor(Tensor::F32(x)))] = inputs
            && let Some(y) = self.compute(x, ctx)
        {
            return Ok(vec![Value::Tensor(Tensor::F32(y))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
