//! Vertical fusion: a Conv / MatMul (or a FusedConv / FusedMatMul without activation) whose
//! result flows through a chain of single-reader nodes absorbs them into one fused layer:
//! - `Add` of a constant shaped like a bias (Conv: `[M]`, `[M,1,..]`, `[1,M,1,..]`; MatMul:
//!   all dims 1 but the last, which is 1 or N, not growing the output): the layer's bias;
//! - `Add` of another value of exactly the layer's output shape (ResNet's skip connection):
//!   the residual input `Z`;
//! - an activation (Relu, Clip with constant bounds, Sigmoid, Tanh, LeakyRelu, HardSwish,
//!   HardSigmoid, Gelu): the layer's activation, last.
//!
//! Only float layers fuse. Anything else (a value read twice, an Add that broadcasts the
//! output larger, a non-constant bias of another shape) stops the chain.

use crate::fusion::fused_node;
use crate::util::{
    Names, constant, facts, other_input, replace_nodes, scalar, shape_of, sole_reader,
    subgraph_reads,
};
use crate::{OptError, Pass, PassReport};
use kiln_core::ops::fused::{Activation, FUSED_NODES_ATTR, FUSION_ATTR, KILN_DOMAIN};
use kiln_core::{Attribute, Dim, Graph, Node, Tensor, TensorFact};
use std::collections::{HashMap, HashSet};

/// Fuses bias adds, residual adds and activations into Conv and MatMul layers.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerticalFusion;

impl Pass for VerticalFusion {
    fn name(&self) -> &'static str {
        "vertical-fusion"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let facts = facts(graph);
        let sub = subgraph_reads(graph);
        let mut i = 0;
        while i < graph.nodes.len() {
            match fuse_at(graph, i, &facts, &sub) {
                Some(line) => report.changes.push(line),
                None => i += 1,
            }
        }
        Ok(report)
    }
}

/// The activation a node computes, when it is one a fused layer can take.
pub(crate) fn activation_of(graph: &Graph, node: &Node) -> Option<Activation> {
    if !node.domain.is_empty() || node.outputs.len() != 1 || node.op.unresolved().is_some() {
        return None;
    }
    let a = &node.attrs;
    let data_only = node.inputs.len() == 1;
    Some(match node.op_type() {
        "Relu" if data_only => Activation::Relu,
        "Sigmoid" if data_only => Activation::Sigmoid,
        "Tanh" if data_only => Activation::Tanh,
        "HardSwish" if data_only => Activation::HardSwish,
        "LeakyRelu" if data_only => Activation::LeakyRelu {
            alpha: a.float_or("alpha", 0.01).ok()?,
        },
        "HardSigmoid" if data_only => Activation::HardSigmoid {
            alpha: a.float_or("alpha", 0.2).ok()?,
            beta: a.float_or("beta", 0.5).ok()?,
        },
        "Gelu" if data_only => match a.string_or("approximate", "none".into()).ok()?.as_str() {
            "none" => Activation::Gelu,
            "tanh" => Activation::GeluTanh,
            _ => return None,
        },
        "Clip" => {
            let bound = |k: usize, default: f32| -> Option<f32> {
                match node.inputs.get(k).filter(|n| !n.is_empty()) {
                    None => Some(default),
                    Some(n) => scalar(graph, n).map(|v| v as f32),
                }
            };
            if node.inputs.len() > 3 {
                return None;
            }
            Activation::Clip {
                min: bound(1, f32::NEG_INFINITY)?,
                max: bound(2, f32::INFINITY)?,
            }
        }
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Conv,
    MatMul,
}

/// The fixed dims of a value: constants exactly, others from inference.
fn dims_of(graph: &Graph, facts: &HashMap<String, TensorFact>, n: &str) -> Option<Vec<usize>> {
    crate::util::fixed_shape(graph, facts, n)
}

/// True when `other` has exactly the (fully known, possibly symbolic) shape of `out`.
fn same_shape(facts: &HashMap<String, TensorFact>, out: &str, other: &str) -> bool {
    match (shape_of(facts, out), shape_of(facts, other)) {
        (Some(a), Some(b)) => a == b && a.0.iter().all(|d| !matches!(d, Dim::Unknown)),
        _ => false,
    }
}

/// A constant bias of `len` channels as a flat vector, when `t` is shaped like one.
fn bias_values(
    t: &Tensor,
    kind: Kind,
    len: usize,
    out_rank: Option<usize>,
    own_input: bool,
) -> Option<Vec<f64>> {
    let s = t.shape();
    let ok = match kind {
        Kind::Conv => {
            // A `[M]` operand of an Add would broadcast along the last axis, not the channels:
            // only the Conv's own B input may be 1-D.
            let r = out_rank.unwrap_or(0);
            (own_input && s == [len])
                || (s.len() == r && s.get(1) == Some(&len) && t.len() == len && s[0] == 1)
                || (s.len() + 1 == r && s.first() == Some(&len) && t.len() == len)
        }
        Kind::MatMul => {
            let last = s.last().copied().unwrap_or(1);
            let fits_rank = match out_rank {
                Some(r) => s.len() <= r,
                None => s.len() <= 1,
            };
            fits_rank && (last == len || last == 1) && s.iter().rev().skip(1).all(|&d| d == 1)
        }
    };
    if !ok || !t.dtype().is_float() {
        return None;
    }
    let v = t.to_f64_vec().ok()?;
    Some(if v.len() == len { v } else { vec![v[0]; len] })
}

fn fuse_at(
    graph: &mut Graph,
    i: usize,
    facts: &HashMap<String, TensorFact>,
    sub: &HashSet<String>,
) -> Option<String> {
    let base = &graph.nodes[i];
    let kind = match (base.domain.as_str(), base.op_type()) {
        ("", "Conv") => Kind::Conv,
        ("", "MatMul") => Kind::MatMul,
        (KILN_DOMAIN, "FusedConv") => Kind::Conv,
        (KILN_DOMAIN, "FusedMatMul") => Kind::MatMul,
        _ => return None,
    };
    let fused_base = !base.domain.is_empty();
    if fused_base && Activation::from_attrs(&base.attrs).ok()? != Activation::None {
        return None;
    }
    let out0 = base.outputs.first()?.clone();
    if !facts.get(&out0)?.dtype?.is_float() {
        return None;
    }
    let out_rank = shape_of(facts, &out0).map(|s| s.rank());
    let w = base.inputs.get(1)?;
    let wdims = dims_of(graph, facts, w)?;
    let trans_b = base.attrs.int_or("trans_b", 0).ok()? == 1;
    let len = match kind {
        Kind::Conv => *wdims.first()?,
        Kind::MatMul if wdims.len() < 2 => return None,
        Kind::MatMul if trans_b => wdims[wdims.len() - 2],
        Kind::MatMul => *wdims.last()?,
    };
    let mut bias: Option<Vec<f64>> = match base.inputs.get(2).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => Some(bias_values(constant(graph, n)?, kind, len, out_rank, true)?),
    };
    let had_bias = bias.is_some();
    let mut z: Option<String> = base.inputs.get(3).filter(|n| !n.is_empty()).cloned();
    let mut act = Activation::None;
    let mut parts = vec![i];
    let mut cur = out0;
    while act == Activation::None {
        let Some(r) = sole_reader(graph, &cur, sub) else {
            break;
        };
        let node = &graph.nodes[r];
        if let Some(a) = activation_of(graph, node) {
            act = a;
        } else if node.domain.is_empty() && node.op_type() == "Add" && node.outputs.len() == 1 {
            let Some(other) = other_input(node, &cur) else {
                break;
            };
            let as_bias =
                constant(graph, &other).and_then(|t| bias_values(t, kind, len, out_rank, false));
            match as_bias {
                Some(b) => {
                    bias = Some(match bias {
                        Some(old) => old.iter().zip(&b).map(|(x, y)| x + y).collect(),
                        None => b,
                    });
                }
                None if z.is_none() && same_shape(facts, &cur, &other) => z = Some(other),
                None => break,
            }
        } else {
            break;
        }
        parts.push(r);
        cur = graph.nodes[r].outputs[0].clone();
    }
    if parts.len() == 1 {
        return None;
    }
    let base = &graph.nodes[i];
    let mut names = Names::of(graph);
    let bias_name = match &bias {
        Some(b) if had_bias && parts.len() > 1 && b.len() == len => {
            let dt = constant(graph, &base.inputs[2])?.dtype();
            let name = names.fresh(&format!("{}_bias", base.name));
            let t = Tensor::from_vec(&[len], b.clone()).ok()?.cast(dt).ok()?;
            Some((name, t))
        }
        Some(b) => {
            let dt = facts.get(&base.outputs[0])?.dtype?;
            let name = names.fresh(&format!("{}_bias", base.name));
            let t = Tensor::from_vec(&[len], b.clone()).ok()?.cast(dt).ok()?;
            Some((name, t))
        }
        None => None,
    };
    let mut inputs = vec![base.inputs[0].clone(), base.inputs[1].clone()];
    inputs.push(bias_name.as_ref().map(|b| b.0.clone()).unwrap_or_default());
    inputs.push(z.unwrap_or_default());
    while inputs.last().is_some_and(String::is_empty) {
        inputs.pop();
    }
    let mut attrs = base.attrs.clone();
    attrs.0.remove(FUSION_ATTR);
    attrs.0.remove(FUSED_NODES_ATTR);
    act.write_attrs(&mut attrs);
    if act == Activation::None {
        attrs.0.remove("activation");
    }
    if kind == Kind::MatMul && !attrs.has("alpha") {
        attrs.set("alpha", Attribute::Float(1.0));
    }
    let op = if kind == Kind::Conv {
        "FusedConv"
    } else {
        "FusedMatMul"
    };
    let part_nodes: Vec<&Node> = parts.iter().map(|&p| &graph.nodes[p]).collect();
    let (node, line) = fused_node(&base.name, op, attrs, inputs, vec![cur], &part_nodes).ok()?;
    if let Some((name, t)) = bias_name {
        graph.initializers.insert(name, t);
    }
    let at = *parts.last()?;
    replace_nodes(graph, &parts, at, vec![node]);
    Some(line)
}
