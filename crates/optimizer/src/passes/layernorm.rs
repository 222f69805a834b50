//! LayerNormalization pattern fusion, for the form exporters write:
//! `m = ReduceMean(x, axes); d = x - m; v = ReduceMean(Pow(d, 2) or d * d, axes);
//! y = d / Sqrt(v + eps)`, optionally followed by `* gamma` and `+ beta` (constants).
//! The axes must be the trailing axes of `x` (`[-1]` when the rank is unknown); the result is
//! one `LayerNormalization` node (gamma of ones when absent).

use crate::fusion::fused_node;
use crate::util::{
    Names, constant, eval_builtin, facts, is_scalar, other_input, readers, replace_nodes, scalar,
    shape_of, sole_reader, subgraph_reads,
};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Attribute, Attributes, Graph, Node, Tensor, TensorFact};
use std::collections::{HashMap, HashSet};

/// Fuses decomposed layer normalizations.
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerNormFusion;

impl Pass for LayerNormFusion {
    fn name(&self) -> &'static str {
        "layernorm-fusion"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let facts = facts(graph);
        let mut i = 0;
        while i < graph.nodes.len() {
            match fuse_at(graph, i, &facts) {
                Some(line) => report.changes.push(line),
                None => i += 1,
            }
        }
        Ok(report)
    }
}

fn is_op(graph: &Graph, i: usize, op: &str) -> bool {
    let n = &graph.nodes[i];
    n.domain.is_empty() && n.op_type() == op && n.outputs.len() == 1
}

/// The single reader of `v` when it is `op`.
fn next(graph: &Graph, v: &str, op: &str, sub: &HashSet<String>) -> Option<usize> {
    sole_reader(graph, v, sub).filter(|&r| is_op(graph, r, op))
}

/// The constant axes of a keepdims ReduceMean.
fn mean_axes(graph: &Graph, n: &Node) -> Option<Vec<i64>> {
    if n.attrs.int_or("keepdims", 1).ok()? != 1 {
        return None;
    }
    constant(graph, n.inputs.get(1)?)?.to_i64_vec().ok()
}

/// The first normalized axis when `axes` are the trailing axes of a rank-`rank` tensor.
fn trailing_axis(axes: &[i64], rank: Option<usize>) -> Option<i64> {
    match rank {
        None => (axes == [-1]).then_some(-1),
        Some(r) => {
            let r = r as i64;
            let mut a: Vec<i64> = axes
                .iter()
                .map(|&v| if v < 0 { v + r } else { v })
                .collect();
            a.sort_unstable();
            let k = a.len() as i64;
            let expect: Vec<i64> = (r - k..r).collect();
            (k > 0 && a == expect).then_some(r - k)
        }
    }
}

fn fuse_at(graph: &mut Graph, i: usize, facts: &HashMap<String, TensorFact>) -> Option<String> {
    if !is_op(graph, i, "ReduceMean") {
        return None;
    }
    let sub = subgraph_reads(graph);
    let r1 = &graph.nodes[i];
    let x = r1.inputs.first()?.clone();
    let axes = mean_axes(graph, r1)?;
    let rank = shape_of(facts, &x).map(|s| s.rank());
    let axis = trailing_axis(&axes, rank)?;
    let sub_i = next(graph, &r1.outputs[0], "Sub", &sub)?;
    let sn = &graph.nodes[sub_i];
    if sn.inputs[0] != x || sn.inputs[1] != r1.outputs[0] {
        return None;
    }
    let d = sn.outputs[0].clone();
    if crate::util::is_graph_output(graph, &d) || sub.contains(&d) {
        return None;
    }
    let rd = readers(graph, &d);
    if rd.len() != 2 {
        return None;
    }
    let (mut sq, mut div) = (None, None);
    for &r in &rd {
        let n = &graph.nodes[r];
        if is_op(graph, r, "Div") && n.inputs[0] == d && n.inputs[1] != d {
            div = Some(r);
        } else if is_op(graph, r, "Pow") && n.inputs[0] == d && is_scalar(graph, &n.inputs[1], 2.0)
            || is_op(graph, r, "Mul") && n.inputs[0] == d && n.inputs[1] == d
        {
            sq = Some(r);
        }
    }
    let (sq, div) = (sq?, div?);
    let r2 = next(graph, &graph.nodes[sq].outputs[0], "ReduceMean", &sub)?;
    if mean_axes(graph, &graph.nodes[r2])? != axes {
        return None;
    }
    let add = next(graph, &graph.nodes[r2].outputs[0], "Add", &sub)?;
    let v = &graph.nodes[r2].outputs[0];
    let eps = scalar(graph, &other_input(&graph.nodes[add], v)?)?;
    let sqrt = next(graph, &graph.nodes[add].outputs[0], "Sqrt", &sub)?;
    if sole_reader(graph, &graph.nodes[sqrt].outputs[0], &sub) != Some(div)
        || graph.nodes[div].inputs[1] != graph.nodes[sqrt].outputs[0]
    {
        return None;
    }
    let mut parts = vec![i, sub_i, sq, r2, add, sqrt, div];
    let mut y = graph.nodes[div].outputs[0].clone();
    let const_of = |n: &Node, v: &str| {
        let o = other_input(n, v)?;
        constant(graph, &o).map(|t| (o, t.clone()))
    };
    let mut gamma = None;
    let mut beta = None;
    if let Some(m) = next(graph, &y, "Mul", &sub)
        && let Some(g) = const_of(&graph.nodes[m], &y)
    {
        gamma = Some(g);
        parts.push(m);
        y = graph.nodes[m].outputs[0].clone();
        if let Some(a) = next(graph, &y, "Add", &sub)
            && let Some(b) = const_of(&graph.nodes[a], &y)
        {
            beta = Some(b);
            parts.push(a);
            y = graph.nodes[a].outputs[0].clone();
        }
    }
    // The normalized shape: the trailing dims of x (fixed), needed to check gamma / beta.
    let xfact = facts.get(&x)?;
    let dtype = xfact.dtype?;
    if !dtype.is_float() {
        return None;
    }
    let xdims = xfact.shape.as_ref()?;
    let first = if axis < 0 {
        xdims.rank() as i64 + axis
    } else {
        axis
    } as usize;
    let norm: Vec<usize> = xdims
        .0
        .get(first..)?
        .iter()
        .map(|d| d.fixed())
        .collect::<Option<_>>()?;
    let fit = |t: &Tensor| -> Option<Tensor> {
        if t.dtype() != dtype || t.rank() > norm.len() {
            return None;
        }
        if t.shape() == norm.as_slice() {
            return Some(t.clone());
        }
        let dims: Vec<i64> = norm.iter().map(|&d| d as i64).collect();
        let shape = Tensor::from_vec(&[norm.len()], dims).ok()?;
        let e = eval_builtin("Expand", Attributes::new(), &[Some(t), Some(&shape)])?;
        (e.shape() == norm.as_slice()).then_some(e)
    };
    let base = graph.nodes[i].name.clone();
    let mut names = Names::of(graph);
    let mut new_consts = Vec::new();
    let mut add_const = |what: &str, t: Tensor| {
        let n = names.fresh(&format!("{base}_ln_{what}"));
        new_consts.push((n.clone(), t));
        n
    };
    let scale_name = match gamma {
        Some((n, t)) => {
            let f = fit(&t)?;
            if f.shape() == t.shape() {
                n
            } else {
                add_const("scale", f)
            }
        }
        None => {
            let count: usize = norm.iter().product();
            let ones = Tensor::from_vec(&norm, vec![1.0f32; count])
                .ok()?
                .cast(dtype)
                .ok()?;
            add_const("scale", ones)
        }
    };
    let bias_name = match beta {
        Some((n, t)) => {
            let f = fit(&t)?;
            if f.shape() == t.shape() {
                n
            } else {
                add_const("bias", f)
            }
        }
        None => String::new(),
    };
    let name = names.fresh(&format!("{}_layernorm", graph.nodes[i].name));
    let attrs = Attributes::new()
        .with("axis", Attribute::Int(axis))
        .with("epsilon", Attribute::Float(eps as f32));
    let mut inputs = vec![x, scale_name];
    if !bias_name.is_empty() {
        inputs.push(bias_name);
    }
    parts.sort_unstable();
    let nodes: Vec<&Node> = parts.iter().map(|&p| &graph.nodes[p]).collect();
    let (node, line) =
        fused_node(&name, "LayerNormalization", attrs, inputs, vec![y], &nodes).ok()?;
    graph.initializers.extend(new_consts);
    let at = *parts.last()?;
    replace_nodes(graph, &parts, at, vec![node]);
    Some(line)
}
