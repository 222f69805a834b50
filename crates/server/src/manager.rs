//! The model manager: which models are loaded, in what state, and the atomic swap of a
//! model's versions on load, reload and unload. Readers clone an `Arc` of the current
//! record, so requests in flight finish on the version they started on.

use crate::error::{Result, ServerError};
use crate::loader::{LoadOptions, ModelVersion, load_engine, read_labels, start_version};
use crate::proto::inference::ModelConfig;
use crate::source::{ModelSource, read_source};
use crate::stats::ModelStats;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// State of a model or version, as the repository index reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Serving.
    Ready,
    /// Not serving, with the reason.
    Unavailable(String),
}

impl State {
    /// `READY` / `UNAVAILABLE`.
    pub fn name(&self) -> &'static str {
        match self {
            State::Ready => "READY",
            State::Unavailable(_) => "UNAVAILABLE",
        }
    }

    /// The reason (empty when ready).
    pub fn reason(&self) -> &str {
        match self {
            State::Ready => "",
            State::Unavailable(r) => r,
        }
    }
}

/// A load or unload in progress, as the repository index shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Being loaded (or reloaded; an old version keeps serving meanwhile).
    Loading,
    /// Being unloaded: refusing new requests, finishing those in flight.
    Unloading,
}

impl Transition {
    /// `LOADING` / `UNLOADING`.
    pub fn name(self) -> &'static str {
        match self {
            Transition::Loading => "LOADING",
            Transition::Unloading => "UNLOADING",
        }
    }
}

/// Longest an unload waits for the requests in flight.
const UNLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Marks a model as loading or unloading for as long as it lives.
struct InTransition<'a> {
    manager: &'a ModelManager,
    name: String,
}

impl Drop for InTransition<'_> {
    fn drop(&mut self) {
        self.manager
            .transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
    }
}

/// A model as the manager holds it.
pub struct ModelRecord {
    /// Model name.
    pub name: String,
    /// Its completed configuration, when it could be read.
    pub config: Option<Arc<ModelConfig>>,
    /// Each version the policy selected: serving, or why not.
    pub versions: BTreeMap<i64, std::result::Result<Arc<ModelVersion>, String>>,
    /// Model-level reason when no version could even be tried.
    pub reason: Option<String>,
}

impl ModelRecord {
    /// READY when at least one version serves.
    pub fn state(&self) -> State {
        if self.versions.values().any(|v| v.is_ok()) {
            return State::Ready;
        }
        let reason = self.reason.clone().unwrap_or_else(|| {
            let r: Vec<String> = self
                .versions
                .iter()
                .filter_map(|(v, r)| r.as_ref().err().map(|e| format!("version {v}: {e}")))
                .collect();
            if r.is_empty() {
                "no version is available".to_string()
            } else {
                r.join("; ")
            }
        });
        State::Unavailable(reason)
    }

    /// The version to serve: the given one, or the highest ready one.
    pub fn pick(&self, version: Option<i64>) -> Result<Arc<ModelVersion>> {
        match version {
            Some(v) => match self.versions.get(&v) {
                Some(Ok(m)) => Ok(m.clone()),
                Some(Err(reason)) => Err(ServerError::Unavailable(format!(
                    "Request for unknown model: '{}' version {v} is not at ready state: {reason}",
                    self.name
                ))),
                None => Err(ServerError::unknown_model(&self.name, Some(v))),
            },
            None => self
                .versions
                .values()
                .rev()
                .find_map(|r| r.as_ref().ok().cloned())
                .ok_or_else(|| {
                    ServerError::Unavailable(format!(
                        "Request for unknown model: '{}' has no available versions: {}",
                        self.name,
                        self.state().reason()
                    ))
                }),
        }
    }
}

/// Loaded models and their statistics.
pub struct ModelManager {
    repository: PathBuf,
    options: LoadOptions,
    models: RwLock<HashMap<String, Arc<ModelRecord>>>,
    stats: Mutex<BTreeMap<(String, i64), Arc<ModelStats>>>,
    /// Loads and unloads happen one at a time.
    load_lock: Mutex<()>,
    /// Models being loaded or unloaded now.
    transitions: Mutex<HashMap<String, Transition>>,
}

impl ModelManager {
    /// A manager of the repository at `repository` with nothing loaded.
    pub fn new(repository: &Path, options: LoadOptions) -> ModelManager {
        ModelManager {
            repository: repository.to_path_buf(),
            options,
            models: RwLock::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            load_lock: Mutex::new(()),
            transitions: Mutex::new(HashMap::new()),
        }
    }

    /// The load or unload of a model in progress, if any.
    pub fn transition(&self, name: &str) -> Option<Transition> {
        self.transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    fn begin(&self, name: &str, t: Transition) -> InTransition<'_> {
        self.transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), t);
        InTransition {
            manager: self,
            name: name.to_string(),
        }
    }

    /// The repository directory.
    pub fn repository(&self) -> &Path {
        &self.repository
    }

    /// The current record of a model.
    pub fn record(&self, name: &str) -> Option<Arc<ModelRecord>> {
        self.models.read().ok()?.get(name).cloned()
    }

    /// All current records, by name.
    pub fn records(&self) -> Vec<Arc<ModelRecord>> {
        let mut v: Vec<Arc<ModelRecord>> = self
            .models
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The version of a model that serves a request.
    pub fn get(&self, name: &str, version: Option<i64>) -> Result<Arc<ModelVersion>> {
        self.record(name)
            .ok_or_else(|| ServerError::unknown_model(name, version))?
            .pick(version)
    }

    /// Statistics of every model version seen so far.
    pub fn all_stats(&self) -> Vec<(String, i64, Arc<ModelStats>)> {
        self.stats
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((n, v), s)| (n.clone(), *v, s.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn stats_for(&self, name: &str, version: i64) -> Arc<ModelStats> {
        let mut m = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((name.to_string(), version)).or_default().clone()
    }

    /// Load (or reload) a model from the repository, blocking. On success the new versions
    /// replace the old ones atomically; when every version fails and an old record served,
    /// the old one keeps serving and the error is returned.
    pub fn load(&self, name: &str, config_override: Option<&str>) -> Result<()> {
        let _guard = self.load_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _loading = self.begin(name, Transition::Loading);
        let record = self.build_record(name, config_override);
        let state = record.state();
        let old = self.record(name);
        if let State::Unavailable(reason) = &state {
            if old.as_ref().is_some_and(|o| o.state() == State::Ready) {
                tracing::warn!(model = name, %reason, "reload failed; the old version keeps serving");
                return Err(ServerError::InvalidArg(format!(
                    "failed to load '{name}': {reason}"
                )));
            }
        }
        self.models
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Arc::new(record));
        match state {
            State::Ready => {
                tracing::info!(model = name, "model loaded");
                Ok(())
            }
            State::Unavailable(reason) => {
                tracing::error!(model = name, %reason, "model failed to load");
                Err(ServerError::InvalidArg(format!(
                    "failed to load '{name}': {reason}"
                )))
            }
        }
    }

    /// Unload a model: new requests are refused at once; returns when the requests in
    /// flight have finished (UNLOADING meanwhile; at most 30 s).
    pub fn unload(&self, name: &str) -> Result<()> {
        let _guard = self.load_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _unloading = self.begin(name, Transition::Unloading);
        let removed = self
            .models
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        match removed {
            Some(record) => {
                let start = std::time::Instant::now();
                let in_flight = || {
                    record
                        .versions
                        .values()
                        .flatten()
                        .map(|v| {
                            v.info
                                .stats
                                .pending
                                .load(std::sync::atomic::Ordering::Relaxed)
                        })
                        .sum::<i64>()
                };
                while in_flight() > 0 && start.elapsed() < UNLOAD_WAIT {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                drop(record);
                tracing::info!(model = name, "model unloaded");
                Ok(())
            }
            None => Err(ServerError::InvalidArg(format!(
                "failed to unload '{name}', no model is loaded with that name"
            ))),
        }
    }

    /// Unload every model (shutdown).
    pub fn unload_all(&self) {
        self.models
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn build_record(&self, name: &str, config_override: Option<&str>) -> ModelRecord {
        let mut record = ModelRecord {
            name: name.to_string(),
            config: None,
            versions: BTreeMap::new(),
            reason: None,
        };
        let source = match read_source(&self.repository, name, config_override) {
            Ok(s) => s,
            Err(e) => {
                record.reason = Some(e.message().to_string());
                return record;
            }
        };
        let ModelSource {
            dir,
            mut config,
            files,
            unsupported,
            ..
        } = source;
        if let Some(reason) = unsupported {
            record.config = Some(Arc::new(config));
            record.reason = Some(reason);
            return record;
        }
        if files.is_empty() {
            record.config = Some(Arc::new(config));
            record.reason = Some(format!(
                "model '{name}': no version of the model is available in '{}'",
                dir.display()
            ));
            return record;
        }
        let mut completed: Option<Arc<ModelConfig>> = None;
        for (version, files) in files {
            let result = (|| -> Result<Arc<ModelVersion>> {
                let files = files.map_err(ServerError::Unavailable)?;
                let mut cfg = config.clone();
                if let Some(backend) = crate::plugin_backend::custom_backend(&cfg) {
                    let stats = self.stats_for(name, version);
                    let v = crate::plugin_backend::start_version(
                        name,
                        &backend,
                        &dir,
                        &files,
                        version,
                        cfg,
                        &self.options,
                        stats,
                    )?;
                    return Ok(Arc::new(v));
                }
                let engine = load_engine(name, &files, &mut cfg, &self.options)?;
                crate::source::finish_config(name, &mut cfg)?;
                let cfg = Arc::new(cfg);
                let labels = read_labels(name, &dir, &cfg)?;
                let stats = self.stats_for(name, version);
                let v = start_version(cfg, version, &engine, labels, stats)?;
                crate::warmup::run_warmup(&dir, &v.config, &engine, &v.info)?;
                Ok(Arc::new(v))
            })();
            match result {
                Ok(v) => {
                    completed.get_or_insert_with(|| v.config.clone());
                    record.versions.insert(version, Ok(v));
                }
                Err(e) => {
                    record
                        .versions
                        .insert(version, Err(e.message().to_string()));
                }
            }
        }
        if completed.is_none() {
            let _ = crate::source::finish_config(name, &mut config);
        }
        record.config = Some(completed.unwrap_or_else(|| Arc::new(config)));
        record
    }
}
