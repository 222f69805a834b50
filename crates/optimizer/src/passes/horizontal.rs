//! Horizontal fusion: layers that read the same tensor with the same op kind and attributes
//! and constant weights become one wider layer whose output is split:
//! - MatMul / FusedMatMul (no residual, `trans_b = 0`, 2-D constant B): B concatenated along
//!   its last axis, the output split along the last axis (the Q/K/V projections);
//! - Conv / FusedConv (no residual, `group = 1`, same kernel shape): W concatenated along the
//!   output channels, the output split along axis 1 (Inception-style parallel 1x1 convs).
//!
//! Biases are concatenated (zeros for members without one); activations must be equal.
//! The wide layer is a FusedMatMul / FusedConv; a `Split` restores the original outputs.

use crate::fusion::{fused_node_as, provenance};
use crate::util::{Names, constant, eval_builtin, facts, replace_nodes};
use crate::{OptError, Pass, PassReport};
use kiln_core::ops::fused::{Activation, KILN_DOMAIN};
use kiln_core::{Attribute, Attributes, Graph, Node, Tensor};
use std::collections::BTreeMap;

/// Merges sibling layers that read the same input.
#[derive(Clone, Copy, Debug, Default)]
pub struct HorizontalFusion;

impl Pass for HorizontalFusion {
    fn name(&self) -> &'static str {
        "horizontal-fusion"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let facts = facts(graph);
        let limit = graph.nodes.len();
        for _ in 0..limit {
            // Candidates grouped by (input, kind, attributes, weight dims but the concat axis).
            let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, n) in graph.nodes.iter().enumerate() {
                let float = n
                    .outputs
                    .first()
                    .and_then(|o| facts.get(o))
                    .and_then(|f| f.dtype)
                    .is_some_and(|d| d.is_float());
                if float && let Some(key) = key_of(graph, n) {
                    groups.entry(key).or_default().push(i);
                }
            }
            let line = groups
                .into_values()
                .filter(|g| g.len() > 1)
                .find_map(|g| fuse_group(graph, &g));
            match line {
                Some(l) => report.changes.push(l),
                None => break,
            }
        }
        Ok(report)
    }
}

/// ONNX Conv's attributes.
const CONV_ATTRS: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    MatMul,
    Conv,
}

fn kind_of(n: &Node) -> Option<Kind> {
    match (n.domain.as_str(), n.op_type()) {
        ("", "MatMul") | (KILN_DOMAIN, "FusedMatMul") => Some(Kind::MatMul),
        ("", "Conv") | (KILN_DOMAIN, "FusedConv") => Some(Kind::Conv),
        _ => None,
    }
}

/// The attributes of the wide layer: a plain MatMul / Conv counts as a fused one without
/// activation (and alpha 1), so mixed siblings still merge.
fn wide_attrs(kind: Kind, a: &Attributes) -> Option<Attributes> {
    let act = Activation::from_attrs(a).ok()?;
    let mut out = match kind {
        Kind::MatMul => {
            Attributes::new().with("alpha", Attribute::Float(a.float_or("alpha", 1.0).ok()?))
        }
        Kind::Conv => {
            let mut c = Attributes::new();
            for name in CONV_ATTRS {
                if let Some(v) = a.get(name) {
                    c.set(name, v.clone());
                }
            }
            c
        }
    };
    act.write_attrs(&mut out);
    Some(out)
}

/// Attributes that must match, as text.
fn attr_key(kind: Kind, a: &Attributes) -> Option<String> {
    Some(
        wide_attrs(kind, a)?
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(";"),
    )
}

fn key_of(graph: &Graph, n: &Node) -> Option<String> {
    let kind = kind_of(n)?;
    if n.outputs.len() != 1 || n.inputs.get(3).is_some_and(|z| !z.is_empty()) {
        return None;
    }
    let w = constant(graph, n.inputs.get(1)?)?;
    if let Some(b) = n.inputs.get(2).filter(|b| !b.is_empty()) {
        let b = constant(graph, b)?;
        if b.rank() != 1 {
            return None;
        }
    }
    let dims = match kind {
        Kind::MatMul => {
            if w.rank() != 2 || n.attrs.int_or("trans_b", 0).ok()? != 0 {
                return None;
            }
            vec![w.shape()[0]]
        }
        Kind::Conv => {
            if n.attrs.int_or("group", 1).ok()? != 1 {
                return None;
            }
            w.shape()[1..].to_vec()
        }
    };
    Some(format!(
        "{}|{}|{:?}|{}",
        n.inputs[0],
        attr_key(kind, &n.attrs)?,
        dims,
        w.dtype()
    ))
}

fn fuse_group(graph: &mut Graph, members: &[usize]) -> Option<String> {
    let kind = kind_of(&graph.nodes[members[0]])?;
    let axis: i64 = if kind == Kind::MatMul { 1 } else { 0 };
    let ws: Vec<&Tensor> = members
        .iter()
        .map(|&m| constant(graph, &graph.nodes[m].inputs[1]))
        .collect::<Option<_>>()?;
    let sizes: Vec<usize> = ws.iter().map(|w| w.shape()[axis as usize]).collect();
    let dtype = ws[0].dtype();
    let any_bias = members
        .iter()
        .any(|&m| graph.nodes[m].inputs.get(2).is_some_and(|b| !b.is_empty()));
    let mut biases = Vec::new();
    for (&m, &len) in members.iter().zip(&sizes) {
        match graph.nodes[m].inputs.get(2).filter(|b| !b.is_empty()) {
            Some(b) => {
                let t = constant(graph, b)?;
                if t.len() != len || t.dtype() != dtype {
                    return None;
                }
                biases.push(t.clone());
            }
            None => biases.push(Tensor::zeros(dtype, &[len])),
        }
    }
    let cat = |ts: Vec<&Tensor>, axis: i64| {
        let attrs = Attributes::new().with("axis", Attribute::Int(axis));
        let args: Vec<Option<&Tensor>> = ts.into_iter().map(Some).collect();
        eval_builtin("Concat", attrs, &args)
    };
    let wide_w = cat(ws, axis)?;
    let wide_b = if any_bias {
        Some(cat(biases.iter().collect(), 0)?)
    } else {
        None
    };
    let first = &graph.nodes[members[0]];
    let mut names = Names::of(graph);
    let wn = names.fresh(&format!("{}_wide_W", first.name));
    let bn = names.fresh(&format!("{}_wide_B", first.name));
    let out = names.fresh(&format!("{}_wide", first.outputs[0]));
    let split_sizes = names.fresh(&format!("{}_wide_split", first.name));
    let layer = names.fresh(&format!("{}_wide", first.name));
    let split_name = names.fresh(&format!("{}_split", layer));
    let attrs = wide_attrs(kind, &first.attrs)?;
    let mut inputs = vec![first.inputs[0].clone(), wn.clone()];
    if wide_b.is_some() {
        inputs.push(bn.clone());
    }
    let parts: Vec<&Node> = members.iter().map(|&m| &graph.nodes[m]).collect();
    let labels: Vec<String> = parts.iter().map(|p| provenance(&[p]).0.join("+")).collect();
    let (_, fused_names) = provenance(&parts);
    let op = if kind == Kind::MatMul {
        "FusedMatMul"
    } else {
        "FusedConv"
    };
    let (node, line) = fused_node_as(
        &layer,
        op,
        attrs,
        inputs,
        vec![out.clone()],
        format!("Horizontal({})", labels.join("|")),
        fused_names,
    )
    .ok()?;
    let split_axis = if kind == Kind::MatMul { -1 } else { 1 };
    let outputs: Vec<String> = parts.iter().map(|p| p.outputs[0].clone()).collect();
    let split = Node::builtin(
        split_name,
        "Split",
        Attributes::new().with("axis", Attribute::Int(split_axis)),
        vec![out, split_sizes.clone()],
        outputs,
    )
    .ok()?;
    let sizes_t =
        Tensor::from_vec(&[sizes.len()], sizes.iter().map(|&s| s as i64).collect()).ok()?;
    graph.initializers.insert(wn, wide_w);
    if let Some(b) = wide_b {
        graph.initializers.insert(bn, b);
    }
    graph.initializers.insert(split_sizes, sizes_t);
    replace_nodes(graph, members, members[0], vec![node, split]);
    Some(line)
}
