//! Provenance of fused layers: which original nodes a layer replaced and why.
//!
//! Fused nodes of the `kiln` domain carry it in their `fusion` / `fused_nodes` attributes.
//! Pattern fusions into standard ONNX ops (LayerNormalization, Gelu, Attention) keep it when
//! the op accepts those attributes; every fusion is also written as one report line
//! (`fused <fusion> [<nodes>] into <op> '<layer>'`) that [`fusions`] reads back.

use crate::PassReport;
use kiln_core::ops::fused::{FUSED_NODES_ATTR, FUSED_OPS, FUSION_ATTR, KILN_DOMAIN};
use kiln_core::{Attribute, Attributes, Graph, Node};
use std::collections::BTreeMap;

/// One fused layer: its name and op, the op types it replaced and their node names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fusion {
    /// The layer (node) name in the optimized graph.
    pub layer: String,
    /// Its op type.
    pub op_type: String,
    /// The replaced op types joined by `+` (e.g. `Conv+BatchNormalization+Relu`).
    pub fusion: String,
    /// The replaced node names, in pattern order.
    pub fused_nodes: Vec<String>,
}

impl Fusion {
    /// The report line of this fusion.
    pub fn line(&self) -> String {
        format!(
            "fused {} [{}] into {} '{}'",
            self.fusion,
            self.fused_nodes.join(", "),
            self.op_type,
            self.layer
        )
    }

    /// Parse a report line written by [`Fusion::line`].
    pub fn parse_line(line: &str) -> Option<Fusion> {
        let rest = line.strip_prefix("fused ")?;
        let (fusion, rest) = rest.split_once(" [")?;
        let (nodes, rest) = rest.split_once("] into ")?;
        let (op_type, layer) = rest.split_once(" '")?;
        let layer = layer.strip_suffix('\'')?;
        Some(Fusion {
            layer: layer.to_string(),
            op_type: op_type.to_string(),
            fusion: fusion.to_string(),
            fused_nodes: nodes.split(", ").map(str::to_string).collect(),
        })
    }
}

/// The provenance a node carries in its attributes, if any.
pub fn fusion_of(node: &Node) -> Option<Fusion> {
    let fusion = node.attrs.string(FUSION_ATTR).ok()??;
    let nodes = node
        .attrs
        .string(FUSED_NODES_ATTR)
        .ok()?
        .unwrap_or_default();
    Some(Fusion {
        layer: node.name.clone(),
        op_type: node.op_type().to_string(),
        fusion,
        fused_nodes: nodes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// Every fused layer of `graph`, by layer name: from node attributes, else from the report
/// lines of the passes that made `graph` (only layers still in the graph are listed).
pub fn fusions(graph: &Graph, reports: &[PassReport]) -> BTreeMap<String, Fusion> {
    let mut out = BTreeMap::new();
    for r in reports {
        for line in &r.changes {
            if let Some(f) = Fusion::parse_line(line) {
                out.insert(f.layer.clone(), f);
            }
        }
    }
    out.retain(|layer, _| graph.nodes.iter().any(|n| &n.name == layer));
    for n in &graph.nodes {
        if let Some(f) = fusion_of(n) {
            out.insert(n.name.clone(), f);
        }
    }
    out
}

/// The op types and names of `parts`, expanding parts that are fused layers themselves.
pub(crate) fn provenance(parts: &[&Node]) -> (Vec<String>, Vec<String>) {
    let (mut ops, mut names) = (Vec::new(), Vec::new());
    for p in parts {
        match fusion_of(p) {
            Some(f) => {
                ops.extend(f.fusion.split('+').map(str::to_string));
                names.extend(f.fused_nodes);
            }
            None => {
                ops.push(p.op_type().to_string());
                names.push(p.name.clone());
            }
        }
    }
    (ops, names)
}

/// Make the node of a fusion of `parts`, with its provenance: a `kiln`-domain node for the
/// fused op family, else a builtin (keeping the provenance attributes when the op accepts
/// them). Returns the node and its report line.
pub(crate) fn fused_node(
    name: &str,
    op_type: &str,
    attrs: Attributes,
    inputs: Vec<String>,
    outputs: Vec<String>,
    parts: &[&Node],
) -> Result<(Node, String), kiln_core::Error> {
    let (ops, names) = provenance(parts);
    fused_node_as(name, op_type, attrs, inputs, outputs, ops.join("+"), names)
}

/// [`fused_node`] with the provenance given explicitly.
pub(crate) fn fused_node_as(
    name: &str,
    op_type: &str,
    mut attrs: Attributes,
    inputs: Vec<String>,
    outputs: Vec<String>,
    fusion: String,
    fused_nodes: Vec<String>,
) -> Result<(Node, String), kiln_core::Error> {
    let fusion = Fusion {
        layer: name.to_string(),
        op_type: op_type.to_string(),
        fusion,
        fused_nodes,
    };
    let plain = attrs.clone();
    attrs.set(FUSION_ATTR, Attribute::String(fusion.fusion.clone()));
    attrs.set(
        FUSED_NODES_ATTR,
        Attribute::String(fusion.fused_nodes.join(",")),
    );
    let node = if FUSED_OPS.contains(&op_type) {
        let mut n = Node::builtin(name, op_type, attrs, inputs, outputs)?;
        n.domain = KILN_DOMAIN.to_string();
        n
    } else {
        match Node::builtin(name, op_type, attrs, inputs.clone(), outputs.clone()) {
            Ok(n) => n,
            Err(_) => Node::builtin(name, op_type, plain, inputs, outputs)?,
        }
    };
    Ok((node, fusion.line()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        let f = Fusion {
            layer: "conv1".into(),
            op_type: "FusedConv".into(),
            fusion: "Conv+BatchNormalization+Relu".into(),
            fused_nodes: vec!["conv1".into(), "bn1".into(), "relu1".into()],
        };
        assert_eq!(Fusion::parse_line(&f.line()), Some(f));
        assert_eq!(Fusion::parse_line("removed Identity node 'x'"), None);
    }
}
