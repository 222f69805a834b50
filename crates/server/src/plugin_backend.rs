//! Custom server backends from plugin libraries (`backend: "<name>"` in `config.pbtxt`), and
//! ONNX import that accepts nodes loaded plugin layers provide.
//!
//! The library `libkiln_<name>.so` is searched in the model's version directory, then the
//! model directory, then `--backend-directory` (Triton's order); a library loaded with
//! `--plugin` that provides the backend is the last resort. Each instance of the
//! configuration's instance groups is one backend instance on its own thread, fed by the
//! same schedulers (default or dynamic batcher) as built-in models, and recorded in the same
//! statistics and metrics.

use crate::error::{Result, ServerError};
use crate::instance::{ModelInfo, Pending, respond};
use crate::loader::{LoadOptions, ModelVersion, batcher_settings};
use crate::proto::inference::ModelConfig;
use crate::proto::inference::model_config::SchedulingChoice;
use crate::repository::{ModelFiles, Platform, platform_of};
use crate::request::{InferResponse, Signature};
use crate::scheduler::Scheduler;
use crate::stats::ModelStats;
use crate::tensor::{Datatype, InferTensor, TensorData, element_count};
use crossbeam_channel::Sender;
use kiln_core::DataType;
use kiln_engine::PluginRegistry;
use kiln_engine::plugin::BackendPlugin;
use kiln_plugin_abi::{
    BackendBox, DType, InstanceConfig, InstanceKind, NamedTensor, NamedView, RSlice, Request,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The custom backend a configuration names: a `backend` that is not built in (and no
/// `platform`).
pub fn custom_backend(cfg: &ModelConfig) -> Option<String> {
    let builtin = ["kiln", "onnxruntime", "caffe", "tensorrt", ""];
    (cfg.platform.is_empty()
        && !builtin.contains(&cfg.backend.as_str())
        && matches!(platform_of(cfg), Platform::Unsupported(_)))
    .then(|| cfg.backend.clone())
}

/// The "files" of one version of a custom-backend model: its version directory.
pub fn version_files(model_dir: &Path, version: u64) -> std::result::Result<ModelFiles, String> {
    let dir = model_dir.join(version.to_string());
    if !dir.is_dir() {
        return Err(format!(
            "version directory '{}' does not exist",
            dir.display()
        ));
    }
    Ok(ModelFiles {
        platform: Platform::Unsupported("custom backend".into()),
        model: dir,
        weights: None,
    })
}

/// The library file name of backend `name`.
pub fn library_name(name: &str) -> String {
    format!(
        "{}kiln_{name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    )
}

/// Find and load backend `name` for a model (see the module documentation for the order).
pub fn find_backend(
    model: &str,
    name: &str,
    version_dir: &Path,
    model_dir: &Path,
    opts: &LoadOptions,
) -> Result<Arc<BackendPlugin>> {
    let unavailable = |m: String| ServerError::Unavailable(format!("model '{model}': {m}"));
    if name.contains(['/', '\\']) || name.contains("..") {
        return Err(unavailable(format!(
            "backend name \"{name}\" must not be a path"
        )));
    }
    let file = library_name(name);
    let mut searched: Vec<PathBuf> = vec![version_dir.join(&file), model_dir.join(&file)];
    if let Some(d) = &opts.backend_directory {
        searched.push(d.join(&file));
    }
    if let Some(path) = searched.iter().find(|p| p.is_file()) {
        let mut reg = PluginRegistry::new();
        reg.load(path)
            .map_err(|e| unavailable(format!("backend \"{name}\": {e}")))?;
        return reg.backend(name).ok_or_else(|| {
            unavailable(format!(
                "'{}' does not provide backend \"{name}\" (it provides: {})",
                path.display(),
                reg.backends()
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
    }
    if let Some(b) = opts.plugins.backend(name) {
        return Ok(b);
    }
    let list: Vec<String> = searched
        .iter()
        .map(|p| format!("'{}'", p.display()))
        .collect();
    Err(unavailable(format!(
        "backend \"{name}\" is not built in and no plugin provides it: {file} was not found in {}{}",
        list.join(", "),
        if opts.backend_directory.is_none() {
            " (no --backend-directory given)"
        } else {
            ""
        }
    )))
}

fn instance_configs(
    cfg: &ModelConfig,
    version: i64,
    model_dir: &Path,
    version_dir: &Path,
) -> Vec<InstanceConfig> {
    let json = crate::config::config_to_json(cfg).to_string();
    let mut out = Vec::new();
    let groups: Vec<(i32, i32, Vec<i32>)> = if cfg.instance_group.is_empty() {
        vec![(1, 2, Vec::new())]
    } else {
        cfg.instance_group
            .iter()
            .map(|g| (g.count.max(1), g.kind, g.gpus.clone()))
            .collect()
    };
    for (gi, (count, kind, gpus)) in groups.into_iter().enumerate() {
        for i in 0..count {
            let gpu = kind == 1;
            let device_id = if gpu {
                gpus.get(i as usize % gpus.len().max(1))
                    .copied()
                    .unwrap_or(0)
            } else {
                -1
            };
            out.push(InstanceConfig {
                model_name: cfg.name.as_str().into(),
                model_version: version,
                config_json: json.as_str().into(),
                model_dir: model_dir.display().to_string().into(),
                version_dir: version_dir.display().to_string().into(),
                instance_name: format!("{}_{gi}_{i}", cfg.name).into(),
                kind: if gpu {
                    InstanceKind::Gpu
                } else {
                    InstanceKind::Cpu
                },
                device_id,
            });
        }
    }
    out
}

/// Load one version of a custom-backend model: find the library, initialize every instance
/// (a failure fails the load), start the instance threads and the scheduler.
#[allow(clippy::too_many_arguments)]
pub fn start_version(
    name: &str,
    backend: &str,
    model_dir: &Path,
    files: &ModelFiles,
    version: i64,
    mut cfg: ModelConfig,
    opts: &LoadOptions,
    stats: Arc<ModelStats>,
) -> Result<ModelVersion> {
    crate::source::finish_config(name, &mut cfg)?;
    let cfg = Arc::new(cfg);
    let plugin = find_backend(name, backend, &files.model, model_dir, opts)?;
    let sig = Signature::from_config(&cfg)?;
    let labels = crate::loader::read_labels(name, model_dir, &cfg)?;
    let info = Arc::new(ModelInfo {
        name: cfg.name.clone(),
        version: version.to_string(),
        signature: sig,
        labels,
        stats: stats.clone(),
    });
    let mut instances = Vec::new();
    for ic in instance_configs(&cfg, version, model_dir, &files.model) {
        let inst = (plugin.creator.initialize)(&ic).into_result().map_err(|e| {
            ServerError::Unavailable(format!(
                "model '{name}': backend \"{backend}\" ('{}') cannot initialize instance {}: {e}",
                plugin.library.path.display(),
                ic.instance_name
            ))
        })?;
        instances.push((ic.instance_name.to_string(), inst));
    }
    let batching = cfg.max_batch_size > 0;
    let scheduler = match (&cfg.scheduling_choice, batching) {
        (Some(SchedulingChoice::DynamicBatching(db)), true) => {
            let (free_tx, free_rx) = crossbeam_channel::unbounded();
            let tx = spawn(instances, &plugin, info.clone(), Some(free_tx))?;
            Scheduler::dynamic(
                &cfg.name,
                batcher_settings(db),
                cfg.max_batch_size as usize,
                tx,
                free_rx,
                stats,
            )?
        }
        _ => Scheduler::default_scheduler(spawn(instances, &plugin, info.clone(), None)?),
    };
    tracing::info!(model = name, version, backend, library = %plugin.library.path.display(), "plugin backend model loaded");
    Ok(ModelVersion {
        version,
        info,
        scheduler,
        config: cfg,
    })
}

fn spawn(
    instances: Vec<(String, BackendBox)>,
    plugin: &Arc<BackendPlugin>,
    info: Arc<ModelInfo>,
    free: Option<Sender<()>>,
) -> Result<Sender<Vec<Pending>>> {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<Pending>>();
    for (iname, mut inst) in instances {
        let rx = rx.clone();
        let info = info.clone();
        let free = free.clone();
        let plugin = plugin.clone();
        std::thread::Builder::new()
            .name(iname.clone())
            .spawn(move || {
                if let Some(f) = &free {
                    let _ = f.send(());
                }
                for batch in rx {
                    run_batch(&mut inst, &plugin, &info, batch);
                    if let Some(f) = &free {
                        let _ = f.send(());
                    }
                }
                if let Err(e) = inst.finalize().into_result() {
                    tracing::warn!(instance = %iname, error = %e, "backend instance failed to finalize");
                }
            })
            .map_err(|e| ServerError::Internal(format!("cannot start an instance thread: {e}")))?;
    }
    Ok(tx)
}

fn abi_dtype(d: Datatype) -> Option<DType> {
    DType::from_name(d.kiln().name())
}

/// Run one batch on a backend instance and answer each request.
fn run_batch(inst: &mut BackendBox, plugin: &BackendPlugin, info: &ModelInfo, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let start = Instant::now();
    for p in &batch {
        info.stats
            .queue
            .add(start.saturating_duration_since(p.enqueued));
    }
    // Inputs: views of the requests' bytes (BYTES tensors cannot cross the ABI).
    let mut shapes: Vec<Vec<Vec<u64>>> = Vec::with_capacity(batch.len());
    let mut bad: Vec<Option<String>> = vec![None; batch.len()];
    for (i, p) in batch.iter().enumerate() {
        shapes.push(
            p.request
                .inputs
                .iter()
                .map(|t| t.shape.iter().map(|&d| d.max(0) as u64).collect())
                .collect(),
        );
        for t in &p.request.inputs {
            if abi_dtype(t.datatype).is_none() || matches!(t.data, TensorData::Bytes(_)) {
                bad[i] = Some(format!(
                    "input '{}': {} tensors are not supported by plugin backends",
                    t.name,
                    t.datatype.as_str()
                ));
            }
        }
    }
    let views: Vec<Vec<NamedView<'_>>> = batch
        .iter()
        .zip(&shapes)
        .map(|(p, sh)| {
            p.request
                .inputs
                .iter()
                .zip(sh)
                .filter_map(|(t, s)| {
                    let TensorData::Raw(raw) = &t.data else {
                        return None;
                    };
                    Some(NamedView {
                        name: t.name.as_str().into(),
                        tensor: kiln_plugin_abi::TensorView {
                            dtype: abi_dtype(t.datatype)?,
                            shape: RSlice::from_slice(s),
                            data: RSlice::from_slice(raw),
                        },
                    })
                })
                .collect()
        })
        .collect();
    let requests: Vec<Request<'_>> = batch
        .iter()
        .zip(&views)
        .map(|(p, v)| Request {
            id: p.request.id.as_str().into(),
            inputs: RSlice::from_slice(v),
        })
        .collect();
    let t1 = Instant::now();
    let results = inst.execute(RSlice::from_slice(&requests)).into_vec();
    let t2 = Instant::now();
    drop(requests);
    let what = || {
        format!(
            "backend \"{}\" ('{}')",
            plugin.name,
            plugin.library.path.display()
        )
    };
    let total: usize = batch.iter().map(|p| p.batch).sum();
    let answers: Vec<Result<InferResponse>> = if results.len() != batch.len() {
        let e = ServerError::Internal(format!(
            "model '{}': {} returned {} results for {} requests",
            info.name,
            what(),
            results.len(),
            batch.len()
        ));
        batch.iter().map(|_| Err(e.clone())).collect()
    } else {
        batch
            .iter()
            .zip(results)
            .zip(bad)
            .map(|((p, r), bad)| {
                if let Some(b) = bad {
                    return Err(ServerError::InvalidArg(format!(
                        "model '{}': {b}",
                        info.name
                    )));
                }
                match r.into_result() {
                    Ok(outs) => outputs(info, &what(), p, outs.into_vec())
                        .and_then(|o| respond(info, &p.request, o)),
                    Err(e) => Err(ServerError::Internal(format!(
                        "model '{}': {} failed: {e}",
                        info.name,
                        what()
                    ))),
                }
            })
            .collect()
    };
    let t_out = t2.elapsed();
    let (t_in, t_infer): (Duration, Duration) = (t1 - start, t2 - t1);
    info.stats
        .record_execution(total as u64, t_in, t_infer, t_out);
    let n = batch.len() as u32;
    info.stats.compute_input.add_n(n as u64, t_in * n);
    info.stats.compute_infer.add_n(n as u64, t_infer * n);
    info.stats.compute_output.add_n(n as u64, t_out * n);
    for (p, a) in batch.into_iter().zip(answers) {
        p.finish(&info.stats, a);
    }
}

/// Check a request's outputs against the configuration (names, types, shapes, byte sizes).
fn outputs(
    info: &ModelInfo,
    what: &str,
    p: &Pending,
    outs: Vec<NamedTensor>,
) -> Result<Vec<InferTensor>> {
    let sig = &info.signature;
    let fail = |m: String| {
        Err(ServerError::Internal(format!(
            "model '{}': {what}: {m}",
            info.name
        )))
    };
    let mut result = Vec::with_capacity(outs.len());
    for spec in &sig.outputs {
        let Some(t) = outs.iter().find(|t| t.name.as_str() == spec.name) else {
            return fail(format!("did not produce output '{}'", spec.name));
        };
        let dt = DataType::from_name(t.dtype.name()).map(Datatype::from_kiln);
        if dt != Some(spec.datatype) {
            return fail(format!(
                "output '{}' is {} but the configuration declares {}",
                spec.name,
                t.dtype,
                spec.datatype.as_str()
            ));
        }
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        let mut expect: Vec<i64> = spec.dims.clone();
        if sig.max_batch_size > 0 {
            expect.insert(0, p.batch as i64);
        }
        let fits = shape.len() == expect.len()
            && shape.iter().zip(&expect).all(|(&s, &e)| e < 0 || s == e);
        let bytes = element_count(&shape).and_then(|n| n.checked_mul(t.dtype.size()));
        if !fits || bytes != Some(t.data.len()) {
            return fail(format!(
                "output '{}' does not have its declared size: shape {shape:?} with {} bytes, expected shape {expect:?} (-1: any) with {} bytes per element",
                spec.name,
                t.data.len(),
                t.dtype.size()
            ));
        }
        result.push(InferTensor {
            name: spec.name.clone(),
            datatype: spec.datatype,
            shape,
            data: TensorData::Raw(t.data.to_vec()),
        });
    }
    Ok(result)
}

/// Import an ONNX model whose unsupported nodes may be plugin layers: nodes a loaded plugin
/// provides are accepted (the builder resolves them); every other problem is reported at
/// once, as without plugins.
pub fn import_onnx(
    path: &Path,
    plugins: &PluginRegistry,
) -> std::result::Result<kiln_core::Graph, kiln_onnx::OnnxError> {
    let mut model = kiln_onnx::load_model(path)?;
    if !plugins.layers().is_empty() {
        let provided: Vec<String> = model
            .graph
            .nodes
            .iter()
            .filter(|n| plugins.provides(n))
            .map(|n| n.name.clone())
            .collect();
        model.report.diagnostics.retain(|d| {
            !(d.code == kiln_onnx::DiagnosticCode::UnsupportedNode
                && provided.contains(&d.node_name))
        });
    }
    if model.report.is_supported() {
        Ok(model.graph)
    } else {
        Err(kiln_onnx::OnnxError::Unsupported(model.report))
    }
}
