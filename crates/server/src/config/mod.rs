//! Model configuration: Triton's `ModelConfig` (`config.pbtxt`), parsed from protobuf text
//! format, checked, completed from the model, and shown as Triton's JSON.
//!
//! - [`parse_config_text`] / [`parse_config_file`]: text format -> [`ModelConfig`].
//! - [`validate`]: Triton's rules, every problem reported at once with its field.
//! - [`auto_complete`]: inputs, outputs, `max_batch_size`, platform from the model graph.
//! - [`normalize`]: Triton's defaults (version policy, instance groups).
//! - [`config_to_json`] / [`parse_config_json`]: the JSON form of `GET .../config`.
//! - [`load_labels`]: label files of classification outputs.
//! - [`dtype`]: data type names on the wire and in Kiln's core.

mod autocomplete;
mod descriptor;
pub mod dtype;
mod error;
mod json;
mod labels;
mod normalize;
mod text;
mod validate;

pub use crate::proto::inference::model_config::SchedulingChoice;
pub use crate::proto::inference::model_input::Format as InputFormat;
pub use crate::proto::inference::model_instance_group::Kind as InstanceGroupKind;
pub use crate::proto::inference::model_queue_policy::TimeoutAction;
pub use crate::proto::inference::model_version_policy::PolicyChoice as VersionPolicyChoice;
pub use crate::proto::inference::{
    DataType, ModelConfig, ModelDynamicBatching, ModelEnsembling, ModelInput, ModelInstanceGroup,
    ModelOutput, ModelParameter, ModelQueuePolicy, ModelSequenceBatching, ModelTensorReshape,
    ModelVersionPolicy, ModelWarmup,
};
pub use autocomplete::{
    AutoCompleteOptions, DEFAULT_MAX_BATCH_SIZE, auto_complete, auto_complete_with,
};
pub use descriptor::{descriptor_pool, model_config_descriptor};
pub use error::{ConfigError, FieldProblem};
pub use json::{config_to_json, parse_config_json};
pub use labels::load_labels;
pub use normalize::{SEQUENCE_IDLE_DEFAULT_MICROSECONDS, normalize};
pub use text::{parse_config_file, parse_config_text};
pub use validate::validate;

/// Platforms Kiln knows and the backend name each one corresponds to.
pub(crate) const PLATFORM_BACKENDS: &[(&str, &str)] = &[
    ("kiln_plan", "kiln"),
    ("onnxruntime_onnx", "onnxruntime"),
    ("tensorrt_plan", "tensorrt"),
    ("caffe", "caffe"),
];

/// The whole preparation of a configuration for serving: auto-complete from `graph` (when
/// the model's graph is known: it also checks that a full configuration agrees with the
/// model), then [`normalize`] with the available `gpus`, then [`validate`].
pub fn finalize(
    cfg: ModelConfig,
    graph: Option<&kiln_core::Graph>,
    options: &AutoCompleteOptions,
    gpus: &[i32],
) -> Result<ModelConfig, ConfigError> {
    let mut cfg = match graph {
        Some(g) => auto_complete_with(cfg, g, options)?,
        None => cfg,
    };
    normalize(&mut cfg, gpus);
    validate(&cfg)?;
    Ok(cfg)
}
