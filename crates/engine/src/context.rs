//! Execution contexts: run an engine on inputs. Several per engine, each usable from its
//! own thread.

use crate::cuda::{GpuRunner, LayerPlacement};
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
}

impl Clone for ExecutionContext {
    /// A clone gets its own (empty) arenas and, for GPU engines, its own stream.
    fn clone(&self) -> Self {
        ExecutionContext {
            engine: self.engine.clone(),
            runs: self.runs,
            arena: Arena::new(),
            gpu: None,
        }
    }
}

impl ExecutionContext {
    pub(crate) fn new(engine: Engine) -> Self {
        ExecutionContext {
            engine,
            runs: 0,
            arena: Arena::new(),
            gpu: None,
        }
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
                self.gpu = Some(GpuRunner::new(gpu.clone())?);
            }
            let runner = self.gpu.as_mut().expect("created above");
            let out = runner.execute(inner, inputs)?;
            self.runs += 1;
            return Ok(out);
        }
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
