//! Auto-complete: filling a missing or partial configuration from the model itself, as
//! Triton's ONNX Runtime and TensorRT backends do.
//!
//! Rules (Triton's, where it has one):
//! - Inputs (graph inputs that are not initializers) and outputs get their names, data types
//!   and dims from the model; dims use `-1` for symbolic or unknown sizes.
//! - `max_batch_size`: the model "supports batching" when every input and output has a
//!   first dimension that is symbolic or unknown. When the configuration leaves
//!   `max_batch_size` at 0, states no input/output dims that include the batch dimension,
//!   and the model supports batching, it becomes the default maximum batch size, **4**
//!   (Triton's `--backend-config=default-max-batch-size`, which defaults to 4); and when the
//!   result is greater than 1 and no scheduler is configured, `dynamic_batching { }` is
//!   enabled, as Triton does. A stated `max_batch_size > 0` requires a model that supports
//!   batching. With `max_batch_size > 0`, dims exclude the batch dimension.
//! - What the configuration states is kept, but must agree with the model (names exist, data
//!   types equal, ranks equal, fixed sizes equal); every disagreement is reported at once.
//!   Stated inputs that are missing model inputs get the missing ones added; when outputs
//!   are stated, only those are served (a subset is allowed).
//! - `platform`/`backend`: filled when missing (from each other, else from the options,
//!   else `onnxruntime_onnx`/`onnxruntime`).

use super::{ConfigError, FieldProblem, dtype};
use crate::proto::inference::model_config::SchedulingChoice;
use crate::proto::inference::{
    DataType, ModelConfig, ModelDynamicBatching, ModelInput, ModelOutput,
};
use kiln_core::{Dim, Graph, Shape};

/// Triton's default for `default-max-batch-size`.
pub const DEFAULT_MAX_BATCH_SIZE: i32 = 4;

/// Settings of [`auto_complete_with`].
#[derive(Clone, Debug)]
pub struct AutoCompleteOptions {
    /// Platform to set when the configuration names neither a platform nor a backend
    /// (`None`: `onnxruntime_onnx`).
    pub platform: Option<String>,
    /// `max_batch_size` given to models that support batching when the configuration does
    /// not say (0 disables batching for them).
    pub default_max_batch_size: i32,
}

impl Default for AutoCompleteOptions {
    fn default() -> Self {
        AutoCompleteOptions {
            platform: None,
            default_max_batch_size: DEFAULT_MAX_BATCH_SIZE,
        }
    }
}

/// Complete `cfg` from `graph` with the default options (see the module documentation).
pub fn auto_complete(cfg: ModelConfig, graph: &Graph) -> Result<ModelConfig, ConfigError> {
    auto_complete_with(cfg, graph, &AutoCompleteOptions::default())
}

/// A model tensor as auto-complete sees it.
struct ModelTensor {
    name: String,
    dtype: Option<DataType>,
    /// Full dims (batch dimension included), -1 for dynamic; `None` when the rank is unknown.
    dims: Option<Vec<i64>>,
}

impl ModelTensor {
    fn first_dim_dynamic(&self) -> bool {
        self.dims.as_ref().is_some_and(|d| d.first() == Some(&-1))
    }

    /// The dims the configuration shows: without the batch dimension when batching.
    fn config_dims(&self, batching: bool) -> Option<Vec<i64>> {
        self.dims.as_ref().map(|d| {
            if batching {
                d.get(1..).unwrap_or_default().to_vec()
            } else {
                d.clone()
            }
        })
    }
}

fn dims_of(shape: &Shape) -> Vec<i64> {
    shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => i64::try_from(*n).unwrap_or(-1),
            Dim::Sym(_) | Dim::Unknown => -1,
        })
        .collect()
}

fn model_tensors(graph: &Graph) -> (Vec<ModelTensor>, Vec<ModelTensor>) {
    let convert = |v: &kiln_core::ValueInfo| {
        let fact = v.ty.tensor();
        ModelTensor {
            name: v.name.clone(),
            dtype: fact.and_then(|f| f.dtype).map(dtype::from_core),
            dims: fact.and_then(|f| f.shape.as_ref()).map(dims_of),
        }
    };
    let inputs = graph
        .inputs
        .iter()
        .filter(|v| !graph.initializers.contains_key(&v.name))
        .map(convert)
        .collect();
    let outputs = graph.outputs.iter().map(convert).collect();
    (inputs, outputs)
}

/// Complete `cfg` from `graph` (see the module documentation for the rules).
pub fn auto_complete_with(
    mut cfg: ModelConfig,
    graph: &Graph,
    options: &AutoCompleteOptions,
) -> Result<ModelConfig, ConfigError> {
    let (inputs, outputs) = model_tensors(graph);
    let mut problems = Vec::new();
    complete_platform(&mut cfg, options);
    complete_max_batch_size(&mut cfg, &inputs, &outputs, options, &mut problems);
    let batching = cfg.max_batch_size > 0;

    // Inputs: check the stated ones, then add the model inputs the configuration omits.
    for (i, ci) in cfg.input.iter_mut().enumerate() {
        let field = format!("input[{i}]");
        match inputs.iter().find(|t| t.name == ci.name) {
            None => problems.push(FieldProblem::new(
                format!("{field}.name"),
                format!(
                    "'{}' is not an input of the model (its inputs: {})",
                    ci.name,
                    names(&inputs)
                ),
            )),
            Some(t) => {
                let reshape = ci.reshape.as_ref().map(|r| r.shape.as_slice());
                complete_tensor(
                    &field,
                    t,
                    batching,
                    &mut ci.data_type,
                    &mut ci.dims,
                    reshape,
                    &mut problems,
                );
            }
        }
    }
    for t in &inputs {
        if cfg.input.iter().any(|ci| ci.name == t.name) {
            continue;
        }
        let mut input = ModelInput {
            name: t.name.clone(),
            ..ModelInput::default()
        };
        let field = format!("input[{}]", cfg.input.len());
        complete_tensor(
            &field,
            t,
            batching,
            &mut input.data_type,
            &mut input.dims,
            None,
            &mut problems,
        );
        cfg.input.push(input);
    }

    // Outputs: all of them when none is stated, else check the stated subset.
    if cfg.output.is_empty() {
        for t in &outputs {
            let mut output = ModelOutput {
                name: t.name.clone(),
                ..ModelOutput::default()
            };
            let field = format!("output[{}]", cfg.output.len());
            complete_tensor(
                &field,
                t,
                batching,
                &mut output.data_type,
                &mut output.dims,
                None,
                &mut problems,
            );
            cfg.output.push(output);
        }
    } else {
        for (i, co) in cfg.output.iter_mut().enumerate() {
            let field = format!("output[{i}]");
            match outputs.iter().find(|t| t.name == co.name) {
                None => problems.push(FieldProblem::new(
                    format!("{field}.name"),
                    format!(
                        "'{}' is not an output of the model (its outputs: {})",
                        co.name,
                        names(&outputs)
                    ),
                )),
                Some(t) => {
                    let reshape = co.reshape.as_ref().map(|r| r.shape.as_slice());
                    complete_tensor(
                        &field,
                        t,
                        batching,
                        &mut co.data_type,
                        &mut co.dims,
                        reshape,
                        &mut problems,
                    );
                }
            }
        }
    }

    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::ModelMismatch {
            model: if cfg.name.is_empty() {
                graph.name.clone()
            } else {
                cfg.name.clone()
            },
            problems,
        })
    }
}

fn names(tensors: &[ModelTensor]) -> String {
    if tensors.is_empty() {
        return "none".to_string();
    }
    tensors
        .iter()
        .map(|t| format!("'{}'", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn complete_platform(cfg: &mut ModelConfig, options: &AutoCompleteOptions) {
    if cfg.platform.is_empty() {
        cfg.platform = if cfg.backend.is_empty() {
            options
                .platform
                .clone()
                .unwrap_or_else(|| "onnxruntime_onnx".to_string())
        } else {
            match super::PLATFORM_BACKENDS
                .iter()
                .find(|(_, b)| *b == cfg.backend)
            {
                Some((p, _)) => p.to_string(),
                None => return,
            }
        };
    }
    if cfg.backend.is_empty()
        && let Some((_, b)) = super::PLATFORM_BACKENDS
            .iter()
            .find(|(p, _)| *p == cfg.platform)
    {
        cfg.backend = b.to_string();
    }
}

fn complete_max_batch_size(
    cfg: &mut ModelConfig,
    inputs: &[ModelTensor],
    outputs: &[ModelTensor],
    options: &AutoCompleteOptions,
    problems: &mut Vec<FieldProblem>,
) {
    let all: Vec<&ModelTensor> = inputs.iter().chain(outputs).collect();
    let not_batchable: Vec<&ModelTensor> = all
        .iter()
        .copied()
        .filter(|t| !t.first_dim_dynamic())
        .collect();
    if cfg.max_batch_size > 0 {
        for t in not_batchable {
            let why = match &t.dims {
                None => "its shape is unknown".to_string(),
                Some(d) if d.is_empty() => "it is a scalar".to_string(),
                Some(d) => format!("its first dimension is fixed ({})", d[0]),
            };
            problems.push(FieldProblem::new(
                "max_batch_size",
                format!(
                    "is {} but the model cannot batch tensor '{}': {why}; batching needs a \
                     dynamic first dimension on every input and output (or set max_batch_size: 0)",
                    cfg.max_batch_size, t.name
                ),
            ));
        }
        return;
    }
    if cfg.max_batch_size < 0 || all.is_empty() || !not_batchable.is_empty() {
        return;
    }
    // Stated dims with the model's full rank describe a non-batching configuration.
    let states_full_rank = |name: &str, dims: &[i64], has_reshape: bool| {
        !dims.is_empty()
            && !has_reshape
            && all
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.dims.as_ref())
                .is_some_and(|d| d.len() == dims.len())
    };
    let full_rank = cfg
        .input
        .iter()
        .any(|i| states_full_rank(&i.name, &i.dims, i.reshape.is_some()))
        || cfg
            .output
            .iter()
            .any(|o| states_full_rank(&o.name, &o.dims, o.reshape.is_some()));
    if full_rank || options.default_max_batch_size <= 0 {
        return;
    }
    cfg.max_batch_size = options.default_max_batch_size;
    if cfg.max_batch_size > 1 && cfg.scheduling_choice.is_none() {
        cfg.scheduling_choice = Some(SchedulingChoice::DynamicBatching(
            ModelDynamicBatching::default(),
        ));
    }
}

/// Fill or check one tensor's data type and dims against the model.
fn complete_tensor(
    field: &str,
    t: &ModelTensor,
    batching: bool,
    data_type: &mut i32,
    dims: &mut Vec<i64>,
    reshape: Option<&[i64]>,
    problems: &mut Vec<FieldProblem>,
) {
    match (*data_type, t.dtype) {
        (0, Some(dt)) => *data_type = dt as i32,
        (0, None) => problems.push(FieldProblem::new(
            format!("{field}.data_type"),
            format!(
                "the model does not declare the type of '{}'; state it in config.pbtxt",
                t.name
            ),
        )),
        (stated, Some(dt)) if stated != dt as i32 => problems.push(FieldProblem::new(
            format!("{field}.data_type"),
            format!(
                "is {} but the model's '{}' is {}",
                DataType::try_from(stated)
                    .map_or_else(|_| stated.to_string(), |d| d.as_str_name().to_string()),
                t.name,
                dt.as_str_name()
            ),
        )),
        _ => {}
    }
    let Some(model_dims) = t.config_dims(batching) else {
        if dims.is_empty() {
            problems.push(FieldProblem::new(
                format!("{field}.dims"),
                format!(
                    "the model does not declare the shape of '{}'; state dims in config.pbtxt",
                    t.name
                ),
            ));
        }
        return;
    };
    if dims.is_empty() && reshape.is_none() {
        *dims = model_dims;
        return;
    }
    // With a reshape, the reshaped shape is what the model sees.
    let (what, stated) = match reshape {
        Some(r) => ("reshape.shape", r),
        None => ("dims", dims.as_slice()),
    };
    let agrees = stated.len() == model_dims.len()
        && stated
            .iter()
            .zip(&model_dims)
            .all(|(&s, &m)| m == -1 || s == m);
    if !agrees {
        let note = if batching {
            " (without the batch dimension, since max_batch_size > 0)"
        } else {
            ""
        };
        problems.push(FieldProblem::new(
            format!("{field}.{what}"),
            format!(
                "{stated:?} does not match the model's '{}' dims {model_dims:?}{note}",
                t.name
            ),
        ));
    }
}
