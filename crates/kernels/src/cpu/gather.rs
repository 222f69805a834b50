//! `copy` tactic of Gather on f32 data: each selected slice is one `memcpy` into an arena
//! buffer (the reference builds an index per element; on a BERT embedding table that costs
//! more than the whole attention block).

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use std::sync::Arc;

/// Gather along one axis of f32 data with i64 or i32 indices.
#[derive(Debug, Clone)]
pub struct GatherTactic {
    op: Arc<dyn Op>,
    axis: i64,
}

impl GatherTactic {
    /// The tactic for a Gather node.
    pub fn from_node(node: &Node) -> Option<GatherTactic> {
        Some(GatherTactic {
            op: node.op.clone(),
            axis: node.attrs.int_or("axis", 0).ok()?,
        })
    }

    /// `None` when this case is left to the reference (other layouts, bad indices: the
    /// reference reports those).
    fn compute(
        &self,
        x: &ArrayD<f32>,
        idx: &[i64],
        idx_shape: &[usize],
        ctx: &RunContext<'_>,
    ) -> Option<ArrayD<f32>> {
        let s = x.shape();
        let rank = s.len() as i64;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        if axis < 0 || axis >= rank {
            return None;
        }
        let a = axis as usize;
        let xd = x.as_slice()?;
        let n = s[a];
        let outer: usize = s[..a].iter().product();
        let inner: usize = s[a + 1..].iter().product();
        let rows = idx
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + n as i64 } else { i };
                (0..n as i64).contains(&j).then_some(j as usize)
            })
            .collect::<Option<Vec<usize>>>()?;
        let mut out_shape = s[..a].to_vec();
        out_shape.extend_from_slice(idx_shape);
        out_shape.extend_from_slice(&s[a + 1..]);
        let total = outer * rows.len() * inner;
        let mut out = ctx.alloc_f32(total);
        if inner > 0 {
            let mut chunks = out.chunks_exact_mut(inner);
            for o in 0..outer {
                for &r in &rows {
                    let src = (o * n + r) * inner;
                    chunks.next()?.copy_from_slice(&xd[src..src + inner]);
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).ok()
    }
}

impl Tactic for GatherTactic {
    fn name(&self) -> &str {
        "copy"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [
            Some(Value::Tensor(Tensor::F32(x))),
            Some(Value::Tensor(ind)),
        ] = inputs
        {
            let idx: Option<Vec<i64>> = match ind {
                Tensor::I64(i) => Some(i.iter().copied().collect()),
                Tensor::I32(i) => Some(i.iter().map(|&v| v as i64).collect()),
                _ => None,
            };
            if let Some(idx) = idx
                && let Some(y) = self.compute(x, &idx, ind.shape(), ctx)
            {
                return Ok(vec![Value::Tensor(Tensor::F32(y))]);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{Attribute, Attributes, Node};

    fn node(axis: i64) -> Node {
        Node::builtin(
            "g",
            "Gather",
            Attributes::new().with("axis", Attribute::Int(axis)),
            vec!["x".into(), "i".into()],
            vec!["y".into()],
        )
        .unwrap()
    }

    #[test]
    fn matches_reference_on_every_axis() {
        let dims = [3usize, 5, 4];
        let n: usize = dims.iter().product();
        let x = Tensor::from_vec(&dims, (0..n).map(|v| v as f32 * 0.5 - 3.0).collect()).unwrap();
        let idx = Tensor::from_vec(&[2, 2], vec![2i64, -1, 0, 1]).unwrap();
        let idx32 = Tensor::from_vec(&[3], vec![1i32, 0, -2]).unwrap();
        for axis in [0i64, 1, 2, -1] {
            let nd = node(axis);
            let t = GatherTactic::from_node(&nd).unwrap();
            let ctx = RunContext::default();
            for ind in [&idx, &idx32] {
                let args = [
                    Some(Value::Tensor(x.clone())),
                    Some(Value::Tensor(ind.clone())),
                ];
                let refs: Vec<Option<&Value>> = args.iter().map(Option::as_ref).collect();
                let got = t.run(&refs, &ctx).unwrap();
                let want = nd.op.eval_values(&refs, &ctx.eval).unwrap();
                assert_eq!(got, want, "axis {axis}");
            }
        }
        // Out-of-range indices: the reference's error.
        let nd = node(0);
        let t = GatherTactic::from_node(&nd).unwrap();
        let bad = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        let args = [Some(Value::Tensor(x)), Some(Value::Tensor(bad))];
        let refs: Vec<Option<&Value>> = args.iter().map(Option::as_ref).collect();
        assert!(t.run(&refs, &RunContext::default()).is_err());
    }
}
