//! Reading one model of the repository for loading, through [`crate::repository`]: its
//! configuration (from `config.pbtxt`, a JSON override of the load API, or nothing), its
//! platform, and the files of each version its version policy selects. Also the change
//! fingerprint poll mode compares.

use crate::config::{normalize, parse_config_json, validate};
use crate::error::{Result, ServerError};
use crate::proto::inference::ModelConfig;
use crate::repository::{ModelFiles, Platform, Repository, RepositoryError, model_files};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a model directory holds.
pub struct ModelSource {
    /// Model name (the directory name).
    pub name: String,
    /// The model directory.
    pub dir: PathBuf,
    /// Its configuration as written (may still lack inputs and outputs).
    pub config: ModelConfig,
    /// How it runs.
    pub platform: Platform,
    /// Files of each selected version, or why they are missing.
    pub files: BTreeMap<i64, std::result::Result<ModelFiles, String>>,
    /// Why the model cannot be served at all (unsupported platform).
    pub unsupported: Option<String>,
}

fn repo_error(e: RepositoryError) -> ServerError {
    match e {
        RepositoryError::UnknownModel { .. } => {
            ServerError::InvalidArg(format!("failed to load: {e}"))
        }
        other => ServerError::Unavailable(other.to_string()),
    }
}

/// Names of the model directories of a repository, sorted ([`Repository::model_names`]).
pub fn model_names(repo: &Path) -> Result<Vec<String>> {
    let repository = Repository::new(repo).map_err(repo_error)?;
    repository
        .model_names()
        .map_err(|e| ServerError::Internal(format!("cannot read the model repository: {e}")))
}

/// Read a model directory. `config_json` replaces `config.pbtxt` (repository load API).
pub fn read_source(repo: &Path, name: &str, config_json: Option<&str>) -> Result<ModelSource> {
    let repository = Repository::new(repo).map_err(repo_error)?;
    let mut entry = repository.entry(name).map_err(repo_error)?;
    if let Some(text) = config_json {
        let mut cfg = parse_config_json(text, &entry.dir.join("config.pbtxt"))
            .map_err(|e| ServerError::InvalidArg(format!("model '{name}': {e}")))?;
        if cfg.name.is_empty() {
            cfg.name = name.to_string();
        }
        entry.set_config(cfg);
    }
    let mut config = entry
        .config
        .clone()
        .map_err(|e| ServerError::Unavailable(e.to_string()))?;
    // A custom backend (plugin library) has no model file: its versions are directories.
    let custom = crate::plugin_backend::custom_backend(&config).is_some();
    let unsupported = match &entry.platform {
        Platform::Unsupported(_) if custom => None,
        Platform::Unsupported(r) => Some(format!("model '{name}': {r}")),
        p => {
            if config.platform.is_empty() && config.backend.is_empty() {
                config.platform = p.platform_name().to_string();
            }
            None
        }
    };
    let files = entry
        .versions_to_serve()
        .into_iter()
        .map(|v| {
            let f = if custom {
                crate::plugin_backend::version_files(&entry.dir, v)
            } else {
                model_files(&entry, v).map_err(|e| e.to_string())
            };
            (v as i64, f)
        })
        .collect();
    Ok(ModelSource {
        name: name.to_string(),
        dir: entry.dir.clone(),
        config,
        platform: entry.platform.clone(),
        files,
        unsupported,
    })
}

/// Apply Triton's defaults to a completed configuration and validate it.
pub fn finish_config(name: &str, cfg: &mut ModelConfig) -> Result<()> {
    normalize(cfg, &[]);
    validate(cfg).map_err(|e| ServerError::Unavailable(format!("model '{name}': {e}")))
}
