//! `AttributeProto` -> [`kiln_core::Attribute`]; graph attributes import recursively.

use crate::dtype::onnx_dtype_name;
use crate::import::{GraphScope, ModelImporter};
use crate::pb::attribute_proto::AttributeType;
use crate::tensor::{sparse_from_proto, tensor_from_proto};
use crate::{DiagnosticCode, OnnxError, pb};
use kiln_core::Attribute;
use std::sync::Arc;

/// Why an attribute could not be converted: a diagnostic code and message.
pub(crate) type AttrProblem = (DiagnosticCode, String);

fn tensor_problem(attr: &str, e: OnnxError) -> AttrProblem {
    let code = match e {
        OnnxError::UnsupportedDataType { .. } => DiagnosticCode::UnsupportedDataType,
        _ => DiagnosticCode::InvalidNode,
    };
    (code, format!("attribute '{attr}': {e}"))
}

/// The attribute's type: the `type` field, or for old models without it, the field set.
fn attr_type(a: &pb::AttributeProto) -> AttributeType {
    let t = a.r#type();
    if t != AttributeType::Undefined {
        return t;
    }
    if a.f.is_some() {
        AttributeType::Float
    } else if a.i.is_some() {
        AttributeType::Int
    } else if a.s.is_some() {
        AttributeType::String
    } else if a.t.is_some() {
        AttributeType::Tensor
    } else if a.g.is_some() {
        AttributeType::Graph
    } else if a.sparse_tensor.is_some() {
        AttributeType::SparseTensor
    } else if !a.floats.is_empty() {
        AttributeType::Floats
    } else if !a.ints.is_empty() {
        AttributeType::Ints
    } else if !a.strings.is_empty() {
        AttributeType::Strings
    } else if !a.tensors.is_empty() {
        AttributeType::Tensors
    } else if !a.graphs.is_empty() {
        AttributeType::Graphs
    } else {
        AttributeType::Undefined
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl ModelImporter<'_> {
    /// Convert one attribute of node `node_name`. Graph attributes are imported as subgraphs
    /// of `scope` (their problems are reported like those of any other graph).
    pub(crate) fn convert_attr(
        &mut self,
        a: &pb::AttributeProto,
        node_name: &str,
        scope: &GraphScope<'_>,
    ) -> Result<Attribute, AttrProblem> {
        let name = a.name();
        let base = self.base_dir;
        Ok(match attr_type(a) {
            AttributeType::Float => Attribute::Float(a.f()),
            AttributeType::Int => Attribute::Int(a.i()),
            AttributeType::String => Attribute::String(text(a.s())),
            AttributeType::Floats => Attribute::Floats(a.floats.clone()),
            AttributeType::Ints => Attribute::Ints(a.ints.clone()),
            AttributeType::Strings => {
                Attribute::Strings(a.strings.iter().map(|s| text(s)).collect())
            }
            AttributeType::Tensor => {
                let t = a.t.as_ref().ok_or_else(|| {
                    (
                        DiagnosticCode::InvalidNode,
                        format!("attribute '{name}': tensor missing"),
                    )
                })?;
                Attribute::Tensor(tensor_from_proto(t, base).map_err(|e| tensor_problem(name, e))?)
            }
            AttributeType::SparseTensor => {
                let t = a.sparse_tensor.as_ref().ok_or_else(|| {
                    (
                        DiagnosticCode::InvalidNode,
                        format!("attribute '{name}': sparse tensor missing"),
                    )
                })?;
                Attribute::Tensor(sparse_from_proto(t, base).map_err(|e| tensor_problem(name, e))?)
            }
            AttributeType::Tensors => Attribute::Tensors(
                a.tensors
                    .iter()
                    .map(|t| tensor_from_proto(t, base))
                    .collect::<Result<_, _>>()
                    .map_err(|e| tensor_problem(name, e))?,
            ),
            AttributeType::SparseTensors => Attribute::Tensors(
                a.sparse_tensors
                    .iter()
                    .map(|t| sparse_from_proto(t, base))
                    .collect::<Result<_, _>>()
                    .map_err(|e| tensor_problem(name, e))?,
            ),
            AttributeType::Graph => {
                let g = a.g.as_ref().ok_or_else(|| {
                    (
                        DiagnosticCode::InvalidNode,
                        format!("attribute '{name}': graph missing"),
                    )
                })?;
                let path = format!("{}/{node_name}.{name}", scope.path);
                Attribute::Graph(Arc::new(self.import_graph(g, &path, scope)))
            }
            AttributeType::Graphs => Attribute::Graphs(
                a.graphs
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let path = format!("{}/{node_name}.{name}[{i}]", scope.path);
                        Arc::new(self.import_graph(g, &path, scope))
                    })
                    .collect(),
            ),
            AttributeType::TypeProto | AttributeType::TypeProtos => {
                return Err((
                    DiagnosticCode::UnsupportedAttribute,
                    format!("attribute '{name}': type-valued attributes are not supported"),
                ));
            }
            AttributeType::Undefined => {
                return Err((
                    DiagnosticCode::InvalidNode,
                    format!("attribute '{name}' has no value"),
                ));
            }
        })
    }
}

/// Attributes of specific ops that name an element type (`Cast.to`, ...).
pub(crate) const DTYPE_ATTRS: &[(&str, &str)] = &[
    ("Cast", "to"),
    ("EyeLike", "dtype"),
    ("RandomNormal", "dtype"),
    ("RandomNormalLike", "dtype"),
    ("RandomUniform", "dtype"),
    ("RandomUniformLike", "dtype"),
    ("Multinomial", "dtype"),
    ("Bernoulli", "dtype"),
    ("QuantizeLinear", "output_dtype"),
    ("DequantizeLinear", "output_dtype"),
    ("BlackmanWindow", "output_datatype"),
    ("HammingWindow", "output_datatype"),
    ("HannWindow", "output_datatype"),
    ("MelWeightMatrix", "output_datatype"),
    ("SequenceEmpty", "dtype"),
    ("TfIdfVectorizer", "dtype"),
    ("BitCast", "to"),
];

/// For a data-type attribute with a type Kiln lacks: the type's name.
pub(crate) fn unsupported_dtype_attr(op_type: &str, a: &pb::AttributeProto) -> Option<String> {
    let listed = DTYPE_ATTRS
        .iter()
        .any(|(op, attr)| *op == op_type && *attr == a.name());
    if !listed || attr_type(a) != AttributeType::Int {
        return None;
    }
    let code = i32::try_from(a.i()).unwrap_or(-1);
    // 0 means "unset / default" for the optional output-type attributes.
    if code == 0 || crate::dtype::dtype_from_onnx(code).is_some() {
        return None;
    }
    Some(onnx_dtype_name(code))
}
