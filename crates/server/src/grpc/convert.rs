//! Conversion between the gRPC messages and the core's requests and responses:
//! `raw_input_contents` or typed `contents` in, `raw_output_contents` out.

use crate::error::{Result, ServerError};
use crate::proto::inference::infer_parameter::ParameterChoice;
use crate::proto::inference::model_infer_response::InferOutputTensor;
use crate::proto::inference::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse,
};
use crate::request::{InferRequest, InferResponse, RequestedOutput};
use crate::tensor::{Datatype, InferTensor, TensorData, element_count};
use std::collections::HashMap;

fn param_u64(p: &HashMap<String, InferParameter>, key: &str) -> Option<u64> {
    match p.get(key)?.parameter_choice.as_ref()? {
        ParameterChoice::Int64Param(v) => u64::try_from(*v).ok(),
        ParameterChoice::Uint64Param(v) => Some(*v),
        _ => None,
    }
}

/// The core request of a `ModelInferRequest`.
pub fn to_request(m: ModelInferRequest) -> Result<InferRequest> {
    let version = crate::core::parse_version(&m.model_version)?;
    let raw = !m.raw_input_contents.is_empty();
    if raw && m.raw_input_contents.len() != m.inputs.len() {
        return Err(ServerError::InvalidArg(format!(
            "expected {} raw_input_contents, one per input, got {}",
            m.inputs.len(),
            m.raw_input_contents.len()
        )));
    }
    let mut raw_iter = m.raw_input_contents.into_iter();
    let mut inputs = Vec::with_capacity(m.inputs.len());
    for i in m.inputs {
        let datatype = Datatype::parse(&i.datatype).ok_or_else(|| {
            ServerError::InvalidArg(format!(
                "input '{}' has unknown datatype '{}'",
                i.name, i.datatype
            ))
        })?;
        let t = if raw {
            if i.contents.is_some() {
                return Err(ServerError::InvalidArg(format!(
                    "contents field must not be specified when using raw_input_contents for \
                     '{}' for model '{}'",
                    i.name, m.model_name
                )));
            }
            let bytes = raw_iter.next().unwrap_or_default();
            InferTensor::from_raw(&i.name, datatype, i.shape, bytes)?
        } else {
            let c = i.contents.unwrap_or_default();
            let count = element_count(&i.shape).ok_or_else(|| {
                ServerError::InvalidArg(format!("input '{}' has an invalid shape", i.name))
            })?;
            let data = typed_to_data(&i.name, datatype, c, count)?;
            InferTensor {
                name: i.name,
                datatype,
                shape: i.shape,
                data,
            }
        };
        inputs.push(t);
    }
    let outputs = m
        .outputs
        .into_iter()
        .map(|o| RequestedOutput {
            class_count: param_u64(&o.parameters, "classification").unwrap_or(0) as u32,
            name: o.name,
            binary: None,
        })
        .collect();
    Ok(InferRequest {
        model: m.model_name,
        version,
        id: m.id,
        inputs,
        outputs,
        priority: param_u64(&m.parameters, "priority")
            .unwrap_or(0)
            .min(u32::MAX as u64) as u32,
        timeout_us: param_u64(&m.parameters, "timeout").unwrap_or(0),
    })
}

fn typed_to_data(
    name: &str,
    dt: Datatype,
    c: InferTensorContents,
    count: usize,
) -> Result<TensorData> {
    fn le<T, const N: usize>(v: impl IntoIterator<Item = T>, f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        v.into_iter().flat_map(f).collect()
    }
    let (raw, n) = match dt {
        Datatype::Bool => (
            c.bool_contents
                .iter()
                .map(|&b| b as u8)
                .collect::<Vec<u8>>(),
            c.bool_contents.len(),
        ),
        Datatype::Int8 => (
            le(c.int_contents.iter().map(|&x| x as i8), i8::to_le_bytes),
            c.int_contents.len(),
        ),
        Datatype::Int16 => (
            le(c.int_contents.iter().map(|&x| x as i16), i16::to_le_bytes),
            c.int_contents.len(),
        ),
        Datatype::Int32 => (
            le(c.int_contents.iter().copied(), i32::to_le_bytes),
            c.int_contents.len(),
        ),
        Datatype::Int64 => (
            le(c.int64_contents.iter().copied(), i64::to_le_bytes),
            c.int64_contents.len(),
        ),
        Datatype::Uint8 => (
            le(c.uint_contents.iter().map(|&x| x as u8), u8::to_le_bytes),
            c.uint_contents.len(),
        ),
        Datatype::Uint16 => (
            le(c.uint_contents.iter().map(|&x| x as u16), u16::to_le_bytes),
            c.uint_contents.len(),
        ),
        Datatype::Uint32 => (
            le(c.uint_contents.iter().copied(), u32::to_le_bytes),
            c.uint_contents.len(),
        ),
        Datatype::Uint64 => (
            le(c.uint64_contents.iter().copied(), u64::to_le_bytes),
            c.uint64_contents.len(),
        ),
        Datatype::Fp32 => (
            le(c.fp32_contents.iter().copied(), f32::to_le_bytes),
            c.fp32_contents.len(),
        ),
        Datatype::Fp64 => (
            le(c.fp64_contents.iter().copied(), f64::to_le_bytes),
            c.fp64_contents.len(),
        ),
        Datatype::Bytes => {
            if c.bytes_contents.len() != count {
                return Err(count_error(name, c.bytes_contents.len(), count));
            }
            return Ok(TensorData::Bytes(c.bytes_contents));
        }
        Datatype::Fp16 | Datatype::Bf16 => {
            return Err(ServerError::InvalidArg(format!(
                "input '{name}': {} data must be sent in raw_input_contents",
                dt.as_str()
            )));
        }
    };
    if n != count {
        return Err(count_error(name, n, count));
    }
    Ok(TensorData::Raw(raw))
}

fn count_error(name: &str, got: usize, want: usize) -> ServerError {
    ServerError::InvalidArg(format!(
        "unexpected number of elements {got} in the contents of input '{name}', expecting {want}"
    ))
}

/// The `ModelInferResponse` of a core response (outputs as raw contents).
pub fn to_response(r: InferResponse) -> ModelInferResponse {
    let mut outputs = Vec::with_capacity(r.outputs.len());
    let mut raw = Vec::with_capacity(r.outputs.len());
    for t in r.outputs {
        raw.push(t.to_raw_bytes());
        outputs.push(InferOutputTensor {
            name: t.name,
            datatype: t.datatype.as_str().to_string(),
            shape: t.shape,
            parameters: HashMap::new(),
            contents: None,
        });
    }
    ModelInferResponse {
        model_name: r.model,
        model_version: r.version,
        id: r.id,
        parameters: HashMap::new(),
        outputs,
        raw_output_contents: raw,
    }
}
