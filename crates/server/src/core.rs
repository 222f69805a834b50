//! The server core: the one API both frontends use (health, metadata, inference,
//! statistics, repository control). It has no networking of its own.

use crate::error::{Result, ServerError};
use crate::instance::Pending;
use crate::manager::{ModelManager, State};
use crate::proto::inference::ModelConfig;
use crate::request::{InferRequest, InferResponse};
use crate::stats::ModelStats;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Protocol extensions the server reports in its metadata.
pub const EXTENSIONS: &[&str] = &[
    "classification",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "logging",
];

/// How models get loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlMode {
    /// Everything at startup; no changes afterwards.
    None,
    /// Everything at startup, then the repository is rescanned for changes.
    Poll,
    /// Only `--load-model` at startup; load/unload through the API.
    Explicit,
}

impl ControlMode {
    /// Parse `none` / `poll` / `explicit`.
    pub fn parse(s: &str) -> Option<ControlMode> {
        match s {
            "none" => Some(ControlMode::None),
            "poll" => Some(ControlMode::Poll),
            "explicit" => Some(ControlMode::Explicit),
            _ => None,
        }
    }
}

/// One entry of the repository index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    /// Model name.
    pub name: String,
    /// Version (empty for models never loaded).
    pub version: String,
    /// `READY` / `UNAVAILABLE` / `LOADING` / `UNLOADING` (empty for models never loaded).
    pub state: String,
    /// Why it is not ready.
    pub reason: String,
}

/// Metadata of a model (KServe v2 model metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorMeta {
    /// Name.
    pub name: String,
    /// Datatype name.
    pub datatype: String,
    /// Shape with -1 for variable dimensions (batch first when batching).
    pub shape: Vec<i64>,
}

/// Metadata of a model (KServe v2 model metadata).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// Name.
    pub name: String,
    /// Ready versions.
    pub versions: Vec<String>,
    /// Platform (`onnxruntime_onnx`, `kiln_plan`).
    pub platform: String,
    /// Inputs.
    pub inputs: Vec<TensorMeta>,
    /// Outputs.
    pub outputs: Vec<TensorMeta>,
}

/// Log settings (the logging extension).
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    /// Log file (empty: stderr).
    pub log_file: String,
    /// Info messages on.
    pub log_info: bool,
    /// Warning messages on.
    pub log_warning: bool,
    /// Error messages on.
    pub log_error: bool,
    /// Verbosity level.
    pub log_verbose_level: u32,
    /// Log format.
    pub log_format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            log_file: String::new(),
            log_info: true,
            log_warning: true,
            log_error: true,
            log_verbose_level: 0,
            log_format: "default".to_string(),
        }
    }
}

/// The server core shared by the frontends.
pub struct Core {
    /// Loaded models.
    pub manager: ModelManager,
    /// The model control mode.
    pub mode: ControlMode,
    ready: AtomicBool,
    /// Current log settings.
    pub log_settings: Mutex<LogSettings>,
}

impl Core {
    /// A core around a manager; not ready until [`Core::set_ready`].
    pub fn new(manager: ModelManager, mode: ControlMode) -> Core {
        Core {
            manager,
            mode,
            ready: AtomicBool::new(false),
            log_settings: Mutex::new(LogSettings::default()),
        }
    }

    /// Mark the server ready (startup loading done) or not (shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Server readiness.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Is this model (version) ready?
    pub fn model_ready(&self, name: &str, version: Option<i64>) -> bool {
        self.manager.get(name, version).is_ok()
    }

    /// Model metadata.
    pub fn model_metadata(&self, name: &str, version: Option<i64>) -> Result<ModelMeta> {
        let v = self.manager.get(name, version)?;
        let rec = self
            .manager
            .record(name)
            .ok_or_else(|| ServerError::unknown_model(name, version))?;
        let sig = &v.info.signature;
        let meta = |s: &crate::request::TensorSpec| TensorMeta {
            name: s.name.clone(),
            datatype: s.datatype.as_str().to_string(),
            shape: sig.full_dims(s),
        };
        let platform = if v.config.platform.is_empty() {
            v.config.backend.clone()
        } else {
            v.config.platform.clone()
        };
        Ok(ModelMeta {
            name: name.to_string(),
            versions: rec
                .versions
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(v, _)| v.to_string())
                .collect(),
            platform,
            inputs: sig.inputs.iter().map(meta).collect(),
            outputs: sig.outputs.iter().map(meta).collect(),
        })
    }

    /// The (completed) configuration of a model.
    pub fn model_config(&self, name: &str, version: Option<i64>) -> Result<Arc<ModelConfig>> {
        Ok(self.manager.get(name, version)?.config.clone())
    }

    /// Run a request (waits for the scheduler's answer without blocking a thread).
    pub async fn infer(&self, req: InferRequest) -> Result<InferResponse> {
        let model = self.manager.get(&req.model, req.version)?;
        let stats = model.info.stats.clone();
        let start = Instant::now();
        let batch = match model.info.signature.check(&model.info.name, &req) {
            Ok(b) => b,
            Err(e) => {
                stats.record_request(false, start.elapsed());
                return Err(e);
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        stats
            .pending
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pending = Pending {
            request: req,
            batch,
            enqueued: start,
            deadline: None,
            reply: tx,
        };
        if let Err(p) = model.scheduler.enqueue(pending) {
            p.finish(
                &stats,
                Err(ServerError::Unavailable(format!(
                    "model '{}' is not accepting requests",
                    model.info.name
                ))),
            );
        }
        drop(model);
        rx.await.map_err(|_| {
            ServerError::Internal("the request was dropped by the scheduler".to_string())
        })?
    }

    /// Statistics of a model (all versions, or one), or of every model.
    pub fn statistics(
        &self,
        name: Option<&str>,
        version: Option<i64>,
    ) -> Result<Vec<(String, i64, Arc<ModelStats>)>> {
        let all = self.manager.all_stats();
        let Some(name) = name else {
            let loaded: Vec<String> = self
                .manager
                .records()
                .iter()
                .map(|r| r.name.clone())
                .collect();
            return Ok(all
                .into_iter()
                .filter(|(n, _, _)| loaded.contains(n))
                .collect());
        };
        let rec = self
            .manager
            .record(name)
            .ok_or_else(|| ServerError::unknown_model(name, version))?;
        if let Some(v) = version {
            rec.pick(Some(v))?;
        }
        Ok(all
            .into_iter()
            .filter(|(n, v, _)| {
                n == name
                    && version.is_none_or(|x| x == *v)
                    && rec.versions.get(v).is_some_and(|r| r.is_ok())
            })
            .collect())
    }

    /// The repository index: every model directory, with state for those the manager knows.
    pub fn repository_index(&self, ready_only: bool) -> Result<Vec<IndexEntry>> {
        let names = crate::source::model_names(self.manager.repository())?;
        let mut out = Vec::new();
        for name in names {
            if let Some(t) = self.manager.transition(&name) {
                // Ready versions keep serving while a reload is in progress.
                if ready_only {
                    if let Some(rec) = self.manager.record(&name) {
                        for (v, _) in rec.versions.iter().filter(|(_, r)| r.is_ok()) {
                            out.push(IndexEntry {
                                name: name.clone(),
                                version: v.to_string(),
                                state: State::Ready.name().to_string(),
                                reason: String::new(),
                            });
                        }
                    }
                } else {
                    out.push(IndexEntry {
                        name,
                        version: String::new(),
                        state: t.name().to_string(),
                        reason: String::new(),
                    });
                }
                continue;
            }
            match self.manager.record(&name) {
                None => {
                    if !ready_only {
                        out.push(IndexEntry {
                            name,
                            version: String::new(),
                            state: String::new(),
                            reason: String::new(),
                        });
                    }
                }
                Some(rec) => {
                    if rec.versions.is_empty() {
                        let st = rec.state();
                        if !ready_only {
                            out.push(IndexEntry {
                                name: name.clone(),
                                version: String::new(),
                                state: st.name().to_string(),
                                reason: st.reason().to_string(),
                            });
                        }
                    }
                    for (v, r) in &rec.versions {
                        let st = match r {
                            Ok(_) => State::Ready,
                            Err(e) => State::Unavailable(e.clone()),
                        };
                        if ready_only && st != State::Ready {
                            continue;
                        }
                        out.push(IndexEntry {
                            name: name.clone(),
                            version: v.to_string(),
                            state: st.name().to_string(),
                            reason: st.reason().to_string(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn check_explicit(&self) -> Result<()> {
        if self.mode == ControlMode::Explicit {
            Ok(())
        } else {
            Err(ServerError::Unavailable(
                "explicit model load / unload is not allowed if polling is enabled or the \
                 model control mode is not 'explicit'"
                    .to_string(),
            ))
        }
    }

    /// Load or reload a model (explicit mode), optionally with a config override (JSON).
    pub async fn load_model(self: &Arc<Self>, name: &str, config: Option<String>) -> Result<()> {
        self.check_explicit()?;
        let core = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || core.manager.load(&name, config.as_deref()))
            .await
            .map_err(|e| ServerError::Internal(format!("load task failed: {e}")))?
    }

    /// Unload a model (explicit mode).
    pub async fn unload_model(self: &Arc<Self>, name: &str) -> Result<()> {
        self.check_explicit()?;
        let core = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || core.manager.unload(&name))
            .await
            .map_err(|e| ServerError::Internal(format!("unload task failed: {e}")))?
    }
}

/// Parse a version given as text (empty: none).
pub fn parse_version(v: &str) -> Result<Option<i64>> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<i64>()
        .map(Some)
        .map_err(|_| ServerError::InvalidArg(format!("invalid model version '{v}'")))
}
