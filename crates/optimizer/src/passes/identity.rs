//! Identity removal: `Identity` nodes, `Dropout` nodes in inference mode whose mask nobody
//! reads, `Cast` to the type the input already has, `Reshape` to the shape the input already
//! has and `Transpose` with the identity permutation pass their input through; readers are
//! rewired to the input.

use crate::util::{facts, replace_reads, subgraph_reads};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Graph, Node, Tensor, TensorFact};
use std::collections::{HashMap, HashSet};

/// Removes `Identity`, inference-mode `Dropout`, same-type `Cast`, same-shape `Reshape` and
/// identity `Transpose` nodes, keeping graph output names stable.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentityRemoval;

impl Pass for IdentityRemoval {
    fn name(&self) -> &'static str {
        "identity-removal"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let facts = facts(graph);
        let mut i = 0;
        while i < graph.nodes.len() {
            let removed = match passthrough(graph, &graph.nodes[i], &facts) {
                Some((x, y)) => try_remove(graph, i, &x, &y),
                None => false,
            };
            if removed {
                let node = graph.nodes.remove(i);
                report
                    .changes
                    .push(format!("removed {} node '{}'", node.op_type(), node.name));
            } else {
                i += 1;
            }
        }
        Ok(report)
    }
}

/// `(input, output)` when `node` just passes its input through.
fn passthrough(
    graph: &Graph,
    node: &Node,
    facts: &HashMap<String, TensorFact>,
) -> Option<(String, String)> {
    let x = node.inputs.first().filter(|x| !x.is_empty())?.clone();
    let y = node.outputs.first().filter(|y| !y.is_empty())?.clone();
    if node.outputs.len() != 1 && node.op_type() != "Dropout" {
        return None;
    }
    let keep = match (node.domain.as_str(), node.op_type()) {
        ("", "Identity") => true,
        ("", "Dropout") => dropout_is_inference(graph, node),
        ("", "Cast") => {
            let dt = |n: &str| facts.get(n).and_then(|f| f.dtype);
            dt(&x).is_some() && dt(&x) == dt(&y)
        }
        ("", "Reshape") => {
            let fixed = |n: &str| facts.get(n)?.shape.as_ref()?.as_fixed();
            fixed(&x).is_some() && fixed(&x) == fixed(&y)
        }
        ("", "Transpose") => match node.attrs.ints("perm") {
            Ok(Some(p)) => p.iter().enumerate().all(|(i, &v)| v == i as i64),
            _ => false,
        },
        _ => false,
    };
    keep.then_some((x, y))
}

/// A Dropout is a pass-through when training mode is off (absent, or a constant false that
/// no graph input can override) and nobody reads its mask.
fn dropout_is_inference(graph: &Graph, node: &Node) -> bool {
    let training_off = match node.inputs.get(2).filter(|n| !n.is_empty()) {
        None => true,
        Some(name) => {
            let overridable = graph.inputs.iter().any(|vi| &vi.name == name);
            let is_false = matches!(
                graph.initializers.get(name),
                Some(Tensor::Bool(a)) if a.iter().all(|b| !b)
            );
            is_false && !overridable
        }
    };
    let mask_unused = match node.outputs.get(1).filter(|n| !n.is_empty()) {
        None => true,
        Some(mask) => !is_read(graph, mask),
    };
    training_off && mask_unused && node.outputs.len() <= 2
}

fn is_read(graph: &Graph, name: &str) -> bool {
    graph.outputs.iter().any(|o| o.name == name)
        || graph
            .nodes
            .iter()
            .any(|n| n.inputs.iter().any(|i| i == name))
        || subgraph_reads(graph).contains(name)
}

/// Rewire readers of `y` (output of node `idx`) to `x`. Returns false when that would change
/// a graph output name or a name a subgraph reads and the producer of `x` cannot take the
/// output name instead.
fn try_remove(graph: &mut Graph, idx: usize, x: &str, y: &str) -> bool {
    let sub: HashSet<String> = subgraph_reads(graph);
    let is_output = |g: &Graph, n: &str| g.outputs.iter().any(|o| o.name == n);
    if !is_output(graph, y) && !sub.contains(y) {
        replace_reads(graph, y, x);
        return true;
    }
    // `y` must keep its name: let the producer of `x` write `y` directly, when `x` is an
    // ordinary intermediate value of this graph.
    let producer = graph
        .nodes
        .iter()
        .enumerate()
        .find(|(j, n)| *j != idx && n.outputs.iter().any(|o| o == x))
        .map(|(j, _)| j);
    let Some(p) = producer else {
        return false;
    };
    if is_output(graph, x)
        || sub.contains(x)
        || graph.inputs.iter().any(|vi| vi.name == x)
        || graph.initializers.contains_key(x)
    {
        return false;
    }
    for o in &mut graph.nodes[p].outputs {
        if o == x {
            *o = y.to_string();
        }
    }
    replace_reads(graph, x, y);
    // The removed node itself now reads `y`; it is dropped by the caller.
    true
}
