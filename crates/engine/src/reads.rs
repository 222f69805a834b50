//! Which values a node reads, including the outer values its subgraphs read by name.

use kiln_core::{Attribute, Graph, Node};

/// Names `node` reads: its inputs, plus every name read inside its subgraphs (an
/// over-approximation of the outer values they capture, which is what liveness needs).
pub(crate) fn node_reads(node: &Node) -> Vec<String> {
    let mut out: Vec<String> = node
        .inputs
        .iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect();
    for attr in node.attrs.0.values() {
        match attr {
            Attribute::Graph(g) => graph_reads(g, &mut out),
            Attribute::Graphs(gs) => gs.iter().for_each(|g| graph_reads(g, &mut out)),
            _ => {}
        }
    }
    out
}

fn graph_reads(g: &Graph, out: &mut Vec<String>) {
    for n in &g.nodes {
        out.extend(node_reads(n));
    }
    out.extend(g.outputs.iter().map(|o| o.name.clone()));
}

/// Every node of `graph` whose op is unresolved, recursively through subgraphs, described
/// as `name (domain::op_type): reason`.
pub(crate) fn unresolved(graph: &Graph, path: &str, out: &mut Vec<String>) {
    for n in &graph.nodes {
        if let Some(u) = n.op.unresolved() {
            let dom = if u.namespace.is_empty() {
                String::new()
            } else {
                format!("{}::", u.namespace)
            };
            out.push(format!(
                "node '{path}{}' ({dom}{}): {}",
                n.name, u.name, u.reason
            ));
        }
        for attr in n.attrs.0.values() {
            let sub = format!("{path}{}/", n.name);
            match attr {
                Attribute::Graph(g) => unresolved(g, &sub, out),
                Attribute::Graphs(gs) => gs.iter().for_each(|g| unresolved(g, &sub, out)),
                _ => {}
            }
        }
    }
}
