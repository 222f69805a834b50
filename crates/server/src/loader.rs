//! Loading one model of the repository: its configuration (parsed, auto-completed from the
//! model file when partial, validated), each version's engine (Kiln plans deserialized, ONNX
//! models built at load time), its instances and its scheduler.

use crate::error::{Result, ServerError};
use crate::instance::{ModelInfo, spawn_instances};
use crate::proto::inference::model_config::SchedulingChoice;
use crate::proto::inference::{ModelConfig, ModelDynamicBatching, ModelQueuePolicy};
use crate::repository::{ModelFiles, Platform};
use crate::request::Signature;
use crate::scheduler::{BatcherSettings, QueuePolicy, Scheduler};
use crate::stats::ModelStats;
use kiln_engine::{Builder, BuilderConfig, Engine};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Labels per output name.
pub type Labels = HashMap<String, Arc<Vec<String>>>;

/// A loaded, servable version of a model.
pub struct ModelVersion {
    /// Version number.
    pub version: i64,
    /// Name, signature, labels and statistics.
    pub info: Arc<ModelInfo>,
    /// Where requests go.
    pub scheduler: Scheduler,
    /// The completed configuration.
    pub config: Arc<ModelConfig>,
}

/// Options every load uses.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Worker threads of each engine (`None`: all cores).
    pub threads: Option<usize>,
    /// Plugin libraries (`--plugin`): their layers resolve unknown ONNX nodes and plan
    /// layers; their backends are the last resort for `backend: "<name>"`.
    pub plugins: kiln_engine::PluginRegistry,
    /// Where custom backends are searched after the model's directories
    /// (`--backend-directory`).
    pub backend_directory: Option<std::path::PathBuf>,
}

/// Build (ONNX, Caffe) or deserialize (Kiln plan) the engine of one version's files,
/// auto-completing `cfg` from the model's graph when it lacks inputs or outputs.
pub fn load_engine(
    model: &str,
    files: &ModelFiles,
    cfg: &mut ModelConfig,
    opts: &LoadOptions,
) -> Result<Engine> {
    let unavailable = |what: String| ServerError::Unavailable(format!("model '{model}': {what}"));
    let path = &files.model;
    let graph = match &files.platform {
        Platform::KilnPlan => {
            let engine = Engine::load_with_plugins(path, opts.threads, &opts.plugins)
                .map_err(|e| unavailable(format!("cannot load plan '{}': {e}", path.display())))?;
            complete(model, cfg, engine.graph())?;
            return Ok(engine);
        }
        Platform::Onnx => crate::plugin_backend::import_onnx(path, &opts.plugins)
            .map_err(|e| unavailable(format!("cannot import '{}': {e}", path.display())))?,
        Platform::Caffe => kiln_caffe::import(path, files.weights.as_deref(), &[])
            .map_err(|e| unavailable(format!("cannot import '{}': {e}", path.display())))?,
        Platform::Unsupported(reason) => return Err(unavailable(reason.clone())),
    };
    complete(model, cfg, &graph)?;
    let config = BuilderConfig {
        threads: opts.threads,
        ..BuilderConfig::default()
    };
    Builder::new(config)
        .with_plugins(opts.plugins.clone())
        .build(graph)
        .map_err(|e| unavailable(format!("cannot build '{}': {e}", path.display())))
}

/// Auto-complete a configuration that lacks inputs or outputs from the model's graph.
fn complete(model: &str, cfg: &mut ModelConfig, graph: &kiln_core::Graph) -> Result<()> {
    if !cfg.input.is_empty() && !cfg.output.is_empty() {
        return Ok(());
    }
    let done = crate::config::auto_complete(cfg.clone(), graph).map_err(|e| {
        ServerError::Unavailable(format!("model '{model}': cannot auto-complete: {e}"))
    })?;
    *cfg = done;
    Ok(())
}

/// Check that the engine has the configuration's inputs and outputs with matching types.
pub fn check_engine(model: &str, sig: &Signature, engine: &Engine) -> Result<()> {
    let mut problems = Vec::new();
    for spec in &sig.inputs {
        match engine.inputs().iter().find(|v| v.name == spec.name) {
            None => problems.push(format!(
                "input '{}' is not an input of the model (its inputs: {})",
                spec.name,
                names(engine.inputs())
            )),
            Some(v) => {
                if let Some(f) = v.ty.tensor() {
                    if f.dtype.is_some_and(|d| d != spec.datatype.kiln()) {
                        problems.push(format!(
                            "input '{}' is {} in the configuration but {} in the model",
                            spec.name,
                            spec.datatype.as_str(),
                            f.dtype.map(|d| d.name()).unwrap_or("?")
                        ));
                    }
                    if sig.max_batch_size > 1 {
                        if let Some(s) = &f.shape {
                            if s.0
                                .first()
                                .and_then(|d| d.fixed())
                                .is_some_and(|n| n != 0 && (n as u32) < sig.max_batch_size)
                            {
                                problems.push(format!(
                                    "input '{}' has a fixed batch dimension {} but max_batch_size is {}",
                                    spec.name, s.0[0], sig.max_batch_size
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    for spec in &sig.outputs {
        if !engine.outputs().iter().any(|v| v.name == spec.name) {
            problems.push(format!(
                "output '{}' is not an output of the model (its outputs: {})",
                spec.name,
                names(engine.outputs())
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ServerError::Unavailable(format!(
            "model '{model}': {}",
            problems.join("; ")
        )))
    }
}

fn names(v: &[kiln_core::ValueInfo]) -> String {
    let n: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
    n.join(", ")
}

/// Start instances and the scheduler of one version.
pub fn start_version(
    cfg: Arc<ModelConfig>,
    version: i64,
    engine: &Engine,
    labels: Labels,
    stats: Arc<ModelStats>,
) -> Result<ModelVersion> {
    let sig = Signature::from_config(&cfg)?;
    check_engine(&cfg.name, &sig, engine)?;
    let count: usize = cfg
        .instance_group
        .iter()
        .map(|g| g.count.max(1) as usize)
        .sum::<usize>()
        .max(1);
    let info = Arc::new(ModelInfo {
        name: cfg.name.clone(),
        version: version.to_string(),
        signature: sig,
        labels,
        stats: stats.clone(),
    });
    let ctx = engine.create_context();
    let scheduler = match (&cfg.scheduling_choice, cfg.max_batch_size > 0) {
        (Some(SchedulingChoice::DynamicBatching(db)), true) => {
            let (free_tx, free_rx) = crossbeam_channel::unbounded();
            let tx = spawn_instances(count, &ctx, info.clone(), Some(free_tx))?;
            Scheduler::dynamic(
                &cfg.name,
                batcher_settings(db),
                cfg.max_batch_size as usize,
                tx,
                free_rx,
                stats,
            )?
        }
        _ => Scheduler::default_scheduler(spawn_instances(count, &ctx, info.clone(), None)?),
    };
    Ok(ModelVersion {
        version,
        info,
        scheduler,
        config: cfg,
    })
}

/// The batcher settings of a `dynamic_batching` block.
pub fn batcher_settings(db: &ModelDynamicBatching) -> BatcherSettings {
    let levels = db.priority_levels.min(u32::MAX as u64) as u32;
    let policy = |q: Option<&ModelQueuePolicy>| {
        q.map(|q| QueuePolicy {
            delay_on_timeout: q.timeout_action == 1,
            default_timeout_us: q.default_timeout_microseconds,
            allow_timeout_override: q.allow_timeout_override,
            max_queue_size: q.max_queue_size,
        })
        .unwrap_or_default()
    };
    let default = policy(db.default_queue_policy.as_ref());
    let policies = (1..=levels.max(1) as u64)
        .map(|l| {
            db.priority_queue_policy
                .get(&l)
                .map(|q| policy(Some(q)))
                .unwrap_or_else(|| default.clone())
        })
        .collect();
    BatcherSettings {
        preferred: db
            .preferred_batch_size
            .iter()
            .filter(|&&s| s > 0)
            .map(|&s| s as usize)
            .collect(),
        max_queue_delay: Duration::from_micros(db.max_queue_delay_microseconds),
        priority_levels: levels,
        default_priority: db.default_priority_level.min(u32::MAX as u64) as u32,
        policies,
        preserve_ordering: db.preserve_ordering,
    }
}

/// Label files of the outputs that name one, read from the model directory
/// ([`crate::repository::load_output_labels`]).
pub fn read_labels(model: &str, dir: &Path, cfg: &ModelConfig) -> Result<Labels> {
    crate::repository::load_output_labels(dir, cfg)
        .map_err(|e| ServerError::Unavailable(format!("model '{model}': label file: {e}")))
}

/// Per-version outcome of a model load.
pub type VersionResults = BTreeMap<i64, std::result::Result<Arc<ModelVersion>, String>>;
