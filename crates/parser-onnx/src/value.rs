//! Run-time values from protobuf files (`TensorProto`, `SequenceProto`, `OptionalProto`),
//! as the ONNX test data sets store them.

use crate::tensor::{sparse_from_proto, tensor_from_proto};
use crate::{OnnxError, pb};
use kiln_core::{Tensor, Value, ValueType};
use prost::Message;

const MEMORY: &str = "<memory>";

/// Decode a `TensorProto` file (`input_0.pb`, ...). External data is not allowed here.
pub fn tensor_from_pb(bytes: &[u8]) -> Result<Tensor, OnnxError> {
    let tp =
        pb::TensorProto::decode(bytes).map_err(|e| OnnxError::decode(MEMORY, "TensorProto", e))?;
    tensor_from_proto(&tp, None)
}

/// Decode a value file according to its type: a tensor type reads a `TensorProto`, a
/// sequence type a `SequenceProto`, an optional type an `OptionalProto`.
pub fn value_from_pb(bytes: &[u8], ty: &ValueType) -> Result<Value, OnnxError> {
    match ty {
        ValueType::Tensor(_) => Ok(Value::Tensor(tensor_from_pb(bytes)?)),
        ValueType::Sequence(_) => {
            let sp = pb::SequenceProto::decode(bytes)
                .map_err(|e| OnnxError::decode(MEMORY, "SequenceProto", e))?;
            sequence_value(&sp)
        }
        ValueType::Optional(inner) => {
            let op = pb::OptionalProto::decode(bytes)
                .map_err(|e| OnnxError::decode(MEMORY, "OptionalProto", e))?;
            optional_value(&op, inner)
        }
    }
}

/// A sequence of tensors (sequences of sequences, maps or optionals are not supported).
fn sequence_value(sp: &pb::SequenceProto) -> Result<Value, OnnxError> {
    // elem_type: 1 tensor, 2 sparse tensor, 3 sequence, 4 map, 5 optional.
    match sp.elem_type() {
        0 | 1 => {
            let tensors = sp
                .tensor_values
                .iter()
                .map(|t| tensor_from_proto(t, None))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Sequence(tensors))
        }
        2 => {
            let tensors = sp
                .sparse_tensor_values
                .iter()
                .map(|t| sparse_from_proto(t, None))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Sequence(tensors))
        }
        other => Err(OnnxError::Type(format!(
            "sequence '{}': element kind {other} is not supported (only tensors)",
            sp.name()
        ))),
    }
}

/// An optional value: absent when the proto holds nothing.
fn optional_value(op: &pb::OptionalProto, inner: &ValueType) -> Result<Value, OnnxError> {
    let value = match op.elem_type() {
        0 => None,
        1 => op
            .tensor_value
            .as_ref()
            .map(|t| tensor_from_proto(t, None).map(Value::Tensor))
            .transpose()?,
        2 => op
            .sparse_tensor_value
            .as_ref()
            .map(|t| sparse_from_proto(t, None).map(Value::Tensor))
            .transpose()?,
        3 => op.sequence_value.as_ref().map(sequence_value).transpose()?,
        5 => match (&op.optional_value, inner) {
            (Some(o), ValueType::Optional(i)) => Some(optional_value(o, i)?),
            (Some(o), _) => Some(optional_value(o, inner)?),
            (None, _) => None,
        },
        other => {
            return Err(OnnxError::Type(format!(
                "optional '{}': element kind {other} is not supported",
                op.name()
            )));
        }
    };
    if let Some(v) = &value {
        let fits = matches!(
            (v, inner),
            (Value::Tensor(_), ValueType::Tensor(_))
                | (Value::Sequence(_), ValueType::Sequence(_))
                | (Value::Optional(_), ValueType::Optional(_))
        );
        if !fits {
            return Err(OnnxError::Type(format!(
                "optional '{}' holds a value that does not fit its declared type",
                op.name()
            )));
        }
    }
    Ok(Value::Optional(value.map(Box::new)))
}
