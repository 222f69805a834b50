//! Layout selection for the CPU: 2-D f32 convolutions (Conv and FusedConv, one group or
//! depthwise, constant weights) run channels-last, where the CPU kernels are faster (an
//! implicit GEMM with the output channels in the vector lanes, no im2col; a depthwise kernel
//! over channel vectors). Each selected conv becomes a `FusedConv` with `layout = "NHWC"`
//! between a Transpose to NHWC (one per source tensor, shared by its readers) and one back to
//! NCHW; the transpose optimization that runs next composes the back-and-forth pairs between
//! consecutive convs into identities, so each chain of convs converts once on entry and once
//! on exit (and an NHWC model's own input Transpose cancels with the entry one). Pools
//! (MaxPool, AveragePool, the global ones) that read the output of a converted layer become
//! `NhwcPool` layers the same way, so a pool between convs costs no Transposes either.
//! Narrow networks (no conv with at least [`WIDE`] output channels) stay NCHW: there the
//! positions fill the vector lanes better than a few channels do.

use crate::fusion::fused_node_as;
use crate::util::{Names, constant};
use crate::{OptError, Pass, PassReport};
use kiln_core::ops::fused::{FUSED_NODES_ATTR, FUSION_ATTR, KILN_DOMAIN, POOLS};
use kiln_core::{Attribute, Attributes, DataType, Graph, Node};
use std::collections::{HashMap, HashSet};

/// Runs 2-D convolutions in NHWC (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct NhwcLayout;

/// Output channels of the widest conv a network needs for the NHWC layout to pay.
pub const WIDE: usize = 64;

/// NCHW -> NHWC.
const TO_NHWC: [i64; 4] = [0, 2, 3, 1];
/// NHWC -> NCHW.
const TO_NCHW: [i64; 4] = [0, 3, 1, 2];

impl Pass for NhwcLayout {
    fn name(&self) -> &'static str {
        "nhwc-layout"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let wide = graph
            .nodes
            .iter()
            .filter(|n| selected(graph, n))
            .filter_map(|n| constant(graph, &n.inputs[1]))
            .any(|w| w.shape()[0] >= WIDE);
        if !wide {
            return Ok(report);
        }
        let mut names = Names::of(graph);
        // Source tensor -> its NHWC Transpose output (made once, read by every conv).
        let mut entry: HashMap<String, String> = HashMap::new();
        // Outputs of converted layers (4-D, with an NHWC twin).
        let mut converted: HashSet<String> = HashSet::new();
        let mut out = Vec::with_capacity(graph.nodes.len());
        let nodes = std::mem::take(&mut graph.nodes);
        for node in nodes {
            let result = if selected(graph, &node) {
                convert(&node, &mut names, &mut entry, &mut out)
            } else if pool_selected(&node, &converted) {
                convert_pool(&node, &mut names, &mut entry, &mut out)
            } else {
                out.push(node);
                continue;
            };
            converted.insert(node.outputs[0].clone());
            match result {
                Ok(line) => report.changes.push(line),
                Err(e) => {
                    graph.nodes = out;
                    return Err(OptError::Pass {
                        pass: self.name().to_string(),
                        source: e,
                    });
                }
            }
        }
        graph.nodes = out;
        Ok(report)
    }
}

/// Whether `node` is a conv this pass moves to NHWC.
fn selected(graph: &Graph, node: &Node) -> bool {
    let fused = node.domain == KILN_DOMAIN && node.op_type() == "FusedConv";
    let plain = node.domain.is_empty() && node.op_type() == "Conv";
    if !(fused || plain) || node.outputs.len() != 1 || node.inputs.len() < 2 {
        return false;
    }
    if node.op.unresolved().is_some() {
        return false;
    }
    if node
        .attrs
        .string_or("layout", "NCHW".into())
        .is_ok_and(|l| l != "NCHW")
    {
        return false;
    }
    let Some(w) = constant(graph, &node.inputs[1]) else {
        return false;
    };
    let ws = w.shape();
    if w.dtype() != DataType::F32 || ws.len() != 4 || ws.contains(&0) {
        return false;
    }
    let Ok(group) = node.attrs.int_or("group", 1) else {
        return false;
    };
    // One group, or depthwise (one input and one output channel per group).
    group == 1 || (ws[1] == 1 && group as usize == ws[0])
}

/// Whether `node` is a pool reading a converted layer's output.
fn pool_selected(node: &Node, converted: &HashSet<String>) -> bool {
    node.domain.is_empty()
        && POOLS.contains(&node.op_type())
        && node.op.unresolved().is_none()
        && node.inputs.len() == 1
        && converted.contains(&node.inputs[0])
        && node.outputs.iter().skip(1).all(String::is_empty)
        && node.attrs.int_or("storage_order", 0).is_ok_and(|s| s == 0)
        && node
            .attrs
            .ints("kernel_shape")
            .is_ok_and(|k| k.is_none_or(|k| k.len() == 2))
}

/// The NHWC twin of `src`: one Transpose per source, shared by its readers.
fn to_nhwc(
    src: &str,
    names: &mut Names,
    entry: &mut HashMap<String, String>,
    out: &mut Vec<Node>,
) -> Result<String, kiln_core::Error> {
    if let Some(t) = entry.get(src) {
        return Ok(t.clone());
    }
    let t = names.fresh(&format!("{src}_nhwc"));
    let tn = names.fresh(&format!("{src}_to_nhwc"));
    out.push(transpose(&tn, &TO_NHWC, src, &t)?);
    entry.insert(src.to_string(), t.clone());
    Ok(t)
}

/// Replace the pool `node` by Transposes around an `NhwcPool`.
fn convert_pool(
    node: &Node,
    names: &mut Names,
    entry: &mut HashMap<String, String>,
    out: &mut Vec<Node>,
) -> Result<String, kiln_core::Error> {
    let x = to_nhwc(&node.inputs[0], names, entry, out)?;
    let y = names.fresh(&format!("{}_nhwc", node.outputs[0]));
    let mut attrs = node.attrs.clone();
    attrs.set("pool", Attribute::String(node.op_type().to_string()));
    let (pool, _) = fused_node_as(
        &node.name,
        "NhwcPool",
        attrs,
        vec![x],
        vec![y.clone()],
        node.op_type().to_string(),
        vec![node.name.clone()],
    )?;
    out.push(pool);
    let back = names.fresh(&format!("{}_to_nchw", node.name));
    out.push(transpose(&back, &TO_NCHW, &y, &node.outputs[0])?);
    Ok(format!("'{}' ({}) runs NHWC", node.name, node.op_type()))
}

/// Replace `node` by Transposes around an NHWC FusedConv, pushing the nodes onto `out`.
fn convert(
    node: &Node,
    names: &mut Names,
    entry: &mut HashMap<String, String>,
    out: &mut Vec<Node>,
) -> Result<String, kiln_core::Error> {
    let mut inputs = node.inputs.clone();
    inputs[0] = to_nhwc(&node.inputs[0], names, entry, out)?;
    if let Some(z) = inputs.get_mut(3).filter(|z| !z.is_empty()) {
        *z = to_nhwc(&node.inputs[3], names, entry, out)?;
    }
    let y = names.fresh(&format!("{}_nhwc", node.outputs[0]));
    let mut attrs: Attributes = node.attrs.clone();
    let (fusion, fused_nodes) = if node.op_type() == "FusedConv" {
        (
            attrs.string_or(FUSION_ATTR, "FusedConv".into())?,
            attrs
                .string_or(FUSED_NODES_ATTR, node.name.clone())?
                .split(',')
                .map(str::to_string)
                .collect(),
        )
    } else {
        ("Conv".to_string(), vec![node.name.clone()])
    };
    attrs.0.remove(FUSION_ATTR);
    attrs.0.remove(FUSED_NODES_ATTR);
    attrs.set("layout", Attribute::String("NHWC".into()));
    let (conv, _) = fused_node_as(
        &node.name,
        "FusedConv",
        attrs,
        inputs,
        vec![y.clone()],
        fusion,
        fused_nodes,
    )?;
    out.push(conv);
    let back = names.fresh(&format!("{}_to_nchw", node.name));
    out.push(transpose(&back, &TO_NCHW, &y, &node.outputs[0])?);
    Ok(format!("'{}' ({}) runs NHWC", node.name, node.op_type()))
}

fn transpose(name: &str, perm: &[i64], x: &str, y: &str) -> Result<Node, kiln_core::Error> {
    let attrs = Attributes::new().with("perm", Attribute::Ints(perm.to_vec()));
    Node::builtin(
        name,
        "Transpose",
        attrs,
        vec![x.to_string()],
        vec![y.to_string()],
    )
}
