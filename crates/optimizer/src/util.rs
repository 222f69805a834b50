//! Helpers shared by passes: who reads what, renaming values, constants, fresh names,
//! inferred shapes, replacing nodes.

use kiln_core::{Attribute, Attributes, Graph, Node, Shape, Tensor, TensorFact};
use std::collections::{HashMap, HashSet};

/// Every value name read by a node of a subgraph of `graph` (recursively). Subgraphs may read
/// values of the enclosing graph by name, so passes must treat these names as used and must
/// never rename them.
pub fn subgraph_reads(graph: &Graph) -> HashSet<String> {
    let mut out = HashSet::new();
    for node in &graph.nodes {
        for attr in node.attrs.0.values() {
            match attr {
                Attribute::Graph(g) => collect_reads(g, &mut out),
                Attribute::Graphs(gs) => gs.iter().for_each(|g| collect_reads(g, &mut out)),
                _ => {}
            }
        }
    }
    out
}

fn collect_reads(graph: &Graph, out: &mut HashSet<String>) {
    for node in &graph.nodes {
        out.extend(node.inputs.iter().filter(|n| !n.is_empty()).cloned());
    }
    out.extend(graph.outputs.iter().map(|o| o.name.clone()));
    out.extend(subgraph_reads(graph));
}

/// True when the node holds a subgraph attribute.
pub fn has_subgraph(node: &kiln_core::Node) -> bool {
    node.attrs
        .0
        .values()
        .any(|a| matches!(a, Attribute::Graph(_) | Attribute::Graphs(_)))
}

/// Replace every read of value `from` by `to` in the node inputs of `graph` (not in subgraphs:
/// callers skip values that subgraphs read).
pub fn replace_reads(graph: &mut Graph, from: &str, to: &str) {
    for node in &mut graph.nodes {
        for i in &mut node.inputs {
            if i == from {
                *i = to.to_string();
            }
        }
    }
}

/// True when `name` is a graph output.
pub fn is_graph_output(graph: &Graph, name: &str) -> bool {
    graph.outputs.iter().any(|o| o.name == name)
}

/// Indices of the nodes that read `name` (a node reading it twice appears once).
pub fn readers(graph: &Graph, name: &str) -> Vec<usize> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.inputs.iter().any(|i| i == name))
        .map(|(i, _)| i)
        .collect()
}

/// The node that reads `name` when it is the only reader, reads it once, and nothing else
/// (graph outputs, subgraphs) sees the value: the value may then disappear into a fusion.
pub fn sole_reader(graph: &Graph, name: &str, sub: &HashSet<String>) -> Option<usize> {
    if name.is_empty() || is_graph_output(graph, name) || sub.contains(name) {
        return None;
    }
    let r = readers(graph, name);
    match r.as_slice() {
        [i] if graph.nodes[*i].inputs.iter().filter(|x| *x == name).count() == 1 => Some(*i),
        _ => None,
    }
}

/// Index of the node that writes `name`.
pub fn producer(graph: &Graph, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    graph
        .nodes
        .iter()
        .position(|n| n.outputs.iter().any(|o| o == name))
}

/// The constant value of `name`: an initializer no graph input can override.
pub fn constant<'g>(graph: &'g Graph, name: &str) -> Option<&'g Tensor> {
    if graph.inputs.iter().any(|v| v.name == name) {
        return None;
    }
    graph.initializers.get(name)
}

/// The value of a constant float holding a single element.
pub fn scalar(graph: &Graph, name: &str) -> Option<f64> {
    let t = constant(graph, name)?;
    if t.len() != 1 || !t.dtype().is_float() {
        return None;
    }
    t.to_f64_vec().ok()?.first().copied()
}

/// True when `name` is a one-element float constant equal to `v` (relative tolerance 1e-4).
pub fn is_scalar(graph: &Graph, name: &str, v: f64) -> bool {
    scalar(graph, name).is_some_and(|s| (s - v).abs() <= 1e-4 * v.abs().max(1e-6))
}

/// The node at `i` when it is of `op_type` in the default domain.
pub fn op_at<'g>(graph: &'g Graph, i: usize, op_type: &str) -> Option<&'g Node> {
    let n = graph.nodes.get(i)?;
    (n.domain.is_empty() && n.op_type() == op_type && n.op.unresolved().is_none()).then_some(n)
}

/// For a binary node reading `x` and one other value: that other value.
pub fn other_input(node: &Node, x: &str) -> Option<String> {
    match node.inputs.as_slice() {
        [a, b] if a == x && b != x => Some(b.clone()),
        [a, b] if b == x && a != x => Some(a.clone()),
        _ => None,
    }
}

/// Names used in `graph` (nodes, values, initializers), for making fresh ones.
pub struct Names(HashSet<String>);

impl Names {
    /// Every name of `graph`.
    pub fn of(graph: &Graph) -> Names {
        let mut s: HashSet<String> = graph.initializers.keys().cloned().collect();
        s.extend(graph.inputs.iter().map(|v| v.name.clone()));
        s.extend(graph.outputs.iter().map(|v| v.name.clone()));
        for n in &graph.nodes {
            s.insert(n.name.clone());
            s.extend(n.inputs.iter().cloned());
            s.extend(n.outputs.iter().cloned());
        }
        s.extend(subgraph_reads(graph));
        Names(s)
    }

    /// A name not used yet, starting with `base`; reserved from now on.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.0.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

/// Inferred facts of `graph` (empty where inference fails: passes then stay conservative).
///
/// Runs core inference on a light copy of the graph (large weights reduced to their facts),
/// filling in facts of ops that have no inference of their own (Attention, Split) and
/// re-running so that values after them are known too.
pub fn facts(graph: &Graph) -> HashMap<String, TensorFact> {
    let mut g = Graph {
        name: graph.name.clone(),
        inputs: graph.inputs.clone(),
        outputs: graph.outputs.clone(),
        initializers: Default::default(),
        nodes: graph.nodes.clone(),
        value_info: graph.value_info.clone(),
    };
    for (k, t) in &graph.initializers {
        if t.len() <= 4096 {
            g.initializers.insert(k.clone(), t.clone());
        } else {
            let fact = TensorFact::new(t.dtype(), Shape::fixed(t.shape()));
            g.value_info.insert(
                k.clone(),
                kiln_core::ValueInfo {
                    name: k.clone(),
                    ty: kiln_core::ValueType::Tensor(fact),
                },
            );
        }
    }
    let mut facts = HashMap::new();
    // Values whose facts come from `fallback_facts`: recomputed every round, since a round
    // may see their inputs only partly known (core inference fills in more each round, one
    // attention block of a transformer per round).
    let mut filled: HashSet<String> = HashSet::new();
    for _ in 0..64 {
        facts = match kiln_core::infer_facts(&g) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "shape inference failed; shape-dependent rewrites skipped");
                return HashMap::new();
            }
        };
        let extra: Vec<(String, TensorFact)> = fallback_facts(&g, &facts, &filled)
            .into_iter()
            .filter(|(name, f)| facts.get(name) != Some(f))
            .collect();
        if extra.is_empty() {
            break;
        }
        for (name, fact) in extra {
            let vi = kiln_core::ValueInfo {
                name: name.clone(),
                ty: kiln_core::ValueType::Tensor(fact),
            };
            filled.insert(name.clone());
            g.value_info.insert(name, vi);
        }
    }
    facts
}

/// Facts of outputs core inference leaves unknown, for ops whose result shape is simple.
/// Outputs in `filled` (facts of an earlier fallback) are computed again.
fn fallback_facts(
    g: &Graph,
    facts: &HashMap<String, TensorFact>,
    filled: &HashSet<String>,
) -> Vec<(String, TensorFact)> {
    let mut out = Vec::new();
    for n in &g.nodes {
        if !n.domain.is_empty()
            || n.outputs
                .iter()
                .all(|o| o.is_empty() || (facts.contains_key(o) && !filled.contains(o)))
        {
            continue;
        }
        let fact = |i: usize| n.inputs.get(i).and_then(|x| facts.get(x));
        match n.op_type() {
            "Attention" => {
                let (Some(q), Some(v)) = (fact(0), fact(2)) else {
                    continue;
                };
                let (Some(qs), Some(vs)) = (&q.shape, &v.shape) else {
                    continue;
                };
                if qs.rank() != 4 || vs.rank() != 4 || n.outputs[0].is_empty() {
                    continue;
                }
                let mut dims = qs.0.clone();
                dims[3] = vs.0[3].clone();
                let f = TensorFact {
                    dtype: q.dtype,
                    shape: Some(Shape(dims)),
                };
                out.push((n.outputs[0].clone(), f));
            }
            "Split" => {
                let Some(x) = fact(0) else { continue };
                let Some(xs) = &x.shape else { continue };
                let Some(sizes) = n
                    .inputs
                    .get(1)
                    .and_then(|s| g.initializers.get(s))
                    .and_then(|t| t.to_i64_vec().ok())
                else {
                    continue;
                };
                let Ok(axis) = n.attrs.int_or("axis", 0) else {
                    continue;
                };
                let r = xs.rank() as i64;
                let axis = if axis < 0 { axis + r } else { axis };
                if axis < 0 || axis >= r || sizes.len() != n.outputs.len() {
                    continue;
                }
                for (o, &len) in n.outputs.iter().zip(&sizes) {
                    if o.is_empty() || len < 0 {
                        continue;
                    }
                    let mut dims = xs.0.clone();
                    dims[axis as usize] = kiln_core::Dim::Fixed(len as usize);
                    let f = TensorFact {
                        dtype: x.dtype,
                        shape: Some(Shape(dims)),
                    };
                    out.push((o.clone(), f));
                }
            }
            _ => {}
        }
    }
    out
}

/// The fixed shape of `name`, from constants or inferred facts.
pub fn fixed_shape(
    graph: &Graph,
    facts: &HashMap<String, TensorFact>,
    name: &str,
) -> Option<Vec<usize>> {
    if let Some(t) = graph.initializers.get(name) {
        return Some(t.shape().to_vec());
    }
    facts.get(name)?.shape.as_ref()?.as_fixed()
}

/// The (possibly symbolic) shape of `name` from inferred facts.
pub fn shape_of<'f>(facts: &'f HashMap<String, TensorFact>, name: &str) -> Option<&'f Shape> {
    facts.get(name)?.shape.as_ref()
}

/// Replace the nodes at `remove` by `new` placed where the node at `at` was (`at` must be in
/// `remove`; every input of `new` must be defined before that place).
pub fn replace_nodes(graph: &mut Graph, remove: &[usize], at: usize, new: Vec<Node>) {
    let set: HashSet<usize> = remove.iter().copied().collect();
    let nodes = std::mem::take(&mut graph.nodes);
    let mut new = Some(new);
    for (i, n) in nodes.into_iter().enumerate() {
        if i == at {
            graph.nodes.extend(new.take().unwrap_or_default());
        }
        if !set.contains(&i) {
            graph.nodes.push(n);
        }
    }
}

/// Evaluate a builtin op on constant tensors (used to fold weights).
pub fn eval_builtin(
    op_type: &str,
    attrs: Attributes,
    inputs: &[Option<&Tensor>],
) -> Option<Tensor> {
    let ctx = kiln_core::BuildCtx {
        attrs: &attrs,
        num_inputs: inputs.len(),
        num_outputs: 1,
    };
    let op = kiln_core::builtin_ops().build(op_type, &ctx).ok()?;
    op.eval(inputs).ok()?.into_iter().next()
}
