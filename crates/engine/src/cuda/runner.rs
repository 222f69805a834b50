//! GPU execution of an engine: one device arena per execution context (planned for the
//! input shapes of the run by [`make_plan`](super::plan), re-planned when they change),
//! weights uploaded once, inputs copied in once and outputs copied out once; GPU layers
//! enqueue on the context's stream, and layers without a GPU kernel run the CPU tactic with
//! explicit copies (reported per layer in [`LayerPlacement`]).
//!
//! With CUDA graphs on ([`GpuRunner::set_cuda_graph`]) and a plan whose every step runs on
//! the GPU, the second run of a plan captures the steps (casts and kernels, not the copies)
//! into a CUDA graph and later runs replay it. Every run records events around the input
//! copies, the compute and the output copies ([`RunTimes`]).

use super::plan::{LayerPlacement, RunPlan, Step, make_plan};
use super::step_profile::{StepProfile, profile_from_env, step_labels};
use crate::EngineError;
use crate::engine::Inner;
use crate::reads::node_reads;
use kiln_core::{EvalContext, Scope, Tensor, Value};
use kiln_kernels::RunContext;
use kiln_kernels::cuda::graph::{StreamGraph, Timer, begin_capture, end_capture};
use kiln_kernels::cuda::memory::{
    DeviceMemory, PendingDownload, align_up, download, download_async, upload, upload_now,
};
use kiln_kernels::cuda::ops::launch_cast;
use kiln_kernels::cuda::{CudaError, DevTensor, Exec, Gpu, Spec};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Device times of the latest run, from events on the context's stream (milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunTimes {
    /// Host-to-device copies of the inputs.
    pub h2d_ms: f64,
    /// The layers (kernels, casts; CPU fallbacks with their copies included).
    pub compute_ms: f64,
    /// Device-to-host copies of the outputs.
    pub d2h_ms: f64,
    /// True when the compute was a CUDA graph replay.
    pub graph: bool,
}

/// Device copies of an engine's initializers.
struct Weights {
    _mem: Option<DeviceMemory>,
    tensors: HashMap<String, DevTensor>,
}

/// The CUDA graph state of the current plan.
enum GraphState {
    /// Not tried yet: the next run (after one plain run) captures.
    NotYet {
        plain_runs: u32,
    },
    Ready(StreamGraph),
    /// Capture is impossible for this plan (CPU layers, or capture failed).
    Off,
}

/// Runs an engine on its GPU: owned by one execution context.
pub struct GpuRunner {
    gpu: Arc<Gpu>,
    stream: Arc<kiln_kernels::cuda::CudaStream>,
    weights: Option<Weights>,
    plan: Option<RunPlan>,
    use_graph: bool,
    graph: GraphState,
    events: Option<Timer>,
    times: Option<RunTimes>,
    /// `KILN_GPU_PROFILE=1`: device time per step, summed over runs (logged on drop).
    profile: Option<StepProfile>,
}

impl std::fmt::Debug for GpuRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRunner")
            .field("device", &self.gpu.info().name)
            .field("arena_bytes", &self.arena_bytes())
            .field("cuda_graph", &self.use_graph)
            .finish()
    }
}

fn gpu_err(what: &str) -> impl Fn(CudaError) -> EngineError + '_ {
    move |e| EngineError::Gpu(format!("{what}: {e}"))
}

impl GpuRunner {
    /// A runner on `gpu` with its own stream.
    pub fn new(gpu: Arc<Gpu>) -> Result<GpuRunner, EngineError> {
        gpu.bind().map_err(gpu_err("binding the device"))?;
        let stream = gpu.new_stream().map_err(gpu_err("creating a stream"))?;
        Ok(GpuRunner {
            gpu,
            stream,
            weights: None,
            plan: None,
            use_graph: false,
            graph: GraphState::NotYet { plain_runs: 0 },
            events: None,
            times: None,
            profile: None,
        })
    }

    /// Capture the layers of a plan as a CUDA graph and replay it (static shapes; plans
    /// with CPU fallback layers run without).
    pub fn set_cuda_graph(&mut self, on: bool) {
        if on != self.use_graph {
            self.use_graph = on;
            self.graph = GraphState::NotYet { plain_runs: 0 };
        }
    }

    /// True when the latest run replayed a CUDA graph.
    pub fn graph_active(&self) -> bool {
        matches!(self.graph, GraphState::Ready(_))
    }

    /// Device times of the latest run.
    pub fn times(&self) -> Option<RunTimes> {
        self.times
    }

    /// Bytes of the current device arena (0 before the first run).
    pub fn arena_bytes(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| p.bytes)
    }

    /// Where each layer ran in the latest plan (empty before the first run).
    pub fn placement(&self) -> &[LayerPlacement] {
        self.plan.as_ref().map_or(&[], |p| &p.placement)
    }

    fn upload_weights(&mut self, inner: &Inner) -> Result<(), EngineError> {
        if self.weights.is_some() {
            return Ok(());
        }
        let fed: HashSet<&str> = inner.graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut list: Vec<(&String, &Tensor, usize)> = Vec::new();
        let mut total = 0usize;
        for (name, t) in &inner.graph.initializers {
            if fed.contains(name.as_str()) {
                continue;
            }
            let Some(size) = t.dtype().size_of() else {
                continue;
            };
            list.push((name, t, total));
            total += align_up((size * t.len()).max(1));
        }
        let mem = if total > 0 {
            Some(
                DeviceMemory::alloc(self.gpu.context(), total)
                    .map_err(gpu_err("allocating the weights"))?,
            )
        } else {
            None
        };
        let mut tensors = HashMap::new();
        let mut keep = Vec::new();
        for (name, t, off) in list {
            let base = mem.as_ref().map_or(0, DeviceMemory::ptr);
            let d = DevTensor {
                ptr: base + off as u64,
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
            };
            keep.push(
                upload(&self.stream, t, &d)
                    .map_err(gpu_err(&format!("uploading weight '{name}'")))?,
            );
            tensors.insert(name.clone(), d);
        }
        self.stream
            .synchronize()
            .map_err(|e| EngineError::Gpu(format!("uploading the weights: {e:?}")))?;
        drop(keep);
        tracing::info!(
            bytes = total,
            tensors = tensors.len(),
            "weights uploaded to the GPU"
        );
        self.weights = Some(Weights { _mem: mem, tensors });
        Ok(())
    }

    /// Run the engine on `inputs` (already checked against the declared inputs).
    pub(crate) fn execute(
        &mut self,
        inner: &Inner,
        inputs: &HashMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        self.gpu.bind().map_err(gpu_err("binding the device"))?;
        let mut key = Vec::new();
        for vi in &inner.graph.inputs {
            match inputs.get(&vi.name) {
                Some(Value::Tensor(t)) if t.dtype().size_of().is_none() => {
                    return Err(EngineError::HostOnly(format!(
                        "input '{}': {} tensors have no device representation",
                        vi.name,
                        t.dtype()
                    )));
                }
                Some(Value::Tensor(t)) => key.push((vi.name.clone(), t.shape().to_vec())),
                Some(_) => {
                    return Err(EngineError::HostOnly(format!(
                        "input '{}': only tensor inputs run on the GPU",
                        vi.name
                    )));
                }
                None => {}
            }
        }
        self.upload_weights(inner)?;
        if self.plan.as_ref().is_none_or(|p| p.key != key) {
            self.plan = None;
            self.graph = GraphState::NotYet { plain_runs: 0 };
            let weights = &self.weights.as_ref().expect("uploaded").tensors;
            self.plan = Some(make_plan(
                &self.gpu,
                &self.stream,
                inner,
                weights,
                inputs,
                key,
            )?);
            if let Some(p) = &self.profile {
                p.log();
            }
            self.profile = None;
            if profile_from_env() {
                let plan = self.plan.as_ref().expect("planned");
                self.use_graph = false;
                self.profile = Some(StepProfile {
                    timer: None,
                    total_ms: vec![0.0; plan.steps.len()],
                    runs: 0,
                    warm: false,
                    labels: step_labels(inner, plan),
                });
            }
        }
        if self.events.is_none() {
            self.events = Some(Timer::new(&self.gpu, 4).map_err(gpu_err("timing events"))?);
        }
        let plan = self.plan.as_ref().expect("planned");
        let events = self.events.as_ref().expect("created");
        let stream = &self.stream;
        let record = |k: usize| events.record(k, stream).map_err(gpu_err("timing"));
        record(0)?;
        let mut keep: Vec<Vec<u8>> = Vec::new();
        for (name, v) in inputs {
            if let (Value::Tensor(t), Some(d)) = (v, plan.inputs.get(name)) {
                upload_now(stream, t, d).map_err(gpu_err(&format!("input '{name}'")))?;
            }
        }
        record(1)?;
        // Compute: replay the graph, capture it, or enqueue step by step.
        let exec = Exec {
            gpu: &self.gpu,
            stream,
        };
        let mut replayed = false;
        if self.use_graph && plan.all_gpu() {
            match &mut self.graph {
                GraphState::Ready(g) => {
                    g.launch().map_err(gpu_err("CUDA graph"))?;
                    replayed = true;
                }
                GraphState::NotYet { plain_runs } if *plain_runs >= 1 => {
                    match capture(&exec, inner, plan) {
                        Ok(g) => {
                            g.launch().map_err(gpu_err("CUDA graph"))?;
                            tracing::info!(steps = plan.steps.len(), "CUDA graph captured");
                            self.graph = GraphState::Ready(g);
                            replayed = true;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "CUDA graph capture failed: running without");
                            self.graph = GraphState::Off;
                        }
                    }
                }
                GraphState::NotYet { plain_runs } => *plain_runs += 1,
                GraphState::Off => {}
            }
        } else if self.use_graph && matches!(self.graph, GraphState::NotYet { .. }) {
            tracing::info!("CUDA graph not used: the plan has CPU fallback layers");
            self.graph = GraphState::Off;
        }
        if !replayed {
            let timer = match &mut self.profile {
                Some(p) => {
                    if p.timer.is_none() {
                        p.timer = Some(
                            Timer::new(&self.gpu, plan.steps.len() + 1)
                                .map_err(gpu_err("profiling events"))?,
                        );
                    }
                    p.timer.as_ref()
                }
                None => None,
            };
            run_steps(&exec, inner, plan, &mut keep, timer)?;
        }
        record(2)?;
        let mut pending: Vec<(String, Result<PendingDownload, Value>)> = Vec::new();
        for o in &inner.graph.outputs {
            match plan.host_view.get(&o.name) {
                Some(d) => {
                    let p = download_async(stream, d)
                        .map_err(gpu_err(&format!("output '{}'", o.name)))?;
                    pending.push((o.name.clone(), Ok(p)));
                }
                None => {
                    let v = inner.consts.get(&o.name).cloned().ok_or_else(|| {
                        EngineError::Gpu(format!("graph output '{}' was never computed", o.name))
                    })?;
                    pending.push((o.name.clone(), Err(v)));
                }
            }
        }
        record(3)?;
        stream
            .synchronize()
            .map_err(|e| EngineError::Gpu(format!("synchronizing: {e:?}")))?;
        drop(keep);
        let mut out = Vec::with_capacity(pending.len());
        for (name, p) in pending {
            let v = match p {
                Ok(p) => Value::Tensor(
                    p.into_tensor()
                        .map_err(|e| EngineError::Gpu(format!("output '{name}': {e}")))?,
                ),
                Err(v) => v,
            };
            out.push((name, v));
        }
        let ms = |a: usize, b: usize| events.elapsed_ms(a, b).map_err(gpu_err("event times"));
        if let (Some(p), false) = (&mut self.profile, replayed) {
            // The first run of a plan is left out: it compiles kernels and times cuDNN
            // algorithms, host work that stalls the stream between the events.
            if let (Some(t), true) = (&p.timer, p.warm) {
                for (k, total) in p.total_ms.iter_mut().enumerate() {
                    *total += t.elapsed_ms(k, k + 1).map_err(gpu_err("profile times"))?;
                }
                p.runs += 1;
            }
            p.warm = true;
        }
        self.times = Some(RunTimes {
            h2d_ms: ms(0, 1)?,
            compute_ms: ms(1, 2)?,
            d2h_ms: ms(2, 3)?,
            graph: replayed,
        });
        Ok(out)
    }
}

impl Drop for GpuRunner {
    fn drop(&mut self) {
        if let Some(p) = &self.profile {
            p.log();
        }
    }
}

/// Capture the plan's steps (all on the GPU) into a CUDA graph.
fn capture(exec: &Exec<'_>, inner: &Inner, plan: &RunPlan) -> Result<StreamGraph, EngineError> {
    begin_capture(exec.stream).map_err(gpu_err("CUDA graph"))?;
    let mut keep = Vec::new();
    let ran = run_steps(exec, inner, plan, &mut keep, None);
    let ended = end_capture(exec.stream);
    ran?;
    ended.map_err(gpu_err("CUDA graph"))
}

/// Enqueue every step of `plan` (CPU steps synchronize and copy).
fn run_steps(
    exec: &Exec<'_>,
    inner: &Inner,
    plan: &RunPlan,
    keep: &mut Vec<Vec<u8>>,
    timer: Option<&Timer>,
) -> Result<(), EngineError> {
    let stream = exec.stream;
    if let Some(t) = timer {
        t.record(0, stream).map_err(gpu_err("profiling"))?;
    }
    for (k, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Cast { from, to } => {
                launch_cast(exec, from.dtype, to.dtype, from.ptr, to.ptr, from.len())
                    .map_err(gpu_err("casting between precisions"))?;
            }
            Step::Gpu {
                node,
                inputs,
                outputs,
            } => {
                let n = &inner.graph.nodes[*node];
                let layer = plan.layers[*node].as_ref().expect("GPU step has a layer");
                let ins: Vec<Option<&DevTensor>> = inputs.iter().map(Option::as_ref).collect();
                layer
                    .enqueue(exec, &ins, outputs, plan.workspace)
                    .map_err(|e| {
                        EngineError::Gpu(format!("layer '{}' ({}): {e}", n.name, n.op_type()))
                    })?;
            }
            Step::Cpu { node, outputs } => {
                run_cpu_layer(stream, inner, plan, *node, outputs, keep)?;
            }
        }
        if let Some(t) = timer {
            t.record(k + 1, stream).map_err(gpu_err("profiling"))?;
        }
    }
    Ok(())
}

/// A layer without a GPU kernel: the values it reads come to the host (in their graph
/// types), its CPU tactic runs, its outputs go back.
fn run_cpu_layer(
    stream: &kiln_kernels::cuda::CudaStream,
    inner: &Inner,
    plan: &RunPlan,
    i: usize,
    outs: &[DevTensor],
    keep: &mut Vec<Vec<u8>>,
) -> Result<(), EngineError> {
    let node = &inner.graph.nodes[i];
    let layer_err =
        |e: String| EngineError::Gpu(format!("layer '{}' ({}): {e}", node.name, node.op_type()));
    let mut env: HashMap<String, Value> = HashMap::new();
    for r in node_reads(node) {
        if env.contains_key(&r) || inner.consts.contains_key(&r) && !plan.host_view.contains_key(&r)
        {
            continue;
        }
        if let Some(d) = plan.host_view.get(&r) {
            let t = download(stream, d).map_err(|e| layer_err(e.to_string()))?;
            env.insert(r, Value::Tensor(t));
        }
    }
    let consts = Scope::new(&inner.consts, None);
    let scope = Scope::new(&env, Some(&consts));
    let args: Vec<Option<&Value>> = node
        .inputs
        .iter()
        .map(|v| if v.is_empty() { None } else { scope.get(v) })
        .collect();
    let tactic = &inner.tactics[i];
    let ctx = RunContext {
        eval: EvalContext {
            scope: Some(&scope),
        },
        arena: None,
    };
    let results = inner
        .backend
        .execute(tactic.as_ref(), &args, &ctx)
        .map_err(|e| EngineError::Layer {
            layer: node.name.clone(),
            op_type: node.op_type().to_string(),
            tactic: tactic.name().to_string(),
            source: Box::new(e),
        })?;
    let named: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
    let produced: Vec<(&String, Value)> = node
        .outputs
        .iter()
        .zip(results)
        .filter(|(o, _)| !o.is_empty())
        .collect();
    if produced.len() != named.len() {
        return Err(layer_err(format!(
            "produced {} outputs, {} requested",
            produced.len(),
            named.len()
        )));
    }
    for ((o, v), d) in produced.into_iter().zip(outs) {
        let Value::Tensor(t) = v else {
            return Err(layer_err(format!("output '{o}' is not a tensor")));
        };
        if t.shape() != d.shape.as_slice() || t.dtype() != d.dtype {
            return Err(layer_err(format!(
                "output '{o}' is {} {:?} but the device plan expected {} {:?}",
                t.dtype(),
                t.shape(),
                d.dtype,
                d.shape
            )));
        }
        keep.push(upload(stream, &t, d).map_err(|e| layer_err(e.to_string()))?);
    }
    Ok(())
}

/// Types and shapes of every value, from one run of the CPU tactics on `inputs`.
pub(super) fn discover_specs(
    inner: &Inner,
    inputs: &HashMap<String, Value>,
) -> Result<HashMap<String, Spec>, EngineError> {
    let mut env: HashMap<String, Value> = inputs.clone();
    let consts = Scope::new(&inner.consts, None);
    for (node, tactic) in inner.graph.nodes.iter().zip(&inner.tactics) {
        let results = {
            let scope = Scope::new(&env, Some(&consts));
            let args: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|v| if v.is_empty() { None } else { scope.get(v) })
                .collect();
            let ctx = RunContext {
                eval: EvalContext {
                    scope: Some(&scope),
                },
                arena: None,
            };
            inner
                .backend
                .execute(tactic.as_ref(), &args, &ctx)
                .map_err(|e| EngineError::Layer {
                    layer: node.name.clone(),
                    op_type: node.op_type().to_string(),
                    tactic: tactic.name().to_string(),
                    source: Box::new(e),
                })?
        };
        for (o, v) in node.outputs.iter().zip(results) {
            if !o.is_empty() {
                env.insert(o.clone(), v);
            }
        }
    }
    Ok(env
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Tensor(t) => Some((
                k,
                Spec {
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                },
            )),
            _ => None,
        })
        .collect())
}
