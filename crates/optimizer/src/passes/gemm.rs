//! Gemm -> FusedMatMul: `alpha * A @ op(B) + beta * C` with `transA = 0` becomes a FusedMatMul
//! (`alpha`, `trans_b`), with `beta * C` folded into its bias when C is a constant shaped like
//! a bias (`[N]`, `[1, N]`, `[1]`), or C as its residual input when `beta = 1` and C has the
//! output's shape. Gemms with `transA = 1` or other C shapes stay Gemms.

use crate::fusion::fused_node;
use crate::util::{Names, constant, facts, fixed_shape, op_at, shape_of};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Attribute, Attributes, Graph, Tensor};

/// Turns Gemm layers into FusedMatMul layers.
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmToFusedMatMul;

impl Pass for GemmToFusedMatMul {
    fn name(&self) -> &'static str {
        "gemm-to-fused-matmul"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let facts = facts(graph);
        for i in 0..graph.nodes.len() {
            let Some(g) = op_at(graph, i, "Gemm") else {
                continue;
            };
            let a = &g.attrs;
            let (Ok(alpha), Ok(beta), Ok(ta), Ok(tb)) = (
                a.float_or("alpha", 1.0),
                a.float_or("beta", 1.0),
                a.int_or("transA", 0),
                a.int_or("transB", 0),
            ) else {
                continue;
            };
            if ta != 0 || g.outputs.len() != 1 || g.inputs.len() < 2 {
                continue;
            }
            let float = |n: &str| {
                facts
                    .get(n)
                    .and_then(|f| f.dtype)
                    .is_some_and(|d| d.is_float())
            };
            if !float(&g.outputs[0]) {
                continue;
            }
            let Some(bdims) = fixed_shape(graph, &facts, &g.inputs[1]) else {
                continue;
            };
            if bdims.len() != 2 {
                continue;
            }
            let n = if tb == 1 { bdims[0] } else { bdims[1] };
            let mut inputs = vec![g.inputs[0].clone(), g.inputs[1].clone()];
            let mut new_bias = None;
            if let Some(c) = g.inputs.get(2).filter(|c| !c.is_empty()) {
                let bias_like = constant(graph, c).filter(|t| {
                    let s = t.shape();
                    let last = s.last().copied().unwrap_or(1);
                    s.len() <= 2
                        && t.dtype().is_float()
                        && (last == 1 || last == n)
                        && s.iter().rev().skip(1).all(|&d| d == 1)
                });
                if let Some(t) = bias_like {
                    let v = t.to_f64_vec().unwrap_or_default();
                    let v: Vec<f64> = (0..n)
                        .map(|k| beta as f64 * v[if v.len() == n { k } else { 0 }])
                        .collect();
                    let Some(bt) = Tensor::from_vec(&[n], v)
                        .ok()
                        .and_then(|x| x.cast(t.dtype()).ok())
                    else {
                        continue;
                    };
                    let name = Names::of(graph).fresh(&format!("{}_bias", g.name));
                    inputs.push(name.clone());
                    new_bias = Some((name, bt));
                } else if beta == 1.0
                    && shape_of(&facts, c)
                        .is_some_and(|s| s.0.iter().all(|d| !matches!(d, kiln_core::Dim::Unknown)))
                    && shape_of(&facts, c) == shape_of(&facts, &g.outputs[0])
                {
                    inputs.push(String::new());
                    inputs.push(c.clone());
                } else {
                    continue;
                }
            }
            let attrs = Attributes::new()
                .with("alpha", Attribute::Float(alpha))
                .with("trans_b", Attribute::Int(tb));
            let Ok((node, line)) = fused_node(
                &g.name,
                "FusedMatMul",
                attrs,
                inputs,
                g.outputs.clone(),
                &[g],
            ) else {
                continue;
            };
            if let Some((name, t)) = new_bias {
                graph.initializers.insert(name, t);
            }
            graph.nodes[i] = node;
            report.changes.push(line);
        }
        Ok(report)
    }
}
