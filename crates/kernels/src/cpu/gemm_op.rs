//! `gemm` tactic of the Gemm op: `Y = alpha * A' * B' + beta * C` for f32 through `gemm`.

use super::sgemm::{MatLayout, sgemm};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Error, Node, Op, Result, Tensor, Value};
use std::sync::Arc;

/// f32 Gemm through the `gemm` crate; other types go to the reference evaluator.
#[derive(Debug, Clone)]
pub struct GemmTactic {
    op: Arc<dyn Op>,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

impl GemmTactic {
    /// The tactic for a Gemm node; `None` when its attributes are not understood.
    pub fn from_node(node: &Node) -> Option<GemmTactic> {
        let a = &node.attrs;
        if !a.unknown(&["alpha", "beta", "transA", "transB"]).is_empty() {
            return None;
        }
        Some(GemmTactic {
            op: node.op.clone(),
            alpha: a.float_or("alpha", 1.0).ok()?,
            beta: a.float_or("beta", 1.0).ok()?,
            trans_a: a.int_or("transA", 0).ok()? != 0,
            trans_b: a.int_or("transB", 0).ok()? != 0,
        })
    }

    fn compute(
        &self,
        a: &ArrayD<f32>,
        b: &ArrayD<f32>,
        c: Option<&ArrayD<f32>>,
    ) -> Result<ArrayD<f32>> {
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(Error::shape(format!(
                "Gemm needs 2-D A and B, got {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        let (m, k) = if self.trans_a {
            (a.shape()[1], a.shape()[0])
        } else {
            (a.shape()[0], a.shape()[1])
        };
        let (k2, n) = if self.trans_b {
            (b.shape()[1], b.shape()[0])
        } else {
            (b.shape()[0], b.shape()[1])
        };
        if k != k2 {
            return Err(Error::shape(format!(
                "Gemm: inner dimensions differ: A' is {m}x{k}, B' is {k2}x{n}"
            )));
        }
        let mut out = vec![0f32; m * n];
        let accumulate = match c {
            Some(c) if self.beta != 0.0 => {
                let cb = c.broadcast(IxDyn(&[m, n])).ok_or_else(|| {
                    Error::shape(format!(
                        "Gemm: C {:?} does not broadcast to [{m}, {n}]",
                        c.shape()
                    ))
                })?;
                for (o, &x) in out.iter_mut().zip(cb.iter()) {
                    *o = self.beta * x;
                }
                true
            }
            _ => false,
        };
        let a_std = a.as_standard_layout();
        let b_std = b.as_standard_layout();
        let ad = a_std
            .as_slice()
            .ok_or_else(|| Error::shape("Gemm: A not contiguous"))?;
        let bd = b_std
            .as_slice()
            .ok_or_else(|| Error::shape("Gemm: B not contiguous"))?;
        let la = if self.trans_a {
            MatLayout::transposed(0, m)
        } else {
            MatLayout::row_major(0, k)
        };
        let lb = if self.trans_b {
            MatLayout::transposed(0, k)
        } else {
            MatLayout::row_major(0, n)
        };
        sgemm(m, n, k, self.alpha, ad, la, bd, lb, accumulate, &mut out)?;
        ArrayD::from_shape_vec(IxDyn(&[m, n]), out).map_err(|e| Error::shape(e.to_string()))
    }
}

impl Tactic for GemmTactic {
    fn name(&self) -> &str {
        "gemm"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f32_of = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(Some(a)),
            None | Some(None) => Some(None),
            _ => None,
        };
        if let (Some(Some(a)), Some(Some(b)), Some(c)) = (f32_of(0), f32_of(1), f32_of(2))
            && inputs.len() <= 3
        {
            return Ok(vec![Value::Tensor(Tensor::F32(self.compute(a, b, c)?))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
