//! `TypeProto` -> [`kiln_core::ValueType`], keeping symbolic dimensions.

use crate::OnnxError;
use crate::dtype::require_dtype;
use crate::pb;
use crate::pb::tensor_shape_proto::dimension::Value as DimValue;
use crate::pb::type_proto::Value as TypeValue;
use kiln_core::{Dim, Shape, TensorFact, ValueInfo, ValueType};

/// Convert a shape: `dim_value` -> fixed, `dim_param` -> symbol, neither -> unknown.
pub fn shape_from_proto(sp: &pb::TensorShapeProto) -> Shape {
    Shape(
        sp.dim
            .iter()
            .map(|d| match &d.value {
                Some(DimValue::DimValue(v)) => usize::try_from(*v).map_or(Dim::Unknown, Dim::Fixed),
                Some(DimValue::DimParam(s)) if !s.is_empty() => Dim::Sym(s.clone()),
                _ => Dim::Unknown,
            })
            .collect(),
    )
}

/// Convert a type. An absent type is an unknown tensor; maps, sparse tensors and opaque
/// types are unsupported; element types Kiln lacks give [`OnnxError::UnsupportedDataType`].
pub fn type_from_proto(tp: Option<&pb::TypeProto>, what: &str) -> Result<ValueType, OnnxError> {
    let Some(tp) = tp else {
        return Ok(ValueType::default());
    };
    Ok(match &tp.value {
        None => ValueType::default(),
        Some(TypeValue::TensorType(t)) => {
            let dtype = match t.elem_type() {
                0 => None,
                code => Some(require_dtype(code, what)?),
            };
            ValueType::Tensor(TensorFact {
                dtype,
                shape: t.shape.as_ref().map(shape_from_proto),
            })
        }
        Some(TypeValue::SequenceType(s)) => {
            ValueType::Sequence(Box::new(type_from_proto(s.elem_type.as_deref(), what)?))
        }
        Some(TypeValue::OptionalType(o)) => {
            ValueType::Optional(Box::new(type_from_proto(o.elem_type.as_deref(), what)?))
        }
        Some(TypeValue::MapType(_)) => {
            return Err(OnnxError::Type(format!(
                "{what}: map types are not supported"
            )));
        }
        Some(TypeValue::SparseTensorType(_)) => {
            return Err(OnnxError::Type(format!(
                "{what}: sparse tensor types are not supported"
            )));
        }
        Some(TypeValue::OpaqueType(_)) => {
            return Err(OnnxError::Type(format!(
                "{what}: opaque types are not supported"
            )));
        }
    })
}

/// Convert a `ValueInfoProto`.
pub fn value_info_from_proto(vi: &pb::ValueInfoProto) -> Result<ValueInfo, OnnxError> {
    Ok(ValueInfo {
        name: vi.name().to_string(),
        ty: type_from_proto(vi.r#type.as_ref(), &format!("value '{}'", vi.name()))?,
    })
}
