//! Resolving `UnresolvedOp` placeholders into plugin layers: at build time from a node's
//! op type (+ `plugin_version` / `plugin_namespace` attributes), and when a plan loads from
//! the plugin name, version and state the plan recorded on the node.

use super::layer::PluginOp;
use super::{LayerPlugin, PluginError, PluginRegistry};
use kiln_core::{Attribute, Attributes, DataType, Graph, Node, PROVENANCE_ATTRS, Tensor};
use kiln_plugin_abi::{Attr, AttrValue, NamedTensor, RSlice};
use std::sync::Arc;

/// Node attributes that select and record the plugin, never passed to it:
/// `plugin_version`, `plugin_namespace` (as in TensorRT's ONNX parser) and `plugin_state`
/// (the layer's serialized state, written when the node is resolved and stored in plans).
pub const PLUGIN_ATTRS: &[&str] = &["plugin_version", "plugin_namespace", "plugin_state"];

/// A plugin layer a graph (or plan) needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequiredPlugin {
    /// Layer name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Namespace.
    pub namespace: String,
}

/// The plugin layers the nodes of `graph` use (resolved ones, or placeholders that recorded
/// a plugin in a plan), sorted, each once.
pub fn required_plugins(graph: &Graph) -> Vec<RequiredPlugin> {
    let mut out = Vec::new();
    collect_required(graph, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_required(graph: &Graph, out: &mut Vec<RequiredPlugin>) {
    for n in &graph.nodes {
        if let Some(version) = string_attr(&n.attrs, "plugin_version")
            && n.attrs.has("plugin_state")
        {
            out.push(RequiredPlugin {
                name: n.op_type().to_string(),
                version,
                namespace: string_attr(&n.attrs, "plugin_namespace").unwrap_or_default(),
            });
        }
        for a in n.attrs.0.values() {
            match a {
                Attribute::Graph(g) => collect_required(g, out),
                Attribute::Graphs(gs) => gs.iter().for_each(|g| collect_required(g, out)),
                _ => {}
            }
        }
    }
}

pub(super) fn string_attr(attrs: &Attributes, name: &str) -> Option<String> {
    match attrs.get(name) {
        Some(Attribute::String(s)) => Some(s.clone()),
        Some(Attribute::Int(i)) => Some(i.to_string()),
        _ => None,
    }
}

fn convert_attr(name: &str, a: &Attribute) -> Result<AttrValue, String> {
    Ok(match a {
        Attribute::Float(f) => AttrValue::Float(*f),
        Attribute::Int(i) => AttrValue::Int(*i),
        Attribute::String(s) => AttrValue::Str(s.as_str().into()),
        Attribute::Floats(v) => AttrValue::Floats(v.clone().into()),
        Attribute::Ints(v) => AttrValue::Ints(v.clone().into()),
        Attribute::Strings(v) => AttrValue::Strings(v.iter().map(|s| s.as_str().into()).collect()),
        Attribute::Tensor(t) => {
            let dtype = super::layer::to_abi_dtype(t.dtype()).ok_or_else(|| {
                format!(
                    "attribute '{name}': {} tensors cannot cross the plugin ABI",
                    t.dtype().name()
                )
            })?;
            AttrValue::Tensor(NamedTensor {
                name: name.into(),
                dtype,
                shape: t.shape().iter().map(|&d| d as u64).collect(),
                data: t.to_le_bytes().map_err(|e| e.to_string())?.into(),
            })
        }
        other => {
            return Err(format!(
                "attribute '{name}': {} attributes cannot cross the plugin ABI",
                other.kind()
            ));
        }
    })
}

/// The node's attributes for the plugin, checked against its declared attributes.
fn plugin_attrs(plugin: &LayerPlugin, attrs: &Attributes) -> Result<Vec<Attr>, String> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (name, a) in &attrs.0 {
        if PLUGIN_ATTRS.contains(&name.as_str()) || PROVENANCE_ATTRS.contains(&name.as_str()) {
            continue;
        }
        let Some(spec) = plugin.attributes.iter().find(|s| s.name == name.as_str()) else {
            problems.push(format!("unknown attribute '{name}'"));
            continue;
        };
        match convert_attr(name, a) {
            Ok(v) if v.kind() == spec.kind => out.push(Attr {
                name: name.as_str().into(),
                value: v,
            }),
            // ONNX writes whole-number floats as ints in some exporters: accept ints for floats.
            Ok(AttrValue::Int(i)) if spec.kind == kiln_plugin_abi::AttrKind::Float => {
                out.push(Attr {
                    name: name.as_str().into(),
                    value: AttrValue::Float(i as f32),
                })
            }
            Ok(v) => problems.push(format!(
                "attribute '{name}' must be {}, got {}",
                spec.kind.name(),
                v.kind().name()
            )),
            Err(e) => problems.push(e),
        }
    }
    for spec in &plugin.attributes {
        if spec.required && !attrs.has(spec.name.as_str()) {
            problems.push(format!("required attribute '{}' is missing", spec.name));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

/// Make the plugin op of a node: from its recorded state when it has one (plans), else from
/// its attributes.
fn make_op(plugin: &Arc<LayerPlugin>, node: &Node) -> Result<PluginOp, PluginError> {
    instantiate(plugin, &node.name, &node.attrs, node.outputs.len())
}

/// An instance of `plugin` for node `name` with these attributes.
pub(super) fn instantiate(
    plugin: &Arc<LayerPlugin>,
    name: &str,
    attrs: &Attributes,
    num_outputs: usize,
) -> Result<PluginOp, PluginError> {
    let node = NodeRef { name, attrs };
    let layer = match node.attrs.get("plugin_state") {
        Some(Attribute::Tensor(t)) => {
            let state = t.to_le_bytes().map_err(|e| plugin.error(e.to_string()))?;
            (plugin.creator.deserialize)(RSlice::from_slice(&state))
                .into_result()
                .map_err(|e| {
                    plugin.error(format!(
                        "node '{}': cannot restore its state: {e}",
                        node.name
                    ))
                })?
        }
        _ => {
            let attrs = plugin_attrs(plugin, &node.attrs)
                .map_err(|e| plugin.error(format!("node '{}': {e}", node.name)))?;
            (plugin.creator.create)(RSlice::from_slice(&attrs))
                .into_result()
                .map_err(|e| {
                    plugin.error(format!(
                        "node '{}': cannot create the layer: {e}",
                        node.name
                    ))
                })?
        }
    };
    PluginOp::new(plugin.clone(), layer, num_outputs)
}

struct NodeRef<'a> {
    name: &'a str,
    attrs: &'a Attributes,
}

/// The node with its placeholder replaced by the plugin layer, recording the plugin's
/// version, namespace and state in its attributes (so plans carry them).
fn resolved_node(plugin: &Arc<LayerPlugin>, node: &Node) -> Result<Node, PluginError> {
    let op = make_op(plugin, node)?;
    let mut attrs = node.attrs.clone();
    attrs.set("plugin_version", Attribute::String(plugin.version.clone()));
    attrs.set(
        "plugin_namespace",
        Attribute::String(plugin.namespace.clone()),
    );
    let state = Tensor::from_le_bytes(DataType::U8, &[op.state().len()], op.state())
        .map_err(|e| plugin.error(e.to_string()))?;
    attrs.set("plugin_state", Attribute::Tensor(state));
    Ok(Node {
        name: node.name.clone(),
        domain: node.domain.clone(),
        op: Arc::new(op),
        attrs,
        inputs: node.inputs.clone(),
        outputs: node.outputs.clone(),
    })
}

/// Resolve every placeholder of `graph` (and its subgraphs) that a loaded plugin provides.
/// Placeholders no plugin provides stay (the builder reports all of them at once).
pub(crate) fn resolve_graph(
    graph: &mut Graph,
    plugins: &PluginRegistry,
) -> Result<usize, PluginError> {
    let mut count = 0;
    if plugins.layers().is_empty() {
        return Ok(0);
    }
    for node in &mut graph.nodes {
        if let Some(u) = node.op.unresolved() {
            let version = string_attr(&node.attrs, "plugin_version");
            let namespace = string_attr(&node.attrs, "plugin_namespace");
            if let Some(p) = plugins.find_layer(
                &u.name,
                &node.domain,
                version.as_deref(),
                namespace.as_deref(),
            ) {
                tracing::debug!(node = %node.name, plugin = %p.describe(), "node resolved to a plugin layer");
                *node = resolved_node(&p, node)?;
                count += 1;
            }
        }
        for a in node.attrs.0.values_mut() {
            match a {
                Attribute::Graph(g) => count += resolve_graph(Arc::make_mut(g), plugins)?,
                Attribute::Graphs(gs) => {
                    for g in gs {
                        count += resolve_graph(Arc::make_mut(g), plugins)?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(count)
}

/// Resolve the plugin layers a plan recorded; every one not loaded is reported at once.
pub(crate) fn resolve_plan_graph(
    graph: &mut Graph,
    plugins: &PluginRegistry,
) -> Result<(), PluginError> {
    let mut missing = Vec::new();
    for req in required_plugins(graph) {
        let found = plugins.find_layer(
            &req.name,
            &req.namespace,
            Some(&req.version),
            Some(&req.namespace),
        );
        if found.is_none() {
            let ns = if req.namespace.is_empty() {
                String::new()
            } else {
                format!(" (namespace '{}')", req.namespace)
            };
            missing.push(format!("{} version {}{ns}", req.name, req.version));
        }
    }
    if !missing.is_empty() {
        return Err(PluginError::MissingForPlan(missing));
    }
    resolve_graph(graph, plugins)?;
    Ok(())
}
