//! Model instances: each one an OS thread with its own [`ExecutionContext`], fed batches of
//! requests through a crossbeam channel shared by the instances of a model version. Model
//! work never runs on the async I/O threads.

use crate::classify::classify;
use crate::error::{Result, ServerError};
use crate::request::{InferRequest, InferResponse, Signature};
use crate::stats::ModelStats;
use crate::tensor::{InferTensor, concat_batch, split_batch};
use crossbeam_channel::{Receiver, Sender};
use kiln_engine::{EngineError, ExecutionContext};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A request waiting in a scheduler, with where its answer goes.
pub struct Pending {
    /// The request (validated against the signature).
    pub request: InferRequest,
    /// Its batch size (1 for models that do not batch).
    pub batch: usize,
    /// When the core accepted it.
    pub enqueued: Instant,
    /// Queue deadline from the queue policy, if any.
    pub deadline: Option<Instant>,
    /// Where the response goes.
    pub reply: tokio::sync::oneshot::Sender<Result<InferResponse>>,
}

impl Pending {
    /// Answer the request and record it in the statistics.
    pub fn finish(self, stats: &ModelStats, result: Result<InferResponse>) {
        stats.record_request(result.is_ok(), self.enqueued.elapsed());
        stats.pending.fetch_sub(1, Ordering::Relaxed);
        // The client may have gone away; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// What every instance of one model version shares.
pub struct ModelInfo {
    /// Model name.
    pub name: String,
    /// Version, as text.
    pub version: String,
    /// Inputs and outputs.
    pub signature: Signature,
    /// Labels per output name (classification).
    pub labels: crate::loader::Labels,
    /// Statistics.
    pub stats: Arc<ModelStats>,
}

/// Start `count` instance threads running `ctx` clones; returns the channel that feeds
/// them. Each finished batch sends `()` on `free` (the dynamic batcher's idle signal).
pub fn spawn_instances(
    count: usize,
    ctx: &ExecutionContext,
    info: Arc<ModelInfo>,
    free: Option<Sender<()>>,
) -> Result<Sender<Vec<Pending>>> {
    let (tx, rx) = crossbeam_channel::unbounded::<Vec<Pending>>();
    for i in 0..count.max(1) {
        let rx: Receiver<Vec<Pending>> = rx.clone();
        let mut ctx = ctx.engine().create_context();
        let info = info.clone();
        let free = free.clone();
        std::thread::Builder::new()
            .name(format!("{}-{}-inst{i}", info.name, info.version))
            .spawn(move || {
                if let Some(f) = &free {
                    let _ = f.send(());
                }
                for batch in rx {
                    run_batch(&mut ctx, &info, batch);
                    if let Some(f) = &free {
                        let _ = f.send(());
                    }
                }
                tracing::debug!(model = %info.name, version = %info.version, instance = i, "instance stopped");
            })
            .map_err(|e| ServerError::Internal(format!("cannot start an instance thread: {e}")))?;
    }
    Ok(tx)
}

/// Run one batch of requests and answer each of them.
pub fn run_batch(ctx: &mut ExecutionContext, info: &ModelInfo, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let start = Instant::now();
    for p in &batch {
        info.stats
            .queue
            .add(start.saturating_duration_since(p.enqueued));
    }
    let sizes: Vec<usize> = batch.iter().map(|p| p.batch).collect();
    let total: usize = sizes.iter().sum();
    match execute(ctx, info, &batch, &sizes) {
        Ok((outputs, t_in, t_infer)) => {
            let out_start = Instant::now();
            let mut per_request: Vec<Vec<InferTensor>> = vec![Vec::new(); batch.len()];
            let mut failure: Option<ServerError> = None;
            for t in &outputs {
                match split_batch_for(info, t, &sizes) {
                    Ok(parts) => {
                        for (dst, part) in per_request.iter_mut().zip(parts) {
                            dst.push(part);
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            }
            let answers: Vec<Result<InferResponse>> = batch
                .iter()
                .zip(per_request)
                .map(|(p, outs)| match &failure {
                    Some(e) => Err(e.clone()),
                    None => respond(info, &p.request, outs),
                })
                .collect();
            let t_out = out_start.elapsed();
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
        Err(e) => {
            tracing::debug!(model = %info.name, error = %e, "batch failed");
            for p in batch {
                p.finish(&info.stats, Err(e.clone()));
            }
        }
    }
}

type Executed = (Vec<InferTensor>, Duration, Duration);

/// Batch the inputs, run the model, return its outputs (config names, config shapes).
fn execute(
    ctx: &mut ExecutionContext,
    info: &ModelInfo,
    batch: &[Pending],
    sizes: &[usize],
) -> Result<Executed> {
    let t0 = Instant::now();
    let sig = &info.signature;
    let batching = sig.max_batch_size > 0;
    let total: i64 = sizes.iter().sum::<usize>() as i64;
    let mut inputs = HashMap::new();
    for spec in &sig.inputs {
        let parts: Vec<&InferTensor> = batch
            .iter()
            .filter_map(|p| p.request.inputs.iter().find(|t| t.name == spec.name))
            .collect();
        if parts.is_empty() {
            continue;
        }
        if parts.len() != batch.len() {
            return Err(ServerError::Internal(format!(
                "input '{}' is missing from some requests of a batch",
                spec.name
            )));
        }
        let mut t = concat_batch(&parts)?;
        if let Some(r) = &spec.reshape {
            t.shape = if batching {
                std::iter::once(total).chain(r.iter().copied()).collect()
            } else {
                r.clone()
            };
        }
        inputs.insert(spec.name.clone(), t.to_kiln()?);
    }
    let t1 = Instant::now();
    let raw = ctx.run(inputs).map_err(|e| match e {
        EngineError::Input(m) => ServerError::InvalidArg(format!(
            "model '{}' version {}: {m}",
            info.name, info.version
        )),
        other => ServerError::Internal(format!(
            "model '{}' version {} failed: {other}",
            info.name, info.version
        )),
    })?;
    let mut outputs = Vec::with_capacity(sig.outputs.len());
    for spec in &sig.outputs {
        let Some((_, t)) = raw.iter().find(|(n, _)| n == &spec.name) else {
            return Err(ServerError::Internal(format!(
                "model '{}' did not produce output '{}'",
                info.name, spec.name
            )));
        };
        let mut t = InferTensor::from_kiln(&spec.name, t)?;
        if spec.reshape.is_some() && !spec.dims.iter().any(|&d| d < 0) {
            t.shape = if batching {
                std::iter::once(total)
                    .chain(spec.dims.iter().copied())
                    .collect()
            } else {
                spec.dims.clone()
            };
        }
        outputs.push(t);
    }
    Ok((outputs, t1 - t0, t1.elapsed()))
}

fn split_batch_for(info: &ModelInfo, t: &InferTensor, sizes: &[usize]) -> Result<Vec<InferTensor>> {
    if info.signature.max_batch_size == 0 {
        return Ok(vec![t.clone()]);
    }
    split_batch(t, sizes)
}

/// The response of one request: the outputs it asked for (or all), classified on request.
pub(crate) fn respond(
    info: &ModelInfo,
    req: &InferRequest,
    outs: Vec<InferTensor>,
) -> Result<InferResponse> {
    let outputs = if req.outputs.is_empty() {
        outs
    } else {
        let mut selected = Vec::with_capacity(req.outputs.len());
        for o in &req.outputs {
            let t = outs.iter().find(|t| t.name == o.name).ok_or_else(|| {
                ServerError::InvalidArg(format!(
                    "unexpected inference output '{}' for model '{}'",
                    o.name, info.name
                ))
            })?;
            if o.class_count > 0 {
                let labels = info.labels.get(&o.name).map(|l| l.as_slice());
                selected.push(classify(
                    t,
                    o.class_count as usize,
                    info.signature.max_batch_size > 0,
                    labels,
                )?);
            } else {
                selected.push(t.clone());
            }
        }
        selected
    };
    Ok(InferResponse {
        model: info.name.clone(),
        version: info.version.clone(),
        id: req.id.clone(),
        outputs,
    })
}
