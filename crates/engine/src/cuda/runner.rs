//! GPU execution of an engine: one device arena per execution context (planned for the
//! input shapes of the run, re-planned when they change), weights uploaded once, inputs
//! copied in once and outputs copied out once; GPU layers enqueue on the context's stream,
//! and layers without a GPU kernel run the CPU tactic with explicit copies (reported per
//! layer in [`LayerPlacement`]).

use super::arena::{Interval, place};
use crate::EngineError;
use crate::engine::Inner;
use crate::reads::node_reads;
use kiln_core::{EvalContext, Scope, Shape, Tensor, Value, ValueType, infer_facts};
use kiln_kernels::RunContext;
use kiln_kernels::cuda::memory::{DeviceMemory, align_up, download, upload};
use kiln_kernels::cuda::{CudaError, DevTensor, Exec, Gpu, GpuLayer, Spec, layer_for};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Where one layer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlacement {
    /// Layer name.
    pub layer: String,
    /// Op type.
    pub op_type: String,
    /// True on the GPU; false: CPU fallback (inputs copied to the host, outputs back).
    pub on_gpu: bool,
    /// The GPU kernel, or the CPU tactic of a fallback layer.
    pub kernel: String,
}

/// Device copies of an engine's initializers.
struct Weights {
    _mem: Option<DeviceMemory>,
    tensors: HashMap<String, DevTensor>,
}

/// The device plan of one set of input shapes.
struct RunPlan {
    key: Vec<(String, Vec<usize>)>,
    _mem: DeviceMemory,
    bytes: usize,
    values: HashMap<String, DevTensor>,
    layers: Vec<Option<Box<dyn GpuLayer>>>,
    workspace: u64,
    placement: Vec<LayerPlacement>,
}

/// Runs an engine on its GPU: owned by one execution context.
pub struct GpuRunner {
    gpu: Arc<Gpu>,
    stream: Arc<kiln_kernels::cuda::CudaStream>,
    weights: Option<Weights>,
    plan: Option<RunPlan>,
}

impl std::fmt::Debug for GpuRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRunner")
            .field("device", &self.gpu.info().name)
            .field("arena_bytes", &self.arena_bytes())
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
        })
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

    fn make_plan(
        &self,
        inner: &Inner,
        inputs: &HashMap<String, Value>,
        key: Vec<(String, Vec<usize>)>,
    ) -> Result<RunPlan, EngineError> {
        let graph = &inner.graph;
        let weights = self.weights.as_ref().map(|w| &w.tensors);
        let mut g = graph.clone();
        for vi in &mut g.inputs {
            if let (ValueType::Tensor(fact), Some(Value::Tensor(t))) =
                (&mut vi.ty, inputs.get(&vi.name))
            {
                fact.shape = Some(Shape::fixed(t.shape()));
                fact.dtype = Some(t.dtype());
            }
        }
        let facts = infer_facts(&g)?;
        let fact_spec = |name: &str| -> Option<Spec> {
            let f = facts.get(name)?;
            Some(Spec {
                dtype: f.dtype?,
                shape: f.shape.as_ref()?.as_fixed()?,
            })
        };
        // Shape inference cannot always tell (data-dependent shapes, ops whose inference is
        // partial): then one CPU run on these inputs tells every value's type and shape.
        let complete = graph
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter())
            .all(|o| o.is_empty() || fact_spec(o).is_some());
        let discovered = if complete {
            HashMap::new()
        } else {
            tracing::info!("shape inference is incomplete: value shapes come from one CPU run");
            discover_specs(inner, inputs)?
        };
        let spec_of = |name: &str| -> Option<Spec> {
            if let Some(Value::Tensor(t)) = inputs.get(name) {
                return Some(Spec {
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                });
            }
            if let Some(w) = weights.and_then(|w| w.get(name)) {
                return Some(Spec {
                    dtype: w.dtype,
                    shape: w.shape.clone(),
                });
            }
            fact_spec(name).or_else(|| discovered.get(name).cloned())
        };
        // Values that live in the arena: provided inputs and every node output.
        let n = graph.nodes.len();
        let keep_to_end: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
        let mut order: Vec<String> = Vec::new();
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut last: HashMap<String, usize> = HashMap::new();
        for vi in &graph.inputs {
            if inputs.contains_key(&vi.name) {
                order.push(vi.name.clone());
                first.insert(vi.name.clone(), 0);
                last.insert(vi.name.clone(), 0);
            }
        }
        let mut problems = Vec::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            for r in node_reads(node) {
                if let Some(l) = last.get_mut(&r) {
                    *l = i;
                }
            }
            for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                if first.contains_key(o) {
                    continue;
                }
                match spec_of(o) {
                    Some(s) if s.dtype.size_of().is_some() => {}
                    _ => problems.push(format!(
                        "layer '{}' ({}): output '{o}' has no fixed type and shape ahead of the run (the GPU path plans device memory from the input shapes)",
                        node.name,
                        node.op_type()
                    )),
                }
                order.push(o.clone());
                first.insert(o.clone(), i);
                last.insert(o.clone(), i);
            }
        }
        if !problems.is_empty() {
            let more = problems.len().saturating_sub(8);
            problems.truncate(8);
            if more > 0 {
                problems.push(format!("and {more} more"));
            }
            return Err(EngineError::Gpu(problems.join("; ")));
        }
        for o in &keep_to_end {
            if let Some(l) = last.get_mut(*o) {
                *l = n;
            }
        }
        let specs: Vec<Spec> = order
            .iter()
            .map(|v| spec_of(v).expect("checked above"))
            .collect();
        let items: Vec<Interval> = order
            .iter()
            .zip(&specs)
            .map(|(v, s)| Interval {
                bytes: s.dtype.size_of().unwrap_or(0) * s.len(),
                first: first[v],
                last: last[v],
            })
            .collect();
        let (offsets, act_bytes) = place(&items);
        // Layers: a GPU kernel where one fits, else the CPU tactic.
        let fed: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut layers = Vec::with_capacity(n);
        let mut placement = Vec::with_capacity(n);
        let mut workspace = 0usize;
        for (i, node) in graph.nodes.iter().enumerate() {
            let ins: Vec<Option<Spec>> = node
                .inputs
                .iter()
                .map(|v| if v.is_empty() { None } else { spec_of(v) })
                .collect();
            let consts: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|v| {
                    graph
                        .initializers
                        .get(v)
                        .filter(|_| !fed.contains(v.as_str()))
                })
                .collect();
            let named = node
                .outputs
                .iter()
                .rposition(|o| !o.is_empty())
                .map_or(0, |p| p + 1);
            let outs: Option<Vec<Spec>> = node.outputs[..named]
                .iter()
                .map(|o| if o.is_empty() { None } else { spec_of(o) })
                .collect();
            let present_ok = node
                .inputs
                .iter()
                .zip(&ins)
                .all(|(v, s)| v.is_empty() || s.is_some());
            let layer = match outs {
                Some(outs) if present_ok && !outs.is_empty() => {
                    layer_for(node, &ins, &consts, &outs)
                }
                _ => None,
            };
            let tactic = inner.tactics.get(i).map_or("?", |t| t.name());
            placement.push(LayerPlacement {
                layer: node.name.clone(),
                op_type: node.op_type().to_string(),
                on_gpu: layer.is_some(),
                kernel: layer
                    .as_ref()
                    .map_or_else(|| format!("cpu:{tactic}"), |l| l.kernel().to_string()),
            });
            if let Some(l) = &layer {
                workspace = workspace.max(l.workspace_bytes());
            }
            layers.push(layer);
        }
        let total = align_up(act_bytes) + align_up(workspace);
        let mem = DeviceMemory::alloc(self.gpu.context(), total)
            .map_err(gpu_err("allocating the device arena"))?;
        let values: HashMap<String, DevTensor> = order
            .iter()
            .zip(specs)
            .zip(&offsets)
            .map(|((v, s), &off)| {
                (
                    v.clone(),
                    DevTensor {
                        ptr: mem.ptr() + off as u64,
                        dtype: s.dtype,
                        shape: s.shape,
                    },
                )
            })
            .collect();
        let on_gpu = placement.iter().filter(|p| p.on_gpu).count();
        tracing::info!(
            arena_bytes = total,
            workspace_bytes = workspace,
            gpu_layers = on_gpu,
            cpu_layers = n - on_gpu,
            "GPU plan ready"
        );
        for p in &placement {
            tracing::debug!(layer = %p.layer, op = %p.op_type, device = if p.on_gpu { "gpu" } else { "cpu" }, kernel = %p.kernel, "placement");
        }
        Ok(RunPlan {
            key,
            workspace: mem.ptr() + align_up(act_bytes) as u64,
            bytes: total,
            _mem: mem,
            values,
            layers,
            placement,
        })
    }

    /// Run the engine on `inputs` (already checked against the declared inputs).
    pub(crate) fn execute(
        &mut self,
        inner: &Inner,
        inputs: HashMap<String, Value>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        self.gpu.bind().map_err(gpu_err("binding the device"))?;
        let mut key = Vec::new();
        for vi in &inner.graph.inputs {
            match inputs.get(&vi.name) {
                Some(Value::Tensor(t)) => key.push((vi.name.clone(), t.shape().to_vec())),
                Some(_) => {
                    return Err(EngineError::Gpu(format!(
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
            self.plan = Some(self.make_plan(inner, &inputs, key)?);
        }
        let plan = self.plan.as_ref().expect("planned");
        let weights = &self.weights.as_ref().expect("uploaded").tensors;
        let stream = &self.stream;
        let exec = Exec {
            gpu: &self.gpu,
            stream,
        };
        let mut keep: Vec<Vec<u8>> = Vec::new();
        for (name, v) in &inputs {
            if let (Value::Tensor(t), Some(d)) = (v, plan.values.get(name)) {
                keep.push(upload(stream, t, d).map_err(gpu_err(&format!("input '{name}'")))?);
            }
        }
        let device = |name: &str| plan.values.get(name).or_else(|| weights.get(name));
        for (i, node) in inner.graph.nodes.iter().enumerate() {
            let layer_err = |e: String| {
                EngineError::Gpu(format!("layer '{}' ({}): {e}", node.name, node.op_type()))
            };
            let outs: Vec<DevTensor> = node
                .outputs
                .iter()
                .filter(|o| !o.is_empty())
                .map(|o| {
                    plan.values
                        .get(o)
                        .cloned()
                        .ok_or_else(|| layer_err(format!("output '{o}' has no device buffer")))
                })
                .collect::<Result<_, _>>()?;
            if let Some(layer) = &plan.layers[i] {
                let ins: Vec<Option<&DevTensor>> = node
                    .inputs
                    .iter()
                    .map(|v| if v.is_empty() { None } else { device(v) })
                    .collect();
                layer
                    .enqueue(&exec, &ins, &outs, plan.workspace)
                    .map_err(|e| layer_err(e.to_string()))?;
                continue;
            }
            // CPU fallback: the values it reads come to the host, its outputs go back.
            let mut env: HashMap<String, Value> = HashMap::new();
            for r in node_reads(node) {
                if env.contains_key(&r)
                    || inner.consts.contains_key(&r) && !plan.values.contains_key(&r)
                {
                    continue;
                }
                if let Some(d) = plan.values.get(&r) {
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
            for ((o, v), d) in produced.into_iter().zip(&outs) {
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
        }
        let mut out = Vec::with_capacity(inner.graph.outputs.len());
        for o in &inner.graph.outputs {
            let v = match plan.values.get(&o.name) {
                Some(d) => Value::Tensor(
                    download(stream, d).map_err(gpu_err(&format!("output '{}'", o.name)))?,
                ),
                None => inner.consts.get(&o.name).cloned().ok_or_else(|| {
                    EngineError::Gpu(format!("graph output '{}' was never computed", o.name))
                })?,
            };
            out.push((o.name.clone(), v));
        }
        stream
            .synchronize()
            .map_err(|e| EngineError::Gpu(format!("synchronizing: {e:?}")))?;
        drop(keep);
        Ok(out)
    }
}

/// Types and shapes of every value, from one run of the CPU tactics on `inputs`.
fn discover_specs(
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
