//! `copy` tactic of Reshape and Flatten on f32: the elements are copied once (`memcpy`) into
//! an arena buffer under the new shape (the reference walks the elements one by one).

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use std::sync::Arc;

/// Which shape op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reshape (`allowzero`).
    Reshape(bool),
    /// Flatten at `axis`.
    Flatten(i64),
}

/// Reshape or Flatten of f32 data.
#[derive(Debug, Clone)]
pub struct ReshapeTactic {
    op: Arc<dyn Op>,
    kind: Kind,
}

impl ReshapeTactic {
    /// The tactic for a Reshape or Flatten node.
    pub fn from_node(node: &Node) -> Option<ReshapeTactic> {
        let kind = match node.op_type() {
            "Reshape" => Kind::Reshape(node.attrs.int_or("allowzero", 0).ok()? != 0),
            "Flatten" => Kind::Flatten(node.attrs.int_or("axis", 1).ok()?),
            _ => return None,
        };
        Some(ReshapeTactic {
            op: node.op.clone(),
            kind,
        })
    }

    /// The output shape, `None` when the reference should decide (and report errors).
    fn out_shape(&self, s: &[usize], shape_arg: Option<&Tensor>) -> Option<Vec<usize>> {
        let total: usize = s.iter().product();
        match self.kind {
            Kind::Flatten(axis) => {
                let r = s.len() as i64;
                let a = if axis < 0 { axis + r } else { axis };
                if !(0..=r).contains(&a) {
                    return None;
                }
                let a = a as usize;
                Some(vec![s[..a].iter().product(), s[a..].iter().product()])
            }
            Kind::Reshape(allowzero) => {
                let Some(Tensor::I64(spec)) = shape_arg else {
                    return None;
                };
                if spec.ndim() != 1 {
                    return None;
                }
                let mut out = Vec::with_capacity(spec.len());
                let mut infer = None;
                for (i, &d) in spec.iter().enumerate() {
                    match d {
                        -1 if infer.is_none() => {
                            infer = Some(i);
                            out.push(1);
                        }
                        0 if !allowzero => out.push(*s.get(i)?),
                        d if d >= 0 => out.push(d as usize),
                        _ => return None,
                    }
                }
                if allowzero && infer.is_some() && out.contains(&0) {
                    return None;
                }
                let known: usize = out.iter().product();
                if let Some(i) = infer {
                    if known == 0 || !total.is_multiple_of(known) {
                        return None;
                    }
                    out[i] = total / known;
                }
                (out.iter().product::<usize>() == total).then_some(out)
            }
        }
    }
}

impl Tactic for ReshapeTactic {
    fn name(&self) -> &str {
        "copy"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let Some(Some(Value::Tensor(Tensor::F32(x)))) = inputs.first() {
            let shape_arg = match inputs.get(1) {
                Some(Some(Value::Tensor(t))) => Some(t),
                _ => None,
            };
            let arity_ok = match self.kind {
                Kind::Reshape(_) => inputs.len() == 2 && shape_arg.is_some(),
                Kind::Flatten(_) => inputs.len() == 1,
            };
            if arity_ok
                && let Some(shape) = self.out_shape(x.shape(), shape_arg)
                && let Some(xd) = x.as_slice()
            {
                let mut out = ctx.alloc_f32(xd.len());
                out.copy_from_slice(xd);
                if let Ok(y) = ArrayD::from_shape_vec(IxDyn(&shape), out) {
                    return Ok(vec![Value::Tensor(Tensor::F32(y))]);
                }
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{Attribute, Attributes};

    fn check(op: &str, attrs: Attributes, x: &Tensor, shape: Option<Vec<i64>>) {
        let mut names = vec!["x".to_string()];
        let mut args = vec![Some(Value::Tensor(x.clone()))];
        if let Some(s) = shape {
            names.push("s".into());
            args.push(Some(Value::Tensor(
                Tensor::from_vec(&[s.len()], s).unwrap(),
            )));
        }
        let nd = Node::builtin("r", op, attrs, names, vec!["y".into()]).unwrap();
        let t = ReshapeTactic::from_node(&nd).unwrap();
        let ctx = RunContext::default();
        let refs: Vec<Option<&Value>> = args.iter().map(Option::as_ref).collect();
        let want = nd.op.eval_values(&refs, &ctx.eval);
        let got = t.run(&refs, &ctx);
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{op}"),
            (Err(_), Err(_)) => {}
            (g, w) => panic!("{op}: tactic {g:?} vs reference {w:?}"),
        }
    }

    #[test]
    fn matches_reference() {
        let x = Tensor::from_vec(&[2, 3, 4], (0..24).map(|v| v as f32).collect()).unwrap();
        let none = Attributes::new;
        check("Reshape", none(), &x, Some(vec![0, -1]));
        check("Reshape", none(), &x, Some(vec![4, 3, 2]));
        check("Reshape", none(), &x, Some(vec![-1]));
        check("Reshape", none(), &x, Some(vec![5, -1])); // error in both
        check("Reshape", none(), &x, Some(vec![-1, -1])); // error in both
        let az = Attributes::new().with("allowzero", Attribute::Int(1));
        check("Reshape", az, &x, Some(vec![2, 12]));
        for axis in [0, 1, 2, 3, -1, -3] {
            check(
                "Flatten",
                Attributes::new().with("axis", Attribute::Int(axis)),
                &x,
                None,
            );
        }
        check(
            "Flatten",
            Attributes::new().with("axis", Attribute::Int(5)),
            &x,
            None,
        ); // error in both
    }
}
