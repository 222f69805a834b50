//! Helpers shared by passes: who reads what, renaming values.

use kiln_core::{Attribute, Graph};
use std::collections::HashSet;

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
