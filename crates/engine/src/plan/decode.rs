//! Plan bytes -> engine. Everything read is checked: bad plans give errors, never panics.

use super::proto as pb;
use super::read_container;
use crate::EngineError;
use crate::engine::{Inner, LayerInfo, TacticChoice};
use crate::memory::{Buffer, MemoryPlan};
use crate::reads::unresolved;
use kiln_core::{
    Attribute, Attributes, BuildCtx, DataType, Dim, Graph, Node, Op, Shape, Tensor, TensorFact,
    UnresolvedOp, ValueInfo, ValueType, builtin_ops,
};
use kiln_kernels::{Backend, TargetFingerprint};
use kiln_optimizer::PassReport;
use std::collections::BTreeMap;
use std::sync::Arc;

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::Header(msg.into())
}

fn dtype(code: u32, what: &str) -> Result<Option<DataType>, EngineError> {
    match code {
        0 => Ok(None),
        c => DataType::ALL
            .get(c as usize - 1)
            .copied()
            .map(Some)
            .ok_or_else(|| bad(format!("{what}: unknown data type code {c}"))),
    }
}

fn shape(s: &pb::Shape) -> Shape {
    Shape(
        s.dims
            .iter()
            .map(|d| match &d.kind {
                Some(pb::dim::Kind::Fixed(n)) => Dim::Fixed(*n as usize),
                Some(pb::dim::Kind::Sym(s)) => Dim::Sym(s.clone()),
                _ => Dim::Unknown,
            })
            .collect(),
    )
}

fn value_type(t: Option<&pb::ValueType>, what: &str) -> Result<ValueType, EngineError> {
    let kind = t
        .and_then(|t| t.kind.as_ref())
        .ok_or_else(|| bad(format!("{what}: missing type")))?;
    Ok(match kind {
        pb::value_type::Kind::Tensor(tt) => ValueType::Tensor(TensorFact {
            dtype: dtype(tt.dtype, what)?,
            shape: tt.shape.as_ref().map(shape),
        }),
        pb::value_type::Kind::Sequence(inner) => {
            ValueType::Sequence(Box::new(value_type(Some(inner), what)?))
        }
        pb::value_type::Kind::Optional(inner) => {
            ValueType::Optional(Box::new(value_type(Some(inner), what)?))
        }
    })
}

fn value_info(v: &pb::ValueInfo) -> Result<ValueInfo, EngineError> {
    Ok(ValueInfo {
        name: v.name.clone(),
        ty: value_type(v.r#type.as_ref(), &format!("value '{}'", v.name))?,
    })
}

fn tensor(td: &pb::TensorData, weights: &[u8], what: &str) -> Result<Tensor, EngineError> {
    let dt = dtype(td.dtype, what)?.ok_or_else(|| bad(format!("{what}: tensor without a type")))?;
    let dims: Vec<usize> = td
        .shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("{what}: dimension too large"))))
        .collect::<Result<_, _>>()?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("{what}: shape {dims:?} too large")))?;
    if dt == DataType::String {
        if td.strings.len() != n {
            return Err(bad(format!(
                "{what}: {} strings for shape {dims:?}",
                td.strings.len()
            )));
        }
        return Tensor::from_vec(&dims, td.strings.clone())
            .map_err(|e| bad(format!("{what}: {e}")));
    }
    let start = usize::try_from(td.offset).map_err(|_| bad(format!("{what}: bad offset")))?;
    let len = usize::try_from(td.length).map_err(|_| bad(format!("{what}: bad length")))?;
    let raw = start
        .checked_add(len)
        .and_then(|end| weights.get(start..end))
        .ok_or_else(|| {
            EngineError::Corrupted(format!(
                "{what}: bytes {start}..+{len} lie outside the weights section ({} bytes)",
                weights.len()
            ))
        })?;
    Tensor::from_le_bytes(dt, &dims, raw).map_err(|e| bad(format!("{what}: {e}")))
}

fn graph(g: &pb::Graph, weights: &[u8]) -> Result<Graph, EngineError> {
    let mut initializers = BTreeMap::new();
    for td in &g.initializers {
        let t = tensor(td, weights, &format!("initializer '{}'", td.name))?;
        initializers.insert(td.name.clone(), t);
    }
    let infos = g
        .value_info
        .iter()
        .map(|v| value_info(v).map(|vi| (vi.name.clone(), vi)))
        .collect::<Result<_, _>>()?;
    Ok(Graph {
        name: g.name.clone(),
        inputs: g.inputs.iter().map(value_info).collect::<Result<_, _>>()?,
        outputs: g.outputs.iter().map(value_info).collect::<Result<_, _>>()?,
        initializers,
        nodes: g
            .nodes
            .iter()
            .map(|n| node(n, weights))
            .collect::<Result<_, _>>()?,
        value_info: infos,
    })
}

fn node(n: &pb::Node, weights: &[u8]) -> Result<Node, EngineError> {
    let what = format!("node '{}' ({})", n.name, n.op_type);
    let mut attrs = Attributes::new();
    for a in &n.attributes {
        use pb::attribute::Value as V;
        let aw = format!("{what} attribute '{}'", a.name);
        let v = match a
            .value
            .as_ref()
            .ok_or_else(|| bad(format!("{aw}: no value")))?
        {
            V::F(f) => Attribute::Float(*f),
            V::I(i) => Attribute::Int(*i),
            V::S(s) => Attribute::String(s.clone()),
            V::T(t) => Attribute::Tensor(tensor(t, weights, &aw)?),
            V::G(g) => Attribute::Graph(Arc::new(graph(g, weights)?)),
            V::Floats(v) => Attribute::Floats(v.values.clone()),
            V::Ints(v) => Attribute::Ints(v.values.clone()),
            V::Strings(v) => Attribute::Strings(v.values.clone()),
            V::Tensors(v) => Attribute::Tensors(
                v.values
                    .iter()
                    .map(|t| tensor(t, weights, &aw))
                    .collect::<Result<_, _>>()?,
            ),
            V::Graphs(v) => Attribute::Graphs(
                v.values
                    .iter()
                    .map(|g| graph(g, weights).map(Arc::new))
                    .collect::<Result<_, _>>()?,
            ),
        };
        attrs.set(&a.name, v);
    }
    let ctx = BuildCtx {
        attrs: &attrs,
        num_inputs: n.inputs.len(),
        num_outputs: n.outputs.len(),
    };
    let op: Arc<dyn Op> = match builtin_ops().get(&n.op_type) {
        // The default op set, and the optimizer's fused layers (domain `kiln`).
        Some(build) if n.domain.is_empty() || n.domain == kiln_core::ops::fused::KILN_DOMAIN => {
            Arc::from(build(&ctx).map_err(|e| bad(format!("{what}: {e}")))?)
        }
        _ => Arc::new(UnresolvedOp {
            name: n.op_type.clone(),
            namespace: n.domain.clone(),
            version: String::new(),
            reason: "not a builtin op of this Kiln build".into(),
        }),
    };
    Ok(Node {
        name: n.name.clone(),
        domain: n.domain.clone(),
        op,
        attrs,
        inputs: n.inputs.clone(),
        outputs: n.outputs.clone(),
    })
}

fn layer(l: &pb::Layer) -> Result<LayerInfo, EngineError> {
    let maybe = |s: &pb::MaybeShape| s.shape.as_ref().map(shape);
    Ok(LayerInfo {
        name: l.name.clone(),
        op_type: l.op_type.clone(),
        fused: l.fused.clone(),
        tactic: l.tactic.clone(),
        precision: l.precision.clone(),
        input_shapes: l.input_shapes.iter().map(maybe).collect(),
        output_shapes: l.output_shapes.iter().map(maybe).collect(),
        time_us: l.time_us,
        choice: TacticChoice::from_name(&l.choice)
            .ok_or_else(|| bad(format!("layer '{}': unknown choice '{}'", l.name, l.choice)))?,
    })
}

/// The portable part of a plan: its optimized graph with the weights (plugin layers resolved
/// from `plugins`), the optimizer's reports, the optimization profiles and the target it was
/// tuned for. No tactics and no target check: what a re-tune for another machine or GPU
/// starts from.
pub(crate) fn decode_graph(
    bytes: &[u8],
    plugins: &crate::PluginRegistry,
) -> Result<PortablePlan, EngineError> {
    let (header, weights) = read_container(bytes)?;
    let target = header.target.as_ref().map_or_else(
        || "unknown".to_string(),
        |t| {
            TargetFingerprint {
                backend: t.backend.clone(),
                arch: t.arch.clone(),
                features: t.features.clone(),
            }
            .to_string()
        },
    );
    let mut graph = graph(
        header.graph.as_ref().ok_or_else(|| bad("missing graph"))?,
        weights,
    )?;
    crate::plugin::resolve_plan_graph(&mut graph, plugins)?;
    let passes = header
        .passes
        .iter()
        .map(|p| PassReport {
            pass: p.pass.clone(),
            changes: p.changes.clone(),
        })
        .collect();
    Ok(PortablePlan {
        graph,
        passes,
        profiles: profiles(&header.profiles)?,
        target,
    })
}

/// What [`decode_graph`] returns.
pub(crate) struct PortablePlan {
    /// The optimized graph with its weights.
    pub graph: Graph,
    /// The optimizer's reports of the original build.
    pub passes: Vec<PassReport>,
    /// The plan's optimization profiles.
    pub profiles: Vec<crate::ShapeProfile>,
    /// The target the plan was tuned for, as text.
    pub target: String,
}

/// Check and decode plan bytes into an engine for `backend`.
pub(crate) fn decode_engine(bytes: &[u8], backend: Arc<dyn Backend>) -> Result<Inner, EngineError> {
    decode_engine_with_plugins(bytes, backend, &crate::PluginRegistry::default())
}

/// Check and decode plan bytes into an engine for `backend`, its plugin layers from
/// `plugins`.
pub(crate) fn decode_engine_with_plugins(
    bytes: &[u8],
    backend: Arc<dyn Backend>,
    plugins: &crate::PluginRegistry,
) -> Result<Inner, EngineError> {
    let (header, weights) = read_container(bytes)?;
    let t = header
        .target
        .as_ref()
        .ok_or_else(|| bad("missing target"))?;
    let target = TargetFingerprint {
        backend: t.backend.clone(),
        arch: t.arch.clone(),
        features: t.features.clone(),
    };
    let host = backend.fingerprint();
    if !target.runs_on(host) {
        return Err(EngineError::TargetMismatch {
            plan: target.to_string(),
            host: host.to_string(),
            missing: target.missing_on(host),
        });
    }
    let mut graph = graph(
        header.graph.as_ref().ok_or_else(|| bad("missing graph"))?,
        weights,
    )?;
    crate::plugin::resolve_plan_graph(&mut graph, plugins)?;
    let mut missing = Vec::new();
    unresolved(&graph, "", &mut missing);
    if !missing.is_empty() {
        return Err(EngineError::Unsupported(missing));
    }
    if header.layers.len() != graph.nodes.len() {
        return Err(bad(format!(
            "{} layers for {} nodes",
            header.layers.len(),
            graph.nodes.len()
        )));
    }
    let layers: Vec<LayerInfo> = header.layers.iter().map(layer).collect::<Result<_, _>>()?;
    let mut tactics = Vec::with_capacity(layers.len());
    for (node, l) in graph.nodes.iter().zip(&layers) {
        if node.name != l.name {
            return Err(bad(format!(
                "layer '{}' does not match node '{}'",
                l.name, node.name
            )));
        }
        let tactic = backend.tactic_named(node, &l.tactic).ok_or_else(|| {
            bad(format!(
                "layer '{}' ({}): tactic '{}' is unknown to backend {}",
                l.name,
                l.op_type,
                l.tactic,
                backend.name()
            ))
        })?;
        tactics.push(tactic);
    }
    let memory = header
        .memory
        .as_ref()
        .map_or_else(MemoryPlan::default, |m| MemoryPlan {
            peak_bytes: m.peak_bytes,
            naive_bytes: m.naive_bytes,
            buffers: m
                .buffers
                .iter()
                .map(|b| Buffer {
                    value: b.value.clone(),
                    offset: b.offset,
                    size: b.size,
                    first_layer: b.first_layer as usize,
                    last_layer: b.last_layer as usize,
                })
                .collect(),
        });
    let passes = header
        .passes
        .iter()
        .map(|p| PassReport {
            pass: p.pass.clone(),
            changes: p.changes.clone(),
        })
        .collect();
    tracing::debug!(
        kiln_version = %header.kiln_version,
        layers = layers.len(),
        "plan loaded"
    );
    let mut inner = Inner::new(graph, layers, tactics, memory, backend, passes);
    inner.target = target;
    inner.profiles = profiles(&header.profiles)?;
    crate::profile::validate(&inner.profiles, &inner.graph.inputs)?;
    Ok(inner)
}

fn profiles(ps: &[pb::ShapeProfile]) -> Result<Vec<crate::ShapeProfile>, EngineError> {
    let dims = |v: &[u64], what: &str| -> Result<Vec<usize>, EngineError> {
        v.iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad(format!("profile {what} dimension {d}"))))
            .collect()
    };
    ps.iter()
        .map(|p| {
            Ok(crate::ShapeProfile {
                input: p.input.clone(),
                min: dims(&p.min, "min")?,
                opt: dims(&p.opt, "opt")?,
                max: dims(&p.max, "max")?,
            })
        })
        .collect()
}
