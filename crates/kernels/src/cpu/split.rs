//! `copy` tactic of Split on f32: each output is a run of contiguous row segments copied
//! with `memcpy` into an arena buffer (the reference goes element by element).

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use std::sync::Arc;

/// Split of f32 data along one axis, by explicit sizes (second input) or into equal parts.
#[derive(Debug, Clone)]
pub struct SplitTactic {
    op: Arc<dyn Op>,
    axis: i64,
    /// The node's number of outputs.
    outputs: usize,
    /// The `num_outputs` attribute (opset 18), when given.
    num_outputs: Option<usize>,
}

impl SplitTactic {
    /// The tactic for a Split node (`None` for the opset < 13 form with a `split` attribute:
    /// the reference handles it).
    pub fn from_node(node: &Node) -> Option<SplitTactic> {
        if node.attrs.has("split") {
            return None;
        }
        let num_outputs = match node.attrs.int_or("num_outputs", 0).ok()? {
            0 => None,
            n => Some(usize::try_from(n).ok()?),
        };
        Some(SplitTactic {
            op: node.op.clone(),
            axis: node.attrs.int_or("axis", 0).ok()?,
            outputs: node.outputs.len(),
            num_outputs,
        })
    }

    /// Sizes along the axis of length `dim`, `None` when the reference should decide.
    fn sizes(&self, dim: usize, split: Option<&Tensor>) -> Option<Vec<usize>> {
        let sizes = match split {
            Some(Tensor::I64(s)) if s.ndim() == 1 => s
                .iter()
                .map(|&v| usize::try_from(v).ok())
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
            None => {
                let parts = self.num_outputs.unwrap_or(self.outputs);
                if parts == 0 {
                    return None;
                }
                let chunk = if self.num_outputs.is_some() {
                    dim.div_ceil(parts)
                } else if dim.is_multiple_of(parts) {
                    dim / parts
                } else {
                    return None;
                };
                (0..parts)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        (sizes.len() == self.outputs && sizes.iter().sum::<usize>() == dim).then_some(sizes)
    }

    fn compute(
        &self,
        x: &ArrayD<f32>,
        split: Option<&Tensor>,
        ctx: &RunContext<'_>,
    ) -> Option<Vec<Value>> {
        let s = x.shape();
        let r = s.len() as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if !(0..r).contains(&axis) {
            return None;
        }
        let a = axis as usize;
        let sizes = self.sizes(s[a], split)?;
        let xd = x.as_slice()?;
        let outer: usize = s[..a].iter().product();
        let inner: usize = s[a + 1..].iter().product();
        let row = s[a] * inner;
        let mut out = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for &len in &sizes {
            let seg = len * inner;
            let mut buf = ctx.alloc_f32(outer * seg);
            if seg > 0 {
                for (o, dst) in buf.chunks_exact_mut(seg).enumerate() {
                    let from = o * row + start * inner;
                    dst.copy_from_slice(&xd[from..from + seg]);
                }
            }
            let mut shape = s.to_vec();
            shape[a] = len;
            out.push(Value::Tensor(Tensor::F32(
                ArrayD::from_shape_vec(IxDyn(&shape), buf).ok()?,
            )));
            start += len;
        }
        Some(out)
    }
}

impl Tactic for SplitTactic {
    fn name(&self) -> &str {
        "copy"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let Some(Some(Value::Tensor(Tensor::F32(x)))) = inputs.first()
            && inputs.len() <= 2
        {
            let split = match inputs.get(1) {
                Some(Some(Value::Tensor(t))) => Some(Some(t)),
                Some(Some(_)) => None,
                _ => Some(None),
            };
            if let Some(split) = split
                && let Some(outs) = self.compute(x, split, ctx)
            {
                return Ok(outs);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{Attribute, Attributes};

    fn check(attrs: Attributes, outputs: usize, x: &Tensor, split: Option<Vec<i64>>) {
        let mut names = vec!["x".to_string()];
        let mut args = vec![Some(Value::Tensor(x.clone()))];
        if let Some(s) = split {
            names.push("s".into());
            args.push(Some(Value::Tensor(
                Tensor::from_vec(&[s.len()], s).unwrap(),
            )));
        }
        let outs = (0..outputs).map(|i| format!("y{i}")).collect();
        let nd = Node::builtin("s", "Split", attrs, names, outs).unwrap();
        let t = SplitTactic::from_node(&nd).unwrap();
        let ctx = RunContext::default();
        let refs: Vec<Option<&Value>> = args.iter().map(Option::as_ref).collect();
        let want = nd.op.eval_values(&refs, &ctx.eval);
        let got = t.run(&refs, &ctx);
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w),
            (Err(_), Err(_)) => {}
            (g, w) => panic!("tactic {g:?} vs reference {w:?}"),
        }
    }

    #[test]
    fn matches_reference() {
        let x = Tensor::from_vec(&[2, 6, 5], (0..60).map(|v| v as f32).collect()).unwrap();
        let axis = |a: i64| Attributes::new().with("axis", Attribute::Int(a));
        check(axis(1), 3, &x, Some(vec![1, 2, 3]));
        check(axis(-1), 2, &x, Some(vec![4, 1]));
        check(axis(0), 2, &x, None);
        check(axis(1), 3, &x, None);
        check(axis(1), 2, &x, Some(vec![0, 6]));
        check(axis(1), 2, &x, Some(vec![2, 3])); // error in both
        let n3 = Attributes::new()
            .with("axis", Attribute::Int(2))
            .with("num_outputs", Attribute::Int(3));
        check(n3, 3, &x, None); // 5 = 2 + 2 + 1
    }
}
