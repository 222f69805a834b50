//! The device plan of one set of input shapes: every value's type and shape, the kernel (or
//! CPU fallback) of each layer, the storage type of each value, the casts between precision
//! regions, and one arena holding them all.
//!
//! Precision: a layer recorded as `fp16`/`bf16` runs its GPU kernel on 16-bit data when it
//! has one (its f32 inputs and outputs become 16-bit), else in f32. A value is stored in its
//! producer's output type; a consumer that wants another type (an f32 layer, a CPU
//! fallback, a graph output, a 16-bit layer reading an f32 graph input) reads a cast copy
//! made right after the producer. Constant weights read by 16-bit layers are converted on
//! the host and uploaded once per plan.

use super::Precision;
use super::arena::{Interval, place};
use crate::EngineError;
use crate::engine::Inner;
use crate::reads::node_reads;
use kiln_core::{DataType, Shape, Tensor, Value, ValueType, infer_facts};
use kiln_kernels::cuda::memory::{DeviceMemory, align_up, upload};
use kiln_kernels::cuda::{
    CudaError, CudaStream, DevTensor, Gpu, GpuLayer, LayerOptions, Spec, layer_for_with,
};
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
    /// Storage type the layer computes on (`f32`, `f16`, `bf16`; CPU layers `f32`).
    pub dtype: String,
}

/// One step of a run, in order.
#[derive(Debug)]
pub(super) enum Step {
    /// Convert `from` into `to` (f32 <-> f16/bf16).
    Cast { from: DevTensor, to: DevTensor },
    /// The GPU kernel of layer `node`, on these device tensors.
    Gpu {
        node: usize,
        inputs: Vec<Option<DevTensor>>,
        outputs: Vec<DevTensor>,
    },
    /// The CPU tactic of layer `node`; its outputs go back to these buffers.
    Cpu {
        node: usize,
        outputs: Vec<DevTensor>,
    },
}

/// The device plan of one set of input shapes.
pub(super) struct RunPlan {
    pub key: Vec<(String, Vec<usize>)>,
    pub _mem: DeviceMemory,
    pub _weights: Option<DeviceMemory>,
    pub bytes: usize,
    /// Where each provided graph input is uploaded.
    pub inputs: HashMap<String, DevTensor>,
    /// Values in their original (graph) types: what CPU layers and graph outputs read.
    pub host_view: HashMap<String, DevTensor>,
    pub layers: Vec<Option<Box<dyn GpuLayer>>>,
    pub steps: Vec<Step>,
    pub workspace: u64,
    pub placement: Vec<LayerPlacement>,
}

impl RunPlan {
    /// True when every step runs on the GPU (the run can be captured as a CUDA graph).
    pub fn all_gpu(&self) -> bool {
        !self.steps.iter().any(|s| matches!(s, Step::Cpu { .. }))
    }
}

/// A layer's GPU kernel with the input and output types it was built for.
type Chosen = (Box<dyn GpuLayer>, Vec<Option<Spec>>, Vec<Spec>);

fn gpu_err(what: &str) -> impl Fn(CudaError) -> EngineError + '_ {
    move |e| EngineError::Gpu(format!("{what}: {e}"))
}

/// `spec` with f32 replaced by `to`.
fn reduced(spec: &Spec, to: DataType) -> Spec {
    Spec {
        dtype: if spec.dtype == DataType::F32 {
            to
        } else {
            spec.dtype
        },
        shape: spec.shape.clone(),
    }
}

/// Plan the device run of `inner` for `inputs` (uploaded weights in `weights`).
pub(super) fn make_plan(
    gpu: &Arc<Gpu>,
    stream: &Arc<CudaStream>,
    inner: &Inner,
    weights: &HashMap<String, DevTensor>,
    inputs: &HashMap<String, Value>,
    key: Vec<(String, Vec<usize>)>,
) -> Result<RunPlan, EngineError> {
    let graph = &inner.graph;
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
        super::runner::discover_specs(inner, inputs)?
    };
    let spec_of = |name: &str| -> Option<Spec> {
        if let Some(Value::Tensor(t)) = inputs.get(name) {
            return Some(Spec {
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
            });
        }
        if let Some(w) = weights.get(name) {
            return Some(Spec {
                dtype: w.dtype,
                shape: w.shape.clone(),
            });
        }
        fact_spec(name).or_else(|| discovered.get(name).cloned())
    };
    // Values that live in the arena: provided inputs and every node output.
    let n = graph.nodes.len();
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
        return Err(EngineError::HostOnly(problems.join("; ")));
    }
    for o in &graph.outputs {
        if let Some(l) = last.get_mut(&o.name) {
            *l = n;
        }
    }
    let original: HashMap<&str, Spec> = order
        .iter()
        .map(|v| (v.as_str(), spec_of(v).expect("checked above")))
        .collect();
    // Layers: a GPU kernel where one fits (16-bit first for fp16/bf16 layers), else the CPU.
    let fed: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
    let mut layers = Vec::with_capacity(n);
    let mut placement = Vec::with_capacity(n);
    let mut wants: Vec<Vec<Option<DataType>>> = Vec::with_capacity(n);
    let mut storage: HashMap<&str, DataType> = HashMap::new();
    for vi in &graph.inputs {
        if let Some(s) = original.get(vi.name.as_str()) {
            storage.insert(vi.name.as_str(), s.dtype);
        }
    }
    let mut workspace = 0usize;
    for (i, node) in graph.nodes.iter().enumerate() {
        let precision: Precision = inner
            .layers
            .get(i)
            .and_then(|l| l.precision.parse().ok())
            .unwrap_or_default();
        let opts = LayerOptions {
            tf32: precision == Precision::Tf32,
        };
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
        let mut chosen: Option<Chosen> = None;
        if let (Some(outs), true) = (&outs, present_ok && named > 0) {
            if let Some(r) = precision.storage() {
                let ins_r: Vec<Option<Spec>> = ins
                    .iter()
                    .map(|s| s.as_ref().map(|s| reduced(s, r)))
                    .collect();
                let outs_r: Vec<Spec> = outs.iter().map(|s| reduced(s, r)).collect();
                let changed = ins_r != ins || outs_r != *outs;
                if changed {
                    if let Some(l) = layer_for_with(node, &ins_r, &consts, &outs_r, &opts) {
                        chosen = Some((l, ins_r, outs_r));
                    }
                }
            }
            if chosen.is_none() {
                if let Some(l) = layer_for_with(node, &ins, &consts, outs, &opts) {
                    chosen = Some((l, ins.clone(), outs.clone()));
                }
            }
        }
        let tactic = inner.tactics.get(i).map_or("?", |t| t.name());
        let (on_gpu, kernel, dtype) = match &chosen {
            Some((l, _, outs)) => (true, l.kernel().to_string(), outs[0].dtype.to_string()),
            None => (false, format!("cpu:{tactic}"), "f32".to_string()),
        };
        placement.push(LayerPlacement {
            layer: node.name.clone(),
            op_type: node.op_type().to_string(),
            on_gpu,
            kernel,
            dtype,
        });
        match chosen {
            Some((l, ins_c, outs_c)) => {
                workspace = workspace.max(l.workspace_bytes());
                wants.push(ins_c.iter().map(|s| s.as_ref().map(|s| s.dtype)).collect());
                for (o, s) in node.outputs.iter().zip(&outs_c) {
                    if !o.is_empty() {
                        storage.insert(o.as_str(), s.dtype);
                    }
                }
                layers.push(Some(l));
            }
            None => {
                wants.push(Vec::new());
                for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                    if let Some(s) = original.get(o.as_str()) {
                        storage.insert(o.as_str(), s.dtype);
                    }
                }
                layers.push(None);
            }
        }
    }
    // Cast copies: (value, type) -> last step that reads it; converted weights.
    let mut alias_last: HashMap<(String, DataType), usize> = HashMap::new();
    let mut weight_casts: HashSet<(String, DataType)> = HashSet::new();
    let mut need = |v: &str, w: DataType, at: usize| {
        if let Some(&s) = storage.get(v) {
            if s != w {
                let e = alias_last.entry((v.to_string(), w)).or_insert(at);
                *e = (*e).max(at);
            }
        }
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        if layers[i].is_some() {
            for (v, w) in node.inputs.iter().zip(&wants[i]) {
                let Some(w) = *w else { continue };
                if v.is_empty() {
                    continue;
                }
                if storage.contains_key(v.as_str()) {
                    need(v, w, i);
                } else if let Some(t) = weights.get(v) {
                    if t.dtype != w {
                        weight_casts.insert((v.clone(), w));
                    }
                }
            }
        } else {
            for r in node_reads(node) {
                if let Some(s) = original.get(r.as_str()) {
                    need(&r, s.dtype, i);
                }
            }
        }
    }
    for o in &graph.outputs {
        if let Some(s) = original.get(o.name.as_str()) {
            need(&o.name, s.dtype, n);
        }
    }
    // The arena: values in their storage type, then the cast copies.
    let mut items: Vec<Interval> = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();
    for v in &order {
        let s = &original[v.as_str()];
        let dt = storage.get(v.as_str()).copied().unwrap_or(s.dtype);
        items.push(Interval {
            bytes: dt.size_of().unwrap_or(0) * s.len(),
            first: first[v],
            last: last[v],
        });
        specs.push(Spec {
            dtype: dt,
            shape: s.shape.clone(),
        });
    }
    let mut aliases: Vec<((String, DataType), usize)> = alias_last.into_iter().collect();
    aliases.sort_by(|a, b| (&a.0.0, a.0.1).cmp(&(&b.0.0, b.0.1)));
    for ((v, w), l) in &aliases {
        let s = &original[v.as_str()];
        items.push(Interval {
            bytes: w.size_of().unwrap_or(0) * s.len(),
            first: first[v],
            last: *l,
        });
        specs.push(Spec {
            dtype: *w,
            shape: s.shape.clone(),
        });
    }
    let (offsets, act_bytes) = place(&items);
    let total = align_up(act_bytes) + align_up(workspace);
    let mem = DeviceMemory::alloc(gpu.context(), total)
        .map_err(gpu_err("allocating the device arena"))?;
    let dev = |k: usize| DevTensor {
        ptr: mem.ptr() + offsets[k] as u64,
        dtype: specs[k].dtype,
        shape: specs[k].shape.clone(),
    };
    let values: HashMap<&str, DevTensor> = order
        .iter()
        .enumerate()
        .map(|(k, v)| (v.as_str(), dev(k)))
        .collect();
    let alias_dev: HashMap<(String, DataType), DevTensor> = aliases
        .iter()
        .enumerate()
        .map(|(k, (key, _))| (key.clone(), dev(order.len() + k)))
        .collect();
    // Converted weights, uploaded once for this plan.
    let (wmem, wconv) = upload_converted(gpu, stream, graph, weight_casts)?;
    let resolve = |v: &str, w: DataType| -> Option<DevTensor> {
        if let Some(d) = values.get(v) {
            if d.dtype == w {
                return Some(d.clone());
            }
            return alias_dev.get(&(v.to_string(), w)).cloned();
        }
        let t = weights.get(v)?;
        if t.dtype == w {
            Some(t.clone())
        } else {
            wconv.get(&(v.to_string(), w)).cloned()
        }
    };
    let casts_of = |v: &str, steps: &mut Vec<Step>| {
        let Some(from) = values.get(v) else { return };
        for ((name, _), to) in alias_dev.iter().filter(|((a, _), _)| a == v) {
            debug_assert_eq!(name, v);
            steps.push(Step::Cast {
                from: from.clone(),
                to: to.clone(),
            });
        }
    };
    let mut steps = Vec::with_capacity(n + aliases.len());
    for vi in &graph.inputs {
        if inputs.contains_key(&vi.name) {
            casts_of(&vi.name, &mut steps);
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let outputs: Vec<DevTensor> = node
            .outputs
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| values[o.as_str()].clone())
            .collect();
        if layers[i].is_some() {
            let ins = node
                .inputs
                .iter()
                .zip(&wants[i])
                .map(|(v, w)| match w {
                    Some(w) if !v.is_empty() => resolve(v, *w),
                    _ => None,
                })
                .collect();
            steps.push(Step::Gpu {
                node: i,
                inputs: ins,
                outputs,
            });
        } else {
            steps.push(Step::Cpu { node: i, outputs });
        }
        for o in node.outputs.iter().filter(|o| !o.is_empty()) {
            casts_of(o, &mut steps);
        }
    }
    let host_view: HashMap<String, DevTensor> = order
        .iter()
        .filter_map(|v| {
            let want = original[v.as_str()].dtype;
            resolve(v, want).map(|d| (v.clone(), d))
        })
        .collect();
    let input_bufs: HashMap<String, DevTensor> = graph
        .inputs
        .iter()
        .filter(|vi| inputs.contains_key(&vi.name))
        .map(|vi| (vi.name.clone(), values[vi.name.as_str()].clone()))
        .collect();
    let on_gpu = placement.iter().filter(|p| p.on_gpu).count();
    let reduced_layers = placement
        .iter()
        .filter(|p| p.on_gpu && p.dtype != "f32")
        .count();
    tracing::info!(
        arena_bytes = total,
        workspace_bytes = workspace,
        gpu_layers = on_gpu,
        reduced_precision_layers = reduced_layers,
        casts = aliases.len(),
        cpu_layers = n - on_gpu,
        "GPU plan ready"
    );
    for p in &placement {
        tracing::debug!(layer = %p.layer, op = %p.op_type, device = if p.on_gpu { "gpu" } else { "cpu" }, kernel = %p.kernel, dtype = %p.dtype, "placement");
    }
    Ok(RunPlan {
        key,
        workspace: mem.ptr() + align_up(act_bytes) as u64,
        bytes: total,
        _mem: mem,
        _weights: wmem,
        inputs: input_bufs,
        host_view,
        layers,
        steps,
        placement,
    })
}

/// Host-converted copies of the weights 16-bit layers read, in one device allocation.
#[allow(clippy::type_complexity)]
fn upload_converted(
    gpu: &Arc<Gpu>,
    stream: &Arc<CudaStream>,
    graph: &kiln_core::Graph,
    wanted: HashSet<(String, DataType)>,
) -> Result<(Option<DeviceMemory>, HashMap<(String, DataType), DevTensor>), EngineError> {
    let mut list: Vec<((String, DataType), Tensor, usize)> = Vec::new();
    let mut total = 0usize;
    let mut wanted: Vec<(String, DataType)> = wanted.into_iter().collect();
    wanted.sort();
    for (name, dt) in wanted {
        let Some(t) = graph.initializers.get(&name) else {
            continue;
        };
        let c = t
            .cast(dt)
            .map_err(|e| EngineError::Gpu(format!("converting weight '{name}' to {dt}: {e}")))?;
        let bytes = dt.size_of().unwrap_or(0) * c.len();
        list.push(((name, dt), c, total));
        total += align_up(bytes.max(1));
    }
    if list.is_empty() {
        return Ok((None, HashMap::new()));
    }
    let mem = DeviceMemory::alloc(gpu.context(), total)
        .map_err(gpu_err("allocating the converted weights"))?;
    let mut out = HashMap::new();
    let mut keep = Vec::new();
    for (key, t, off) in list {
        let d = DevTensor {
            ptr: mem.ptr() + off as u64,
            dtype: key.1,
            shape: t.shape().to_vec(),
        };
        keep.push(upload(stream, &t, &d).map_err(gpu_err(&format!(
            "uploading weight '{}' as {}",
            key.0, key.1
        )))?);
        out.insert(key, d);
    }
    stream
        .synchronize()
        .map_err(|e| EngineError::Gpu(format!("uploading converted weights: {e:?}")))?;
    drop(keep);
    tracing::info!(
        bytes = total,
        tensors = out.len(),
        "16-bit weight copies uploaded"
    );
    Ok((Some(mem), out))
}
