//! `simd` tactic of BatchNormalization in inference mode on f32: one `a * x + b` per channel
//! plane, planes in parallel.

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Inference-mode BatchNormalization (only `Y` requested).
#[derive(Debug, Clone)]
pub struct BatchNormTactic {
    op: Arc<dyn Op>,
    epsilon: f32,
}

impl BatchNormTactic {
    /// The tactic for an inference-mode BatchNormalization node with one output.
    pub fn from_node(node: &Node) -> Option<BatchNormTactic> {
        if node.attrs.int_or("training_mode", 0).ok()? != 0
            || node.outputs.iter().skip(1).any(|o| !o.is_empty())
        {
            return None;
        }
        Some(BatchNormTactic {
            op: node.op.clone(),
            epsilon: node.attrs.float_or("epsilon", 1e-5).ok()?,
        })
    }
}

impl Tactic for BatchNormTactic {
    fn name(&self) -> &str {
        "simd"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(a),
            _ => None,
        };
        if let (Some(x), Some(s), Some(b), Some(m), Some(v)) = (f(0), f(1), f(2), f(3), f(4))
            && inputs.len() == 5
            && x.ndim() >= 2
        {
            let c = x.shape()[1];
            let plane: usize = x.shape()[2..].iter().product();
            let vecs = [s, b, m, v];
            let x_std = x.as_standard_layout();
            if let (true, Some(xd)) = (
                vecs.iter().all(|t| t.ndim() == 1 && t.len() == c),
                x_std.as_slice(),
            ) {
                let eps = self.epsilon;
                let coef: Vec<(f32, f32)> = (0..c)
                    .map(|i| {
                        let a = s[i] / (v[i] + eps).sqrt();
                        (a, b[i] - m[i] * a)
                    })
                    .collect();
                let mut out = ctx.alloc_f32(xd.len());
                if plane > 0 {
                    out.par_chunks_mut(plane)
                        .zip(xd.par_chunks(plane))
                        .enumerate()
                        .for_each(|(p, (o, xs))| {
                            let (a, bb) = coef[p % c];
                            for (o, x) in o.iter_mut().zip(xs) {
                                *o = a * x + bb;
                            }
                        });
                }
                if let Ok(y) = ArrayD::from_shape_vec(IxDyn(x.shape()), out) {
                    return Ok(vec![Value::Tensor(Tensor::F32(y))]);
                }
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
