//! The JSON form of a model configuration, as Triton serves it at
//! `GET /v2/models/{model}/config` and accepts in repository load requests.
//!
//! Triton prints the protobuf JSON mapping with the original (snake_case) field names, every
//! scalar and repeated field even when it holds its default value, enums by name, and then
//! turns its 64-bit integer fields back into JSON numbers (protobuf prints them as strings).
//! Message fields that are not set are left out.

use super::ConfigError;
use super::descriptor::model_config_descriptor;
use crate::proto::inference::ModelConfig;
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};
use std::path::Path;

/// The configuration as Triton's JSON (see the module documentation).
pub fn config_to_json(cfg: &ModelConfig) -> serde_json::Value {
    let mut message = DynamicMessage::new(model_config_descriptor());
    // Both sides are generated from the same descriptor, so transcoding cannot fail.
    if let Err(e) = message.transcode_from(cfg) {
        tracing::error!("cannot transcode ModelConfig to a dynamic message: {e}");
        return serde_json::Value::Null;
    }
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    match message.serialize_with_options(serde_json::value::Serializer, &options) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("cannot serialize ModelConfig to JSON: {e}");
            serde_json::Value::Null
        }
    }
}

/// Parse a configuration in JSON form (the protobuf JSON mapping; snake_case or camelCase
/// field names, 64-bit integers as numbers or strings). Unknown fields are an error naming
/// `origin`.
pub fn parse_config_json(text: &str, origin: &Path) -> Result<ModelConfig, ConfigError> {
    let parse_error =
        |line: Option<usize>, column: Option<usize>, message: String| ConfigError::Parse {
            file: origin.to_path_buf(),
            line,
            column,
            field: None,
            message,
        };
    let mut de = serde_json::Deserializer::from_str(text);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let message =
        DynamicMessage::deserialize_with_options(model_config_descriptor(), &mut de, &options)
            .map_err(|e| parse_error(Some(e.line()), Some(e.column()), e.to_string()))?;
    de.end()
        .map_err(|e| parse_error(Some(e.line()), Some(e.column()), e.to_string()))?;
    message
        .transcode_to::<ModelConfig>()
        .map_err(|e| parse_error(None, None, format!("cannot convert the configuration: {e}")))
}
