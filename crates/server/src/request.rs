//! Inference requests and responses as the core sees them (frontend-independent), the
//! model signature taken from its configuration, and request validation.

use crate::error::{Result, ServerError};
use crate::proto::inference::ModelConfig;
use crate::tensor::{Datatype, InferTensor, element_count};

/// An output the client asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
    /// Classification extension: return the top `class_count` classes instead of the tensor.
    pub class_count: u32,
    /// HTTP binary data extension: return this output as binary (`None`: request default).
    pub binary: Option<bool>,
}

/// A request to run a model.
#[derive(Clone, Debug, Default)]
pub struct InferRequest {
    /// Model name.
    pub model: String,
    /// Model version (`None`: the latest ready version).
    pub version: Option<i64>,
    /// Client id, echoed in the response.
    pub id: String,
    /// Input tensors.
    pub inputs: Vec<InferTensor>,
    /// Requested outputs (empty: all outputs).
    pub outputs: Vec<RequestedOutput>,
    /// Priority level (0: the model's default).
    pub priority: u32,
    /// Queue timeout in microseconds (0: the model's default).
    pub timeout_us: u64,
}

/// The result of a request.
#[derive(Clone, Debug, Default)]
pub struct InferResponse {
    /// Model name.
    pub model: String,
    /// Version that ran it.
    pub version: String,
    /// The request's id.
    pub id: String,
    /// Output tensors, in the order requested (or the model's order).
    pub outputs: Vec<InferTensor>,
}

/// One input or output of a model, from its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Name.
    pub name: String,
    /// Element type.
    pub datatype: Datatype,
    /// Dimensions without the batch dimension (-1: any).
    pub dims: Vec<i64>,
    /// Shape the model itself sees (config `reshape`), without the batch dimension.
    pub reshape: Option<Vec<i64>>,
    /// An input the request may leave out.
    pub optional: bool,
    /// Labels file name (outputs, classification).
    pub label_filename: String,
}

/// Inputs and outputs of a model and its batching.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    /// 0: the model does not batch; else the largest batch.
    pub max_batch_size: u32,
    /// Inputs.
    pub inputs: Vec<TensorSpec>,
    /// Outputs.
    pub outputs: Vec<TensorSpec>,
}

impl Signature {
    /// The signature of a (completed) model configuration.
    pub fn from_config(cfg: &ModelConfig) -> Result<Signature> {
        let dt = |what: &str, name: &str, v: i32| {
            Datatype::from_config(v).ok_or_else(|| {
                ServerError::InvalidArg(format!(
                    "model '{}': {what} '{name}' has no valid data_type",
                    cfg.name
                ))
            })
        };
        let mut inputs = Vec::new();
        for i in &cfg.input {
            inputs.push(TensorSpec {
                name: i.name.clone(),
                datatype: dt("input", &i.name, i.data_type)?,
                dims: i.dims.clone(),
                reshape: i.reshape.as_ref().map(|r| r.shape.clone()),
                optional: i.optional,
                label_filename: String::new(),
            });
        }
        let mut outputs = Vec::new();
        for o in &cfg.output {
            outputs.push(TensorSpec {
                name: o.name.clone(),
                datatype: dt("output", &o.name, o.data_type)?,
                dims: o.dims.clone(),
                reshape: o.reshape.as_ref().map(|r| r.shape.clone()),
                optional: false,
                label_filename: o.label_filename.clone(),
            });
        }
        Ok(Signature {
            max_batch_size: cfg.max_batch_size.max(0) as u32,
            inputs,
            outputs,
        })
    }

    /// The full shape of a tensor as the protocol shows it (`-1` batch first when batching).
    pub fn full_dims(&self, spec: &TensorSpec) -> Vec<i64> {
        let mut d = Vec::with_capacity(spec.dims.len() + 1);
        if self.max_batch_size > 0 {
            d.push(-1);
        }
        d.extend_from_slice(&spec.dims);
        d
    }

    /// Check a request against the signature; returns its batch size (1 when the model does
    /// not batch). Messages follow Triton's.
    pub fn check(&self, model: &str, req: &InferRequest) -> Result<usize> {
        let required = self.inputs.iter().filter(|s| !s.optional).count();
        for t in &req.inputs {
            if !self.inputs.iter().any(|s| s.name == t.name) {
                return Err(ServerError::InvalidArg(format!(
                    "unexpected inference input '{}' for model '{model}'",
                    t.name
                )));
            }
        }
        for s in self.inputs.iter().filter(|s| !s.optional) {
            if !req.inputs.iter().any(|t| t.name == s.name) {
                return Err(ServerError::InvalidArg(format!(
                    "expected {required} inputs but got {} inputs for model '{model}'; \
                     input '{}' is missing",
                    req.inputs.len(),
                    s.name
                )));
            }
        }
        let mut batch: Option<i64> = None;
        for t in &req.inputs {
            let Some(spec) = self.inputs.iter().find(|s| s.name == t.name) else {
                continue;
            };
            if t.datatype != spec.datatype {
                return Err(ServerError::InvalidArg(format!(
                    "inference input '{}' data-type is '{}', but model '{model}' expects '{}'",
                    t.name,
                    t.datatype.as_str(),
                    spec.datatype.as_str()
                )));
            }
            let expected = self.full_dims(spec);
            let ok = t.shape.len() == expected.len()
                && t.shape
                    .iter()
                    .zip(&expected)
                    .all(|(&g, &e)| g >= 0 && (e < 0 || g == e));
            if !ok || element_count(&t.shape).is_none() {
                return Err(ServerError::InvalidArg(format!(
                    "unexpected shape for input '{}' for model '{model}'. Expected {}, got {}",
                    t.name,
                    dims_text(&expected),
                    dims_text(&t.shape)
                )));
            }
            if self.max_batch_size > 0 {
                let b = t.shape[0];
                if *batch.get_or_insert(b) != b {
                    return Err(ServerError::InvalidArg(format!(
                        "input '{}' has batch size {b}, other inputs of model '{model}' have {}",
                        t.name,
                        batch.unwrap_or(b)
                    )));
                }
            }
        }
        for o in &req.outputs {
            if !self.outputs.iter().any(|s| s.name == o.name) {
                return Err(ServerError::InvalidArg(format!(
                    "unexpected inference output '{}' for model '{model}'",
                    o.name
                )));
            }
        }
        if self.max_batch_size == 0 {
            return Ok(1);
        }
        let b = batch.unwrap_or(1);
        if b < 1 || b as u64 > self.max_batch_size as u64 {
            return Err(ServerError::InvalidArg(format!(
                "inference request batch-size must be <= {} for '{model}', got {b}",
                self.max_batch_size
            )));
        }
        Ok(b as usize)
    }
}

/// `[-1,16]` as Triton prints shapes.
pub fn dims_text(d: &[i64]) -> String {
    let v: Vec<String> = d.iter().map(i64::to_string).collect();
    format!("[{}]", v.join(","))
}
