//! Engine -> plan bytes.

use super::proto as pb;
use super::{WEIGHT_ALIGN, write_container};
use crate::EngineError;
use crate::engine::{Inner, LayerInfo};
use crate::memory::MemoryPlan;
use kiln_core::{Attribute, DataType, Dim, Graph, Node, Shape, Tensor, ValueInfo, ValueType};
use kiln_kernels::TargetFingerprint;

/// Collects tensor bytes into the weights section, each tensor 64-byte aligned.
#[derive(Default)]
struct Weights {
    buf: Vec<u8>,
}

impl Weights {
    fn tensor(&mut self, name: &str, t: &Tensor) -> Result<pb::TensorData, EngineError> {
        let mut td = pb::TensorData {
            name: name.to_string(),
            dtype: dtype_code(Some(t.dtype())),
            shape: t.shape().iter().map(|&d| d as u64).collect(),
            ..Default::default()
        };
        if let Tensor::String(a) = t {
            td.strings = a.iter().cloned().collect();
            return Ok(td);
        }
        let bytes = t.to_le_bytes()?;
        let start = self.buf.len().div_ceil(WEIGHT_ALIGN) * WEIGHT_ALIGN;
        self.buf.resize(start, 0);
        self.buf.extend_from_slice(&bytes);
        td.offset = start as u64;
        td.length = bytes.len() as u64;
        Ok(td)
    }
}

/// Data type code: 0 unknown, else 1 + index in `DataType::ALL`.
pub(crate) fn dtype_code(d: Option<DataType>) -> u32 {
    d.and_then(|d| DataType::ALL.iter().position(|x| *x == d))
        .map_or(0, |i| i as u32 + 1)
}

pub(crate) fn shape_pb(s: &Shape) -> pb::Shape {
    pb::Shape {
        dims: s
            .0
            .iter()
            .map(|d| pb::Dim {
                kind: Some(match d {
                    Dim::Fixed(n) => pb::dim::Kind::Fixed(*n as u64),
                    Dim::Sym(s) => pb::dim::Kind::Sym(s.clone()),
                    Dim::Unknown => pb::dim::Kind::Unknown(true),
                }),
            })
            .collect(),
    }
}

fn value_type_pb(t: &ValueType) -> pb::ValueType {
    let kind = match t {
        ValueType::Tensor(f) => pb::value_type::Kind::Tensor(pb::TensorType {
            dtype: dtype_code(f.dtype),
            shape: f.shape.as_ref().map(shape_pb),
        }),
        ValueType::Sequence(inner) => {
            pb::value_type::Kind::Sequence(Box::new(value_type_pb(inner)))
        }
        ValueType::Optional(inner) => {
            pb::value_type::Kind::Optional(Box::new(value_type_pb(inner)))
        }
    };
    pb::ValueType { kind: Some(kind) }
}

fn value_info_pb(v: &ValueInfo) -> pb::ValueInfo {
    pb::ValueInfo {
        name: v.name.clone(),
        r#type: Some(value_type_pb(&v.ty)),
    }
}

fn graph_pb(g: &Graph, w: &mut Weights) -> Result<pb::Graph, EngineError> {
    Ok(pb::Graph {
        name: g.name.clone(),
        inputs: g.inputs.iter().map(value_info_pb).collect(),
        outputs: g.outputs.iter().map(value_info_pb).collect(),
        initializers: g
            .initializers
            .iter()
            .map(|(k, t)| w.tensor(k, t))
            .collect::<Result<_, _>>()?,
        nodes: g
            .nodes
            .iter()
            .map(|n| node_pb(n, w))
            .collect::<Result<_, _>>()?,
        value_info: g.value_info.values().map(value_info_pb).collect(),
    })
}

fn node_pb(n: &Node, w: &mut Weights) -> Result<pb::Node, EngineError> {
    let mut attributes = Vec::with_capacity(n.attrs.0.len());
    for (name, a) in &n.attrs.0 {
        use pb::attribute::Value as V;
        let value = match a {
            Attribute::Float(f) => V::F(*f),
            Attribute::Int(i) => V::I(*i),
            Attribute::String(s) => V::S(s.clone()),
            Attribute::Tensor(t) => V::T(w.tensor("", t)?),
            Attribute::Graph(g) => V::G(graph_pb(g, w)?),
            Attribute::Floats(v) => V::Floats(pb::Floats { values: v.clone() }),
            Attribute::Ints(v) => V::Ints(pb::Ints { values: v.clone() }),
            Attribute::Strings(v) => V::Strings(pb::Strings { values: v.clone() }),
            Attribute::Tensors(v) => V::Tensors(pb::TensorList {
                values: v
                    .iter()
                    .map(|t| w.tensor("", t))
                    .collect::<Result<_, _>>()?,
            }),
            Attribute::Graphs(v) => V::Graphs(pb::GraphList {
                values: v.iter().map(|g| graph_pb(g, w)).collect::<Result<_, _>>()?,
            }),
        };
        attributes.push(pb::Attribute {
            name: name.clone(),
            value: Some(value),
        });
    }
    Ok(pb::Node {
        name: n.name.clone(),
        op_type: n.op_type().to_string(),
        domain: n.domain.clone(),
        attributes,
        inputs: n.inputs.clone(),
        outputs: n.outputs.clone(),
    })
}

pub(crate) fn target_pb(t: &TargetFingerprint) -> pb::Target {
    pb::Target {
        backend: t.backend.clone(),
        arch: t.arch.clone(),
        features: t.features.clone(),
    }
}

fn layer_pb(l: &LayerInfo) -> pb::Layer {
    let maybe = |s: &Option<Shape>| pb::MaybeShape {
        shape: s.as_ref().map(shape_pb),
    };
    pb::Layer {
        name: l.name.clone(),
        op_type: l.op_type.clone(),
        fused: l.fused.clone(),
        tactic: l.tactic.clone(),
        precision: l.precision.clone(),
        input_shapes: l.input_shapes.iter().map(maybe).collect(),
        output_shapes: l.output_shapes.iter().map(maybe).collect(),
        time_us: l.time_us,
        choice: l.choice.as_str().to_string(),
    }
}

fn memory_pb(m: &MemoryPlan) -> pb::MemoryPlan {
    pb::MemoryPlan {
        peak_bytes: m.peak_bytes,
        naive_bytes: m.naive_bytes,
        buffers: m
            .buffers
            .iter()
            .map(|b| pb::Buffer {
                value: b.value.clone(),
                offset: b.offset,
                size: b.size,
                first_layer: b.first_layer as u32,
                last_layer: b.last_layer as u32,
            })
            .collect(),
    }
}

/// Serialize an engine into plan file bytes.
pub(crate) fn encode_engine(inner: &Inner) -> Result<Vec<u8>, EngineError> {
    let mut w = Weights::default();
    let header = pb::PlanHeader {
        kiln_version: env!("CARGO_PKG_VERSION").to_string(),
        target: Some(target_pb(&inner.target)),
        graph: Some(graph_pb(&inner.graph, &mut w)?),
        layers: inner.layers.iter().map(layer_pb).collect(),
        memory: Some(memory_pb(&inner.memory)),
        weights_length: 0,
        passes: inner
            .passes
            .iter()
            .map(|p| pb::PassReport {
                pass: p.pass.clone(),
                changes: p.changes.clone(),
            })
            .collect(),
        profiles: inner
            .profiles
            .iter()
            .map(|p| pb::ShapeProfile {
                input: p.input.clone(),
                min: p.min.iter().map(|&d| d as u64).collect(),
                opt: p.opt.iter().map(|&d| d as u64).collect(),
                max: p.max.iter().map(|&d| d as u64).collect(),
            })
            .collect(),
    };
    Ok(write_container(&header, &w.buf))
}
