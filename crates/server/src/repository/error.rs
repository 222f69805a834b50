//! Errors of the model repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything that can go wrong finding a model and its files.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RepositoryError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The repository root is not a directory.
    #[error("model repository {} is not a directory", path.display())]
    NotADirectory {
        /// The path given as root.
        path: PathBuf,
    },
    /// No model directory of that name.
    #[error("no model named '{name}' in the model repository {}", root.display())]
    UnknownModel {
        /// The requested name.
        name: String,
        /// The repository root.
        root: PathBuf,
    },
    /// The model's platform/backend cannot be served by Kiln.
    #[error("model '{model}': {reason}")]
    Unsupported {
        /// The model.
        model: String,
        /// Why (names the platform/backend).
        reason: String,
    },
    /// A version directory lacks the model file its platform needs.
    #[error("model '{model}' version {version}: missing model file {}", path.display())]
    MissingModelFile {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// The file that should exist.
        path: PathBuf,
    },
}

impl RepositoryError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        RepositoryError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}
