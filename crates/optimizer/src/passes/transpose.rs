//! Transpose optimization, for exporters (tf2onnx) that wrap every NCHW op of an NHWC graph
//! in Transposes: consecutive Transposes compose into one (identity permutations are then
//! removed by identity removal), and Transposes sink below element-wise ops (unary ones, and
//! binary ones whose other operand is a constant or a Transpose with the same permutation),
//! so that the pairs around element-wise ops meet and cancel.

use crate::util::{Names, constant, eval_builtin, op_at, producer, sole_reader, subgraph_reads};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Attribute, Attributes, Graph, Node};

/// Element-wise ops with one data input (other inputs, if any, are constants).
const UNARY: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSwish",
    "HardSigmoid",
    "Clip",
    "Gelu",
    "Neg",
    "Abs",
    "Exp",
    "Log",
    "Sqrt",
    "Erf",
    "Elu",
    "Selu",
    "Celu",
    "Softplus",
    "Softsign",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Mish",
    "ThresholdedRelu",
    "Cast",
];

/// Element-wise ops with two broadcasting inputs.
const BINARY: &[&str] = &["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"];

/// Composes and sinks Transposes so that inverse pairs cancel.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransposeOptimization;

/// The explicit permutation of a Transpose node.
fn perm_of(node: &Node) -> Option<Vec<i64>> {
    node.attrs.ints("perm").ok().flatten()
}

fn transpose_node(name: String, perm: &[i64], input: String, output: String) -> Option<Node> {
    let attrs = Attributes::new().with("perm", Attribute::Ints(perm.to_vec()));
    Node::builtin(name, "Transpose", attrs, vec![input], vec![output]).ok()
}

impl Pass for TransposeOptimization {
    fn name(&self) -> &'static str {
        "transpose-optimization"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let limit = 4 * graph.nodes.len() + 4;
        for _ in 0..limit {
            let line = (0..graph.nodes.len()).find_map(|i| {
                compose(graph, i)
                    .or_else(|| sink_unary(graph, i))
                    .or_else(|| sink_binary(graph, i))
            });
            match line {
                Some(l) => report.changes.push(l),
                None => break,
            }
        }
        Ok(report)
    }
}

/// `Transpose(Transpose(x, p1), p2)` -> `Transpose(x, p1[p2])`.
fn compose(graph: &mut Graph, i: usize) -> Option<String> {
    let outer = op_at(graph, i, "Transpose")?;
    let p2 = perm_of(outer)?;
    let inner = op_at(graph, producer(graph, outer.inputs.first()?)?, "Transpose")?;
    let p1 = perm_of(inner)?;
    if p1.len() != p2.len() {
        return None;
    }
    let perm: Vec<i64> = p2
        .iter()
        .map(|&k| p1.get(k as usize).copied())
        .collect::<Option<_>>()?;
    let line = format!(
        "composed Transposes '{}' and '{}' into perm {perm:?}",
        inner.name, outer.name
    );
    let node = transpose_node(
        outer.name.clone(),
        &perm,
        inner.inputs.first()?.clone(),
        outer.outputs.first()?.clone(),
    )?;
    graph.nodes[i] = node;
    Some(line)
}

/// `U(Transpose(x, p))` -> `Transpose(U(x), p)` for an element-wise unary `U`.
fn sink_unary(graph: &mut Graph, i: usize) -> Option<String> {
    let t = op_at(graph, i, "Transpose")?;
    perm_of(t)?;
    let sub = subgraph_reads(graph);
    let j = sole_reader(graph, t.outputs.first()?, &sub)?;
    let u = &graph.nodes[j];
    if !u.domain.is_empty() || !UNARY.contains(&u.op_type()) || u.outputs.len() != 1 {
        return None;
    }
    if u.inputs.first() != t.outputs.first()
        || u.inputs[1..]
            .iter()
            .any(|n| !n.is_empty() && constant(graph, n).is_none_or(|c| c.len() != 1))
    {
        return None;
    }
    let mut names = Names::of(graph);
    let mid = names.fresh(&format!("{}_nt", u.outputs[0]));
    let line = format!(
        "moved Transpose '{}' below {} '{}'",
        t.name,
        u.op_type(),
        u.name
    );
    let (x, y) = (t.inputs[0].clone(), u.outputs[0].clone());
    let mut tnode = graph.nodes.remove(i);
    let j = j - 1;
    graph.nodes[j].inputs[0] = x;
    graph.nodes[j].outputs[0] = mid.clone();
    tnode.inputs = vec![mid];
    tnode.outputs = vec![y];
    graph.nodes.insert(j + 1, tnode);
    Some(line)
}

/// `B(Transpose(a, p), Transpose(b, p) or constant c)` -> `Transpose(B(a, b or c'), p)`.
fn sink_binary(graph: &mut Graph, j: usize) -> Option<String> {
    let b = &graph.nodes[j];
    if !b.domain.is_empty() || !BINARY.contains(&b.op_type()) || b.inputs.len() != 2 {
        return None;
    }
    if b.outputs.len() != 1 || b.inputs[0] == b.inputs[1] {
        return None;
    }
    let sub = subgraph_reads(graph);
    let mut perm: Option<Vec<i64>> = None;
    let mut sources = Vec::new();
    let mut transposes = Vec::new();
    for name in &b.inputs {
        if let Some(p) = producer(graph, name).filter(|&p| op_at(graph, p, "Transpose").is_some()) {
            let t = &graph.nodes[p];
            let tp = perm_of(t)?;
            if perm.as_ref().is_some_and(|q| q != &tp) || sole_reader(graph, name, &sub) != Some(j)
            {
                return None;
            }
            perm = Some(tp);
            sources.push(Some(t.inputs.first()?.clone()));
            transposes.push(p);
        } else {
            constant(graph, name)?;
            sources.push(None);
        }
    }
    let perm = perm?;
    let r = perm.len();
    let mut inverse = vec![0i64; r];
    for (i, &k) in perm.iter().enumerate() {
        *inverse.get_mut(k as usize)? = i as i64;
    }
    let mut names = Names::of(graph);
    let mut new_inputs = Vec::new();
    let mut new_consts = Vec::new();
    for (name, src) in b.inputs.iter().zip(sources) {
        match src {
            Some(s) => new_inputs.push(s),
            None => {
                let c = constant(graph, name)?;
                if c.rank() > r {
                    return None;
                }
                let mut dims = vec![1; r - c.rank()];
                dims.extend(c.shape());
                let padded = c.reshape(&dims).ok()?;
                let attrs = Attributes::new().with("perm", Attribute::Ints(inverse.clone()));
                let permuted = eval_builtin("Transpose", attrs, &[Some(&padded)])?;
                let cname = names.fresh(&format!("{name}_nchw"));
                new_consts.push((cname.clone(), permuted));
                new_inputs.push(cname);
            }
        }
    }
    let y = b.outputs[0].clone();
    let mid = names.fresh(&format!("{y}_nt"));
    let tname = names.fresh(&format!("{}_transpose", b.name));
    let tnode = transpose_node(tname, &perm, mid.clone(), y)?;
    let line = format!(
        "moved {} Transpose(s) below {} '{}'",
        transposes.len(),
        b.op_type(),
        b.name
    );
    graph.initializers.extend(new_consts);
    let mut node = graph.nodes[j].clone();
    node.inputs = new_inputs;
    node.outputs = vec![mid];
    crate::util::replace_nodes(
        graph,
        &[&transposes[..], &[j]].concat(),
        j,
        vec![node, tnode],
    );
    Some(line)
}
