//! Attention fusion: `Softmax(MatMul(Q, K^T) [* s | / s] [+ mask]) @ V` on rank-4
//! `[batch, heads, seq, head_size]` tensors becomes one opset-23 `Attention(Q, K, V, mask)`
//! with `scale = s` (1 without a scale). `K` is recovered from `K^T`: the Transpose that made
//! `K^T` is composed with the last-two-axes swap (no node when they cancel). The mask must be
//! a float tensor of rank <= 4 whose last dim is the key length and that does not broadcast
//! the scores larger. Every intermediate value must be read only inside the pattern.

use crate::fusion::fused_node;
use crate::util::{
    Names, constant, facts, other_input, producer, replace_nodes, scalar, shape_of, sole_reader,
    subgraph_reads,
};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Attribute, Attributes, Dim, Graph, Node, Shape, TensorFact};
use std::collections::{HashMap, HashSet};

/// Fuses scaled dot-product attention subgraphs.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionFusion;

impl Pass for AttentionFusion {
    fn name(&self) -> &'static str {
        "attention-fusion"
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

/// The node writing `v` when it is `op` and read only by `reader`.
fn feeding(
    graph: &Graph,
    v: &str,
    op: &str,
    reader: usize,
    sub: &HashSet<String>,
) -> Option<usize> {
    let p = producer(graph, v)?;
    (is_op(graph, p, op) && sole_reader(graph, v, sub) == Some(reader)).then_some(p)
}

fn known(s: &Shape) -> bool {
    s.0.iter().all(|d| !matches!(d, Dim::Unknown))
}

/// A rank-4 shape with no unknown dims but the batch (exporters' `Reshape(x, [-1, ...])`
/// loses it; Q, K and V then all have an unknown batch, compared equal below).
fn rank4<'f>(facts: &'f HashMap<String, TensorFact>, v: &str) -> Option<&'f Shape> {
    shape_of(facts, v)
        .filter(|s| s.rank() == 4 && s.0[1..].iter().all(|d| !matches!(d, Dim::Unknown)))
}

fn fuse_at(graph: &mut Graph, i: usize, facts: &HashMap<String, TensorFact>) -> Option<String> {
    if !is_op(graph, i, "Softmax") {
        return None;
    }
    let sub = subgraph_reads(graph);
    let sm = &graph.nodes[i];
    let axis = sm.attrs.int_or("axis", -1).ok()?;
    if axis != -1 && axis != 3 {
        return None;
    }
    let pv = sole_reader(graph, &sm.outputs[0], &sub).filter(|&r| is_op(graph, r, "MatMul"))?;
    if graph.nodes[pv].inputs[0] != sm.outputs[0] {
        return None;
    }
    let v = graph.nodes[pv].inputs[1].clone();
    let mut parts = vec![i, pv];
    let mut cur = sm.inputs.first()?.clone();
    // Optional mask.
    let mut mask = None;
    if let Some(a) = feeding(graph, &cur, "Add", i, &sub) {
        let an = &graph.nodes[a];
        let scored = |n: &str| {
            producer(graph, n).is_some_and(|p| {
                ["Mul", "Div", "MatMul"]
                    .iter()
                    .any(|op| is_op(graph, p, op))
                    && sole_reader(graph, n, &sub) == Some(a)
            })
        };
        let (s, m) = if scored(&an.inputs[0]) {
            (an.inputs[0].clone(), an.inputs[1].clone())
        } else if scored(&an.inputs[1]) {
            (an.inputs[1].clone(), an.inputs[0].clone())
        } else {
            return None;
        };
        parts.push(a);
        mask = Some(m);
        let next = s;
        cur = next;
    }
    let reader = *parts.last()?;
    let reader = if mask.is_some() { reader } else { i };
    // Optional scale.
    let mut scale = 1.0f64;
    let mut qk_reader = reader;
    for op in ["Mul", "Div"] {
        if let Some(p) = feeding(graph, &cur, op, reader, &sub) {
            let n = &graph.nodes[p];
            let (s, c) = if op == "Div" {
                (n.inputs[0].clone(), n.inputs[1].clone())
            } else {
                let s = n
                    .inputs
                    .iter()
                    .find(|x| scalar(graph, x).is_none())?
                    .clone();
                (s.clone(), other_input(n, &s)?)
            };
            let c = scalar(graph, &c)?;
            scale = if op == "Div" { 1.0 / c } else { c };
            parts.push(p);
            cur = s;
            qk_reader = p;
            break;
        }
    }
    let qk = feeding(graph, &cur, "MatMul", qk_reader, &sub)?;
    parts.push(qk);
    let (q, kt) = (
        graph.nodes[qk].inputs[0].clone(),
        graph.nodes[qk].inputs[1].clone(),
    );
    let (qs, kts, vs) = (rank4(facts, &q)?, rank4(facts, &kt)?, rank4(facts, &v)?);
    let dtype = facts.get(&q)?.dtype?;
    if !dtype.is_float() || qs.0[..2] != kts.0[..2] || qs.0[..2] != vs.0[..2] {
        return None;
    }
    if qs.0[3] != kts.0[2] || kts.0[3] != vs.0[2] {
        return None;
    }
    if let Some(m) = &mask {
        let ms = shape_of(facts, m).filter(|s| known(s) && s.rank() <= 4)?;
        let scores = [&qs.0[0], &qs.0[1], &qs.0[2], &kts.0[3]];
        if ms.0.last()? != scores[3]
            || constant(graph, m).is_none() && facts.get(m)?.dtype? != dtype
        {
            return None;
        }
        let off = 4 - ms.rank();
        let fits =
            ms.0.iter()
                .enumerate()
                .all(|(k, d)| *d == Dim::Fixed(1) || d == scores[off + k]);
        if !fits || !facts.get(m)?.dtype?.is_float() {
            return None;
        }
    }
    // K from K^T.
    let mut names = Names::of(graph);
    let mut extra = Vec::new();
    let swap = [0usize, 1, 3, 2];
    let (src, perm) = match producer(graph, &kt).filter(|&p| is_op(graph, p, "Transpose")) {
        Some(t) => {
            let tn = &graph.nodes[t];
            let p = tn.attrs.ints("perm").ok().flatten()?;
            if p.len() != 4 {
                return None;
            }
            (
                tn.inputs[0].clone(),
                swap.iter().map(|&k| p[k]).collect::<Vec<i64>>(),
            )
        }
        None => (kt.clone(), vec![0, 1, 3, 2]),
    };
    let k = if perm == [0, 1, 2, 3] {
        src
    } else {
        let out = names.fresh(&format!("{kt}_k"));
        let name = names.fresh(&format!("{}_k_transpose", graph.nodes[qk].name));
        let attrs = Attributes::new().with("perm", Attribute::Ints(perm));
        extra.push(Node::builtin(name, "Transpose", attrs, vec![src], vec![out.clone()]).ok()?);
        out
    };
    let y = graph.nodes[pv].outputs[0].clone();
    let name = names.fresh(&format!("{}_attention", graph.nodes[i].name));
    let attrs = Attributes::new().with("scale", Attribute::Float(scale as f32));
    let mut inputs = vec![q, k, v];
    inputs.extend(mask);
    parts.sort_unstable();
    let nodes: Vec<&Node> = parts.iter().map(|&p| &graph.nodes[p]).collect();
    let (node, line) = fused_node(&name, "Attention", attrs, inputs, vec![y], &nodes).ok()?;
    extra.push(node);
    replace_nodes(graph, &parts, pv, extra);
    Some(line)
}
