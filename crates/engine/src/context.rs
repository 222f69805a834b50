//! Execution contexts: run an engine on inputs. Several per engine, each usable from its
//! own thread.

use crate::cuda::{GpuRunner, LayerPlacement, RunTimes};
use crate::{Engine, EngineError};
use kiln_core::{Dim, Scope, Tensor, Value, ValueType};
use kiln_kernels::{Arena, RunContext};
use std::collections::HashMap;

/// Runs an engine. `Send`: create one per thread.
///
/// Each context owns an [`Arena`]: when the liveness analysis of the build says a value is
/// dead after a layer, its buffer goes back to the arena and the next layers' outputs reuse
/// it, so after the first run the steady state allocates no large buffers.
#[derive(Debug)]
pub struct ExecutionContext {
    engine: Engine,
    runs: u64,
    arena: Arena,
    /// The GPU runner of a `cuda` engine (created on the first run: device arena, stream).
    gpu: Option<GpuRunner>,
    /// The GPU runner sent this graph to the host once (logged once per context).
    host_fallback_logged: bool,
    /// Capture GPU runs as CUDA graphs and replay them.
    cuda_graph: bool,
    /// Per layer: total seconds and runs, when profiling (`KILN_PROFILE=1` or
    /// [`ExecutionContext::set_profiling`]).
    profile: Option<Vec<(f64, u64)>>,
}

/// Whether `KILN_PROFILE` asks for per-layer profiles (logged when a context is dropped).
fn profile_from_env() -> bool {
    std::env::var("KILN_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0")
}

impl Clone for ExecutionContext {
    /// A clone gets its own (empty) arenas and, for GPU engines, its own stream.
    fn clone(&self) -> Self {
        ExecutionContext {
            engine: self.engine.clone(),
            runs: self.runs,
            arena: Arena::new(),
            gpu: None,
            host_fallback_logged: false,
            cuda_graph: self.cuda_graph,
            profile: self.profile.as_ref().map(|p| vec![(0.0, 0); p.len()]),
        }
    }
}

impl Drop for ExecutionContext {
    /// With `KILN_PROFILE` set, log the per-layer profile (slowest first) at info level.
    fn drop(&mut self) {
        if !profile_from_env() {
            return;
        }
        let rows = self.layer_profile();
        let total: f64 = rows.iter().map(|r| r.2).sum();
        for (name, tactic, ms, runs) in &rows {
            tracing::info!(
                target: "kiln_profile",
                "{ms:9.3} ms {:5.1}%  {name} [{tactic}] ({runs} runs)",
                100.0 * ms / total.max(1e-12)
            );
        }
        tracing::info!(target: "kiln_profile", "{total:9.3} ms total per run");
    }
}

impl ExecutionContext {
    pub(crate) fn new(engine: Engine) -> Self {
        let engine_layers = engine.inner.graph.nodes.len();
        ExecutionContext {
            engine,
            runs: 0,
            arena: Arena::new(),
            gpu: None,
            host_fallback_logged: false,
            cuda_graph: false,
            profile: profile_from_env().then(|| vec![(0.0, 0); engine_layers]),
        }
    }

    /// Collect per-layer run times from now on (`true`) or stop (`false`, dropping them).
    pub fn set_profiling(&mut self, on: bool) {
        let n = self.engine.inner.graph.nodes.len();
        self.profile = on.then(|| vec![(0.0, 0); n]);
    }

    /// Per layer, slowest first: (layer name, tactic, mean milliseconds per run, runs), over
    /// the runs since profiling started (empty when not profiling).
    pub fn layer_profile(&self) -> Vec<(String, String, f64, u64)> {
        let Some(p) = &self.profile else {
            return Vec::new();
        };
        let inner = &self.engine.inner;
        let mut rows: Vec<_> = p
            .iter()
            .enumerate()
            .filter(|(_, (_, runs))| *runs > 0)
            .map(|(i, &(secs, runs))| {
                (
                    inner.graph.nodes[i].name.clone(),
                    inner.tactics[i].name().to_string(),
                    secs * 1e3 / runs as f64,
                    runs,
                )
            })
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        rows
    }

    /// GPU engines: capture the layers of a run as a CUDA graph (on the second run of a set
    /// of input shapes) and replay it afterwards. Plans with CPU fallback layers run
    /// without. No effect on CPU engines.
    pub fn set_cuda_graph(&mut self, on: bool) {
        self.cuda_graph = on;
        if let Some(g) = &mut self.gpu {
            g.set_cuda_graph(on);
        }
    }

    /// GPU engines: device times of the latest run (input copies, compute, output copies).
    pub fn gpu_times(&self) -> Option<RunTimes> {
        self.gpu.as_ref().and_then(GpuRunner::times)
    }

    /// Where each layer ran in the latest run on the GPU (empty for CPU engines and before
    /// the first run).
    pub fn gpu_placement(&self) -> &[LayerPlacement] {
        self.gpu.as_ref().map_or(&[], GpuRunner::placement)
    }

    /// Bytes of the device arena of a GPU engine's context (0 for CPU engines).
    pub fn device_arena_bytes(&self) -> usize {
        self.gpu.as_ref().map_or(0, GpuRunner::arena_bytes)
    }

    /// Bytes of free buffers the context's arena holds between runs.
    pub fn arena_bytes(&self) -> u64 {
        self.arena.held_bytes()
    }

    /// The engine this context runs.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Number of successful runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Run on tensor inputs; outputs (name, tensor) in declared order.
    pub fn run(
        &mut self,
        inputs: HashMap<String, Tensor>,
    ) -> Result<Vec<(String, Tensor)>, EngineError> {
        let values = inputs
            .into_iter()
            .map(|(k, t)| (k, Value::Tensor(t)))
            .collect();
        self.execute(values)?
            .into_iter()
            .map(|(name, v)| match v {
                Value::Tensor(t) => Ok((name, t)),
                _ => Err(EngineError::Input(format!(
                    "output '{name}' is not a tensor; use execute()"
                ))),
            })
            .collect()
    }

    /// Run on values (tensors, sequences, optionals); outputs in declared order.
    pub fn execute(
        &mut self,
        inputs: HashMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let inner = &self.engine.inner;
        check_inputs(&self.engine, &inputs)?;
        if let Some(gpu) = inner.backend.gpu() {
            if self.gpu.is_none() {
                let mut runner = GpuRunner::new(gpu.clone())?;
                runner.set_cuda_graph(self.cuda_graph);
                self.gpu = Some(runner);
            }
            let runner = self.gpu.as_mut().expect("created above");
            match runner.execute(inner, &inputs) {
                Ok(out) => {
                    self.runs += 1;
                    return Ok(out);
                }
                Err(EngineError::HostOnly(why)) => {
                    if !self.host_fallback_logged {
                        tracing::warn!(reason = %why, "this graph runs on the host backend, not the GPU");
                        self.host_fallback_logged = true;
                    }
                    return self.run_on_host(inputs);
                }
                Err(e) => return Err(e),
            }
        }
        self.run_on_host(inputs)
    }

    /// Run the graph on the host backend (the CPU, or a GPU backend's CPU fallback).
    fn run_on_host(
        &mut self,
        inputs: HashMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let inner = &self.engine.inner;
        let backend = inner.backend.clone();
        let mut inputs = Some(inputs);
        let mut result = None;
        backend.scope(&mut || {
            if let Some(inputs) = inputs.take() {
                result = Some(self.execute_host(inputs));
            }
        });
        result.unwrap_or_else(|| {
            Err(EngineError::Corrupted(
                "the backend did not run the graph".to_string(),
            ))
        })
    }

    /// Run every layer on the host backend, in order.
    fn execute_host(
        &mut self,
        inputs: HashMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let inner = &self.engine.inner;
        let consts = Scope::new(&inner.consts, None);
        let mut env: HashMap<String, Value> = inputs;
        let backend = inner.backend.as_ref();
        for (i, node) in inner.graph.nodes.iter().enumerate() {
            let tactic = inner.tactics.get(i).ok_or_else(|| {
                EngineError::Corrupted(format!("no tactic for layer {i} ('{}')", node.name))
            })?;
            let layer_err = |source: kiln_core::Error| EngineError::Layer {
                layer: node.name.clone(),
                op_type: node.op_type().to_string(),
                tactic: tactic.name().to_string(),
                source: Box::new(source),
            };
            let started = self.profile.is_some().then(std::time::Instant::now);
            let results = {
                let scope = Scope::new(&env, Some(&consts));
                let mut args: Vec<Option<&Value>> = Vec::with_capacity(node.inputs.len());
                for name in &node.inputs {
                    if name.is_empty() {
                        args.push(None);
                    } else {
                        let v = scope.get(name).ok_or_else(|| {
                            layer_err(kiln_core::Error::Graph(format!(
                                "value '{name}' is not defined"
                            )))
                        })?;
                        args.push(Some(v));
                    }
                }
                let ctx = RunContext {
                    eval: kiln_core::EvalContext {
                        scope: Some(&scope),
                    },
                    arena: Some(&self.arena),
                };
                backend
                    .execute(tactic.as_ref(), &args, &ctx)
                    .map_err(layer_err)?
            };
            if let (Some(t0), Some(p)) = (started, self.profile.as_mut())
                && let Some(slot) = p.get_mut(i)
            {
                slot.0 += t0.elapsed().as_secs_f64();
                slot.1 += 1;
            }
            if let Some(last) = node.outputs.iter().rposition(|o| !o.is_empty()) {
                if results.len() <= last {
                    return Err(layer_err(kiln_core::Error::Graph(format!(
                        "produced {} outputs, {} requested",
                        results.len(),
                        node.outputs.len()
                    ))));
                }
            }
            for (name, v) in node.outputs.iter().zip(results) {
                if !name.is_empty() {
                    env.insert(name.clone(), v);
                }
            }
            if let Some(dead) = inner.release.get(i) {
                for name in dead {
                    if let Some(Value::Tensor(Tensor::F32(a))) = env.remove(name) {
                        self.arena.give(a.into_raw_vec_and_offset().0);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(inner.graph.outputs.len());
        for o in &inner.graph.outputs {
            let v = match env.remove(&o.name) {
                Some(v) => v,
                None => inner.consts.get(&o.name).cloned().ok_or_else(|| {
                    EngineError::Core(kiln_core::Error::Graph(format!(
                        "graph output '{}' was never computed",
                        o.name
                    )))
                })?,
            };
            out.push((o.name.clone(), v));
        }
        self.runs += 1;
        Ok(out)
    }
}

/// Check names, types and shapes of the inputs against the engine's declared inputs, binding
/// symbolic dims consistently; one error lists every problem.
fn check_inputs(engine: &Engine, inputs: &HashMap<String, Value>) -> Result<(), EngineError> {
    let inner = &engine.inner;
    let mut problems = Vec::new();
    let mut unexpected: Vec<&str> = inputs
        .keys()
        .filter(|k| !inner.graph.inputs.iter().any(|vi| &vi.name == *k))
        .map(String::as_str)
        .collect();
    unexpected.sort_unstable();
    if !unexpected.is_empty() {
        let known: Vec<&str> = inner.graph.inputs.iter().map(|v| v.name.as_str()).collect();
        problems.push(format!(
            "unexpected input(s) {} (the engine's inputs are: {})",
            unexpected.join(", "),
            known.join(", ")
        ));
    }
    let missing: Vec<&str> = inner
        .graph
        .inputs
        .iter()
        .filter(|vi| !inputs.contains_key(&vi.name) && !inner.consts.contains_key(&vi.name))
        .map(|vi| vi.name.as_str())
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing input(s): {}", missing.join(", ")));
    }
    let mut bound: HashMap<&str, (usize, &str)> = HashMap::new();
    for vi in &inner.graph.inputs {
        let Some(v) = inputs.get(&vi.name) else {
            continue;
        };
        match (&vi.ty, v) {
            (ValueType::Tensor(fact), Value::Tensor(t)) => {
                if let Some(dt) = fact.dtype {
                    if dt != t.dtype() {
                        problems.push(format!(
                            "input '{}': expected dtype {dt}, got {}",
                            vi.name,
                            t.dtype()
                        ));
                    }
                }
                let Some(shape) = &fact.shape else {
                    continue;
                };
                if !shape.matches(t.shape()) {
                    problems.push(format!(
                        "input '{}': expected shape {shape}, got {:?}",
                        vi.name,
                        t.shape()
                    ));
                    continue;
                }
                if let Some(p) = inner.profiles.iter().find(|p| p.input == vi.name) {
                    if let Some(why) = p.rejects(t.shape()) {
                        problems.push(why);
                        continue;
                    }
                }
                for (d, &n) in shape.0.iter().zip(t.shape()) {
                    if let Dim::Sym(s) = d {
                        match bound.get(s.as_str()) {
                            Some(&(m, other)) if m != n => problems.push(format!(
                                "input '{}': dimension '{s}' is {n} but input '{other}' gave it {m}",
                                vi.name
                            )),
                            Some(_) => {}
                            None => {
                                bound.insert(s.as_str(), (n, vi.name.as_str()));
                            }
                        }
                    }
                }
            }
            (ValueType::Sequence(_), Value::Sequence(_))
            | (ValueType::Optional(_), Value::Optional(_)) => {}
            (ty, v) => problems.push(format!(
                "input '{}': expected a {}, got a {}",
                vi.name,
                kind_of_type(ty),
                kind_of_value(v)
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Input(problems.join("; ")))
    }
}

fn kind_of_type(t: &ValueType) -> &'static str {
    match t {
        ValueType::Tensor(_) => "tensor",
        ValueType::Sequence(_) => "sequence",
        ValueType::Optional(_) => "optional",
    }
}

fn kind_of_value(v: &Value) -> &'static str {
    match v {
        Value::Tensor(_) => "tensor",
        Value::Sequence(_) => "sequence",
        Value::Optional(_) => "optional",
    }
}
