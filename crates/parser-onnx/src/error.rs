//! The error type of the ONNX parser.

use crate::SupportReport;
use std::path::PathBuf;

/// Errors of loading, decoding and importing ONNX models and tensors.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A file could not be read.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid protobuf message of the expected kind (truncated, garbage).
    #[error("cannot decode {what} from '{file}': {message}")]
    Decode {
        /// The file (or `<memory>` for bytes given directly).
        file: String,
        /// What message was expected (`ModelProto`, `TensorProto`, ...).
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// A tensor could not be converted (bad dims, wrong element count, bad external data).
    #[error("tensor '{name}': {message}")]
    Tensor {
        /// The tensor's name (may be empty).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A data type Kiln does not support (float8, int4, complex, ...).
    #[error("unsupported data type {dtype} ({what})")]
    UnsupportedDataType {
        /// The ONNX data type name.
        dtype: String,
        /// Where it was found.
        what: String,
    },
    /// A value type that is not supported or does not fit the data.
    #[error("type error: {0}")]
    Type(String),
    /// The model is structurally invalid (no graph, ...).
    #[error("invalid model: {0}")]
    Invalid(String),
    /// The model loaded, but some nodes, attributes or types are not supported: the report
    /// lists every problem.
    #[error("the model is not fully supported ({n} problems):\n{report}", n = .0.diagnostics.len(), report = .0)]
    Unsupported(SupportReport),
    /// An error of kiln-core.
    #[error(transparent)]
    Core(#[from] kiln_core::Error),
}

impl OnnxError {
    /// A decode error for `what` read from `file`.
    pub(crate) fn decode(file: &str, what: &'static str, e: impl std::fmt::Display) -> Self {
        OnnxError::Decode {
            file: file.to_string(),
            what,
            message: e.to_string(),
        }
    }

    /// A tensor error.
    pub(crate) fn tensor(name: &str, message: impl Into<String>) -> Self {
        OnnxError::Tensor {
            name: name.to_string(),
            message: message.into(),
        }
    }
}
