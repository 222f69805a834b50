//! The error type of kiln-caffe.

use crate::SupportReport;
use std::path::PathBuf;

/// Everything that can stop a Caffe model from loading.
#[derive(Debug, thiserror::Error)]
pub enum CaffeError {
    /// A file could not be read.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The prototxt is not valid protobuf text format for `caffe.NetParameter`.
    #[error("'{file}' is not a valid Caffe prototxt: {message}")]
    Text {
        /// The file (or `<memory>`).
        file: String,
        /// What the text-format reader said, with line and column.
        message: String,
    },
    /// The caffemodel is not a valid binary `caffe.NetParameter` (truncated or corrupt).
    #[error("'{file}' is not a valid caffemodel: {message}")]
    Decode {
        /// The file (or `<memory>`).
        file: String,
        /// What is wrong, naming the layer being read where it is known.
        message: String,
    },
    /// The network was read but has problems: every one of them is in the report.
    #[error("the Caffe network has {n} problem(s):\n{report}", n = .0.diagnostics.len(), report = .0)]
    Unsupported(SupportReport),
}
