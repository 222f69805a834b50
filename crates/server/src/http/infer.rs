//! KServe v2 HTTP inference bodies: the JSON form and the binary tensor data extension
//! (`Inference-Header-Content-Length`, `binary_data_size`, `binary_data`,
//! `binary_data_output`), in both directions.

use crate::error::{Result, ServerError};
use crate::request::{InferRequest, InferResponse, RequestedOutput};
use crate::tensor::{Datatype, InferTensor, TensorData, element_count};
use kiln_core::half::{bf16, f16};
use serde_json::{Map, Value, json};

/// Parse an infer body. `header_len` is the `Inference-Header-Content-Length` value: the
/// JSON header's length, binary tensor data following it. Returns the request and the
/// request-wide `binary_data_output` default.
pub fn parse_request(
    model: &str,
    version: Option<i64>,
    body: &[u8],
    header_len: Option<usize>,
) -> Result<(InferRequest, bool)> {
    let json_len = header_len.unwrap_or(body.len());
    if json_len > body.len() {
        return Err(ServerError::InvalidArg(format!(
            "Inference-Header-Content-Length {json_len} is larger than the request body ({} bytes)",
            body.len()
        )));
    }
    let (head, mut binary) = body.split_at(json_len);
    let doc: Value = serde_json::from_slice(head)
        .map_err(|e| ServerError::InvalidArg(format!("failed to parse the request JSON: {e}")))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| ServerError::InvalidArg("the request JSON is not an object".into()))?;
    let params = obj.get("parameters").and_then(Value::as_object);
    let param_u64 = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_u64);
    let binary_default = params
        .and_then(|p| p.get("binary_data_output"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut req = InferRequest {
        model: model.to_string(),
        version,
        id: obj
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        priority: param_u64("priority").unwrap_or(0).min(u32::MAX as u64) as u32,
        timeout_us: param_u64("timeout").unwrap_or(0),
        ..InferRequest::default()
    };
    let inputs = obj
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ServerError::InvalidArg("the request has no 'inputs' array".into()))?;
    for input in inputs {
        let t = parse_input(input, &mut binary)?;
        req.inputs.push(t);
    }
    if !binary.is_empty() {
        return Err(ServerError::InvalidArg(format!(
            "the request has {} bytes of binary data that no input claims",
            binary.len()
        )));
    }
    if let Some(outputs) = obj.get("outputs").and_then(Value::as_array) {
        for o in outputs {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ServerError::InvalidArg("an output has no 'name'".into()))?;
            let p = o.get("parameters").and_then(Value::as_object);
            req.outputs.push(RequestedOutput {
                name: name.to_string(),
                class_count: p
                    .and_then(|p| p.get("classification"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32,
                binary: p
                    .and_then(|p| p.get("binary_data"))
                    .and_then(Value::as_bool),
            });
        }
    }
    Ok((req, binary_default))
}

fn parse_input(input: &Value, binary: &mut &[u8]) -> Result<InferTensor> {
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ServerError::InvalidArg("an input has no 'name'".into()))?;
    let dt_name = input
        .get("datatype")
        .and_then(Value::as_str)
        .ok_or_else(|| ServerError::InvalidArg(format!("input '{name}' has no 'datatype'")))?;
    let datatype = Datatype::parse(dt_name).ok_or_else(|| {
        ServerError::InvalidArg(format!("input '{name}' has unknown datatype '{dt_name}'"))
    })?;
    let shape: Vec<i64> = input
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| ServerError::InvalidArg(format!("input '{name}' has no 'shape'")))?
        .iter()
        .map(|d| {
            d.as_i64().ok_or_else(|| {
                ServerError::InvalidArg(format!("input '{name}' has a non-integer dimension"))
            })
        })
        .collect::<Result<_>>()?;
    let bin_size = input
        .get("parameters")
        .and_then(|p| p.get("binary_data_size"))
        .and_then(Value::as_u64);
    if let Some(size) = bin_size {
        let size = size as usize;
        if size > binary.len() {
            return Err(ServerError::InvalidArg(format!(
                "unexpected end of binary data for input '{name}': {size} bytes expected, \
                 {} remain",
                binary.len()
            )));
        }
        let (mine, rest) = binary.split_at(size);
        *binary = rest;
        return InferTensor::from_raw(name, datatype, shape, mine.to_vec());
    }
    let data = input.get("data").ok_or_else(|| {
        ServerError::InvalidArg(format!("input '{name}' has neither 'data' nor binary data"))
    })?;
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    let count = element_count(&shape)
        .ok_or_else(|| ServerError::InvalidArg(format!("input '{name}' has an invalid shape")))?;
    if flat.len() != count {
        return Err(ServerError::InvalidArg(format!(
            "unexpected number of elements {} for input '{name}', expecting {count} for shape {:?}",
            flat.len(),
            shape
        )));
    }
    let data = json_to_data(name, datatype, &flat)?;
    Ok(InferTensor {
        name: name.to_string(),
        datatype,
        shape,
        data,
    })
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

fn json_to_data(name: &str, dt: Datatype, vals: &[&Value]) -> Result<TensorData> {
    let bad = |v: &Value| {
        ServerError::InvalidArg(format!(
            "unable to parse 'data' of input '{name}': {v} is not a valid {} value",
            dt.as_str()
        ))
    };
    if dt == Datatype::Bytes {
        return vals
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.as_bytes().to_vec())
                    .ok_or_else(|| bad(v))
            })
            .collect::<Result<_>>()
            .map(TensorData::Bytes);
    }
    let mut raw = Vec::with_capacity(vals.len() * dt.size().unwrap_or(1));
    macro_rules! ints {
        ($t:ty) => {
            for v in vals {
                let x = v.as_i64().and_then(|x| <$t>::try_from(x).ok());
                let x = match x {
                    Some(x) => x,
                    None => v
                        .as_u64()
                        .and_then(|x| <$t>::try_from(x).ok())
                        .ok_or_else(|| bad(v))?,
                };
                raw.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match dt {
        Datatype::Bool => {
            for v in vals {
                raw.push(v.as_bool().ok_or_else(|| bad(v))? as u8);
            }
        }
        Datatype::Uint8 => ints!(u8),
        Datatype::Uint16 => ints!(u16),
        Datatype::Uint32 => ints!(u32),
        Datatype::Uint64 => ints!(u64),
        Datatype::Int8 => ints!(i8),
        Datatype::Int16 => ints!(i16),
        Datatype::Int32 => ints!(i32),
        Datatype::Int64 => ints!(i64),
        Datatype::Fp16 | Datatype::Bf16 | Datatype::Fp32 | Datatype::Fp64 => {
            for v in vals {
                let x = v.as_f64().ok_or_else(|| bad(v))?;
                match dt {
                    Datatype::Fp16 => raw.extend_from_slice(&f16::from_f64(x).to_le_bytes()),
                    Datatype::Bf16 => raw.extend_from_slice(&bf16::from_f64(x).to_le_bytes()),
                    Datatype::Fp32 => raw.extend_from_slice(&(x as f32).to_le_bytes()),
                    _ => raw.extend_from_slice(&x.to_le_bytes()),
                }
            }
        }
        Datatype::Bytes => unreachable!("handled above"),
    }
    Ok(TensorData::Raw(raw))
}

/// The elements of a tensor as a flat JSON array.
pub fn data_to_json(t: &InferTensor) -> Value {
    match &t.data {
        TensorData::Bytes(items) => Value::Array(
            items
                .iter()
                .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
                .collect(),
        ),
        TensorData::Raw(raw) => {
            macro_rules! nums {
                ($t:ty, $n:literal) => {
                    raw.chunks_exact($n)
                        .map(|c| json!(<$t>::from_le_bytes(c.try_into().expect("chunk"))))
                        .collect()
                };
            }
            let v: Vec<Value> = match t.datatype {
                Datatype::Bool => raw.iter().map(|&b| json!(b != 0)).collect(),
                Datatype::Uint8 => nums!(u8, 1),
                Datatype::Uint16 => nums!(u16, 2),
                Datatype::Uint32 => nums!(u32, 4),
                Datatype::Uint64 => nums!(u64, 8),
                Datatype::Int8 => nums!(i8, 1),
                Datatype::Int16 => nums!(i16, 2),
                Datatype::Int32 => nums!(i32, 4),
                Datatype::Int64 => nums!(i64, 8),
                Datatype::Fp32 => nums!(f32, 4),
                Datatype::Fp64 => nums!(f64, 8),
                Datatype::Fp16 => raw
                    .chunks_exact(2)
                    .map(|c| json!(f16::from_le_bytes([c[0], c[1]]).to_f32()))
                    .collect(),
                Datatype::Bf16 => raw
                    .chunks_exact(2)
                    .map(|c| json!(bf16::from_le_bytes([c[0], c[1]]).to_f32()))
                    .collect(),
                Datatype::Bytes => Vec::new(),
            };
            Value::Array(v)
        }
    }
}

/// Encode a response: `(body, Some(json_header_len))` when any output is binary.
pub fn encode_response(
    resp: &InferResponse,
    requested: &[RequestedOutput],
    binary_default: bool,
) -> (Vec<u8>, Option<usize>) {
    let mut outputs = Vec::with_capacity(resp.outputs.len());
    let mut binary = Vec::new();
    let mut any_binary = false;
    for t in &resp.outputs {
        let as_binary = requested
            .iter()
            .find(|o| o.name == t.name)
            .and_then(|o| o.binary)
            .unwrap_or(binary_default);
        let mut o = Map::new();
        o.insert("name".into(), json!(t.name));
        o.insert("datatype".into(), json!(t.datatype.as_str()));
        o.insert("shape".into(), json!(t.shape));
        if as_binary {
            any_binary = true;
            let bytes = t.to_raw_bytes();
            o.insert(
                "parameters".into(),
                json!({"binary_data_size": bytes.len()}),
            );
            binary.extend_from_slice(&bytes);
        } else {
            o.insert("data".into(), data_to_json(t));
        }
        outputs.push(Value::Object(o));
    }
    let mut doc = Map::new();
    if !resp.id.is_empty() {
        doc.insert("id".into(), json!(resp.id));
    }
    doc.insert("model_name".into(), json!(resp.model));
    doc.insert("model_version".into(), json!(resp.version));
    doc.insert("outputs".into(), Value::Array(outputs));
    let mut body = serde_json::to_vec(&Value::Object(doc)).unwrap_or_default();
    if !any_binary {
        return (body, None);
    }
    let header_len = body.len();
    body.extend_from_slice(&binary);
    (body, Some(header_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_binary_inputs() {
        let head = br#"{"inputs":[{"name":"A","datatype":"INT32","shape":[1,2],"data":[[1,2]]},
            {"name":"B","datatype":"FP32","shape":[1,1],"parameters":{"binary_data_size":4}}],
            "outputs":[{"name":"Y","parameters":{"binary_data":true}}]}"#;
        let mut body = head.to_vec();
        body.extend_from_slice(&2.5f32.to_le_bytes());
        let (req, bin) = parse_request("m", None, &body, Some(head.len())).unwrap();
        assert!(!bin);
        assert_eq!(
            req.inputs[0].data,
            TensorData::Raw(vec![1, 0, 0, 0, 2, 0, 0, 0])
        );
        assert_eq!(
            req.inputs[1].data,
            TensorData::Raw(2.5f32.to_le_bytes().to_vec())
        );
        assert_eq!(req.outputs[0].binary, Some(true));
        // Truncated binary data.
        let e = parse_request("m", None, &body[..body.len() - 1], Some(head.len())).unwrap_err();
        assert!(
            e.to_string().contains("unexpected end of binary data"),
            "{e}"
        );
        // Wrong element count.
        let bad = br#"{"inputs":[{"name":"A","datatype":"INT32","shape":[3],"data":[1,2]}]}"#;
        assert!(parse_request("m", None, bad, None).is_err());
    }
}
