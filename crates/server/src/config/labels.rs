//! Label files of classification outputs (`label_filename`).

use super::ConfigError;
use std::path::Path;

/// Read a label file: one label per line, in class order. Trailing `\r` is removed; a final
/// newline does not add an empty label. An empty file or a file that is not UTF-8 is an error.
pub fn load_labels(path: &Path) -> Result<Vec<String>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Labels {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    let labels: Vec<String> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if labels.is_empty() {
        return Err(ConfigError::Labels {
            path: path.to_path_buf(),
            message: "the file has no labels".to_string(),
        });
    }
    Ok(labels)
}
