//! The error type of model configuration handling.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// One problem found in a model configuration, with the field it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// Path of the field, e.g. `input[0].dims` or `dynamic_batching.preferred_batch_size`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Everything that can go wrong reading, checking or completing a model configuration.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// `config.pbtxt` is not valid protobuf text for `inference.ModelConfig`.
    #[error("{}{}: {}{message}", file.display(), location(*line, *column),
        field.as_deref().map(|f| format!("field '{f}': ")).unwrap_or_default())]
    Parse {
        /// The configuration file.
        file: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// Path of the field being set, when known (e.g. `input[1].data_type`).
        field: Option<String>,
        /// What the parser expected or found.
        message: String,
    },
    /// The configuration parsed but breaks the rules of a model configuration. Lists every
    /// problem found, not only the first.
    #[error("invalid model configuration for '{model}': {}", join(problems))]
    Invalid {
        /// Name of the model (from the configuration or its directory).
        model: String,
        /// Every problem, each naming its field.
        problems: Vec<FieldProblem>,
    },
    /// The configuration disagrees with the model file it describes (found by auto-complete).
    #[error(
        "model configuration for '{model}' does not match the model: {}",
        join(problems)
    )]
    ModelMismatch {
        /// Name of the model.
        model: String,
        /// Every disagreement, each naming its field.
        problems: Vec<FieldProblem>,
    },
    /// A label file is unusable.
    #[error("label file {}: {message}", path.display())]
    Labels {
        /// The label file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn join(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// The problems of an [`ConfigError::Invalid`] or [`ConfigError::ModelMismatch`] error
    /// (empty for the other kinds).
    pub fn problems(&self) -> &[FieldProblem] {
        match self {
            ConfigError::Invalid { problems, .. } | ConfigError::ModelMismatch { problems, .. } => {
                problems
            }
            _ => &[],
        }
    }
}
