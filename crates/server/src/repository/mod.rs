//! The model repository: Triton's directory layout on the local file system.
//!
//! ```text
//! <root>/<model>/config.pbtxt          (optional when the model file describes itself)
//! <root>/<model>/<labels>.txt          (label files named by outputs' label_filename)
//! <root>/<model>/<version>/model.plan  (kiln_plan)
//! <root>/<model>/<version>/model.onnx  (onnxruntime_onnx / backend onnxruntime)
//! <root>/<model>/<version>/model.prototxt + model.caffemodel  (caffe)
//! ```
//!
//! Every subdirectory of the root is a model (hidden ones excepted); every subdirectory of a
//! model whose name is a number is a version.

mod error;
mod platform;
mod versions;

pub use error::RepositoryError;
pub use platform::{ModelFiles, Platform, detect_platform, model_file, model_files, platform_of};
pub use versions::{available_versions, resolve_versions};

use crate::config::{self, ConfigError, FieldProblem, ModelConfig};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the configuration file in a model directory.
pub const CONFIG_FILE: &str = "config.pbtxt";

/// One model directory as found on disk.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// The model's name: its directory name.
    pub name: String,
    /// The model directory.
    pub dir: PathBuf,
    /// Whether the directory has a `config.pbtxt`.
    pub has_config_file: bool,
    /// The parsed configuration with `name` filled in (an empty configuration named after the
    /// directory when there is no `config.pbtxt`), not yet auto-completed, normalized or
    /// validated; or why it could not be read. A `name` that differs from the directory is
    /// an error here (Triton's rule).
    pub config: Result<ModelConfig, ConfigError>,
    /// Numeric version subdirectories, ascending.
    pub versions: Vec<u64>,
    /// How the model runs: from the configuration's platform/backend, or, when it names
    /// neither, from the files of the newest version.
    pub platform: Platform,
}

impl ModelEntry {
    /// The versions to serve under the configuration's version policy (latest 1 when the
    /// configuration is unusable).
    pub fn versions_to_serve(&self) -> Vec<u64> {
        let policy = self
            .config
            .as_ref()
            .ok()
            .and_then(|c| c.version_policy.as_ref());
        resolve_versions(policy, &self.versions)
    }

    /// The directory of one version.
    pub fn version_dir(&self, version: u64) -> PathBuf {
        self.dir.join(version.to_string())
    }
}

/// A model repository rooted at one directory.
#[derive(Clone, Debug)]
pub struct Repository {
    root: PathBuf,
}

impl Repository {
    /// A repository over `root`, which must be a directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Repository, RepositoryError> {
        let root = root.into();
        let meta = std::fs::metadata(&root).map_err(|e| RepositoryError::io(&root, e))?;
        if !meta.is_dir() {
            return Err(RepositoryError::NotADirectory { path: root });
        }
        Ok(Repository { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every model of the repository, sorted by name. Problems of one model (a bad config,
    /// an unsupported platform) are recorded in its entry and never stop the scan; only an
    /// unreadable root is an error.
    pub fn scan(&self) -> Result<Vec<ModelEntry>, RepositoryError> {
        let names = self.model_names()?;
        Ok(names.iter().map(|n| self.read_entry(n)).collect())
    }

    /// The names of the model directories, sorted (hidden and non-UTF-8 names skipped).
    pub fn model_names(&self) -> Result<Vec<String>, RepositoryError> {
        let mut names = Vec::new();
        let dir = std::fs::read_dir(&self.root).map_err(|e| RepositoryError::io(&self.root, e))?;
        for item in dir {
            let item = item.map_err(|e| RepositoryError::io(&self.root, e))?;
            let path = item.path();
            let Some(name) = item.file_name().to_str().map(str::to_string) else {
                tracing::warn!("skipping {}: the name is not UTF-8", path.display());
                continue;
            };
            if name.starts_with('.') || !path.is_dir() {
                continue;
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// One model by name (for explicit loads). A name that is not a model directory of this
    /// repository gives [`RepositoryError::UnknownModel`].
    pub fn entry(&self, name: &str) -> Result<ModelEntry, RepositoryError> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\'])
            && self.root.join(name).is_dir();
        if !valid {
            return Err(RepositoryError::UnknownModel {
                name: name.to_string(),
                root: self.root.clone(),
            });
        }
        Ok(self.read_entry(name))
    }

    fn read_entry(&self, name: &str) -> ModelEntry {
        let dir = self.root.join(name);
        let config_path = dir.join(CONFIG_FILE);
        let has_config_file = config_path.is_file();
        let config = if has_config_file {
            config::parse_config_file(&config_path).and_then(|c| check_name(c, name))
        } else {
            Ok(ModelConfig {
                name: name.to_string(),
                ..ModelConfig::default()
            })
        };
        let versions = available_versions(&dir).unwrap_or_else(|e| {
            tracing::warn!("model '{name}': {e}");
            Vec::new()
        });
        let mut entry = ModelEntry {
            name: name.to_string(),
            dir,
            has_config_file,
            config,
            versions,
            platform: Platform::Unsupported(String::new()),
        };
        entry.platform = entry.find_platform();
        entry
    }
}

impl ModelEntry {
    /// Replace the configuration (the repository load API's JSON override) and decide the
    /// platform again from it.
    pub fn set_config(&mut self, config: ModelConfig) {
        self.config = Ok(config);
        self.platform = self.find_platform();
    }

    /// The platform from the configuration's platform/backend, or, when it names neither,
    /// from the files of the newest version.
    fn find_platform(&self) -> Platform {
        match &self.config {
            Ok(c) if !c.platform.is_empty() || !c.backend.is_empty() => platform_of(c),
            Ok(_) => match self.versions.last() {
                Some(&v) => detect_platform(&self.version_dir(v)),
                None => Platform::Unsupported(format!(
                    "model '{}' has no numeric version directory (e.g. {}/1/model.onnx)",
                    self.name,
                    self.dir.display()
                )),
            },
            Err(e) => Platform::Unsupported(e.to_string()),
        }
    }
}

/// A hash of every file's path, size and modification time under a model directory (what
/// poll mode compares to see that a model changed). At most 10,000 directories are read.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut stack = vec![dir.to_path_buf()];
    let mut entries = Vec::new();
    let mut visited = 0usize;
    while let Some(d) = stack.pop() {
        visited += 1;
        if visited > 10_000 {
            break;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(p);
            } else {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                entries.push((p, m.len(), mtime));
            }
        }
    }
    entries.sort();
    let mut h = DefaultHasher::new();
    entries.hash(&mut h);
    h.finish()
}

/// Fill an empty configuration name from the directory; refuse a different one.
fn check_name(mut cfg: ModelConfig, dir_name: &str) -> Result<ModelConfig, ConfigError> {
    if cfg.name.is_empty() {
        cfg.name = dir_name.to_string();
        Ok(cfg)
    } else if cfg.name == dir_name {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid {
            model: dir_name.to_string(),
            problems: vec![FieldProblem::new(
                "name",
                format!(
                    "'{}' does not match the model directory name '{dir_name}' (they must be \
                     equal, or leave name out)",
                    cfg.name
                ),
            )],
        })
    }
}

/// The labels of every output with a `label_filename`, by output name. Label files are
/// looked up in the model directory.
pub fn load_output_labels(
    dir: &Path,
    cfg: &ModelConfig,
) -> Result<HashMap<String, Arc<Vec<String>>>, ConfigError> {
    let mut out = HashMap::new();
    for o in cfg.output.iter().filter(|o| !o.label_filename.is_empty()) {
        let labels = config::load_labels(&dir.join(&o.label_filename))?;
        out.insert(o.name.clone(), Arc::new(labels));
    }
    Ok(out)
}
