//! The builder: validate, optimize, infer shapes, pick a tactic per layer (timed or cached),
//! plan memory.

use crate::EngineError;
use crate::config::{BuildEvent, BuilderConfig};
use crate::engine::{Engine, Inner, LayerInfo, TacticChoice};
use crate::memory::plan_memory;
use crate::reads::unresolved;
use crate::timing_cache::{CacheKey, TimingCache, layer_signature};
use crate::tuning::{Rng, random_tensor, time_tactic};
use kiln_core::{Graph, Node, Shape, TensorFact, Value, ValueType, infer_facts};
use kiln_kernels::{Backend, Tactic};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Precision of the host (CPU) tactics timed at build time: the timing-cache key.
const PRECISION: &str = "fp32";

/// The original nodes a layer implements: the optimizer's `fused_nodes` attribute
/// (comma-separated) when it has one, else the layer itself.
fn fused_names(node: &Node) -> Vec<String> {
    match node.attrs.string("fused_nodes") {
        Ok(Some(list)) if !list.is_empty() => {
            list.split(',').map(|s| s.trim().to_string()).collect()
        }
        _ => vec![node.name.clone()],
    }
}

/// Builds engines from graphs.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    config: BuilderConfig,
    plugins: crate::PluginRegistry,
}

impl Builder {
    /// A builder with these settings.
    pub fn new(config: BuilderConfig) -> Self {
        Builder {
            config,
            plugins: crate::PluginRegistry::default(),
        }
    }

    /// Resolve the graph's placeholder nodes (ops that are not builtins) to the layers of
    /// these plugins, by name, version and namespace.
    pub fn with_plugins(mut self, plugins: crate::PluginRegistry) -> Self {
        self.plugins = plugins;
        self
    }

    /// The settings.
    pub fn config(&self) -> &BuilderConfig {
        &self.config
    }

    /// The plugin libraries this builder resolves layers from.
    pub fn plugins(&self) -> &crate::PluginRegistry {
        &self.plugins
    }

    /// Build an engine for this machine's CPU.
    pub fn build(&self, graph: Graph) -> Result<Engine, EngineError> {
        self.build_with_progress(graph, &|_| {})
    }

    /// Build, reporting progress.
    pub fn build_with_progress(
        &self,
        mut graph: Graph,
        progress: &dyn Fn(BuildEvent),
    ) -> Result<Engine, EngineError> {
        crate::plugin::resolve_graph(&mut graph, &self.plugins)?;
        let mut missing = Vec::new();
        unresolved(&graph, "", &mut missing);
        if !missing.is_empty() {
            return Err(EngineError::Unsupported(missing));
        }
        crate::profile::validate(&self.config.profiles, &graph.inputs)?;
        let tuning_graph_inputs = self.concrete_inputs(&graph)?;
        graph.sort(&HashSet::new())?;
        let passes = if self.config.optimize {
            let mut reports = kiln_optimizer::optimize(&mut graph)?;
            if self.config.nhwc && self.config.device == crate::Device::Cpu {
                let layout = kiln_optimizer::cpu_layout_passes();
                reports.extend(kiln_optimizer::run_passes(&mut graph, &layout)?);
            }
            graph.sort(&HashSet::new())?;
            reports
        } else {
            Vec::new()
        };
        progress(BuildEvent::Optimized {
            reports: passes.clone(),
        });
        let mut tuning_graph = graph.clone();
        tuning_graph.inputs = tuning_graph_inputs;
        // Core inference plus the optimizer's facts for ops core leaves unknown (Attention,
        // Split), so the layers after them get concrete shapes and are timed too.
        let facts = match kiln_optimizer::facts(&tuning_graph) {
            f if f.is_empty() => infer_facts(&tuning_graph)?,
            f => f,
        };

        let backend = crate::cuda::backend_for(self.config.device, self.config.threads)?;
        let mut cache = match &self.config.timing_cache {
            Some(p) => TimingCache::load(p)?,
            None => TimingCache::default(),
        };
        let cache_len = cache.len();
        let target = backend.fingerprint().to_string();
        let total = graph.nodes.len();
        let mut layers = Vec::with_capacity(total);
        let mut tactics: Vec<Box<dyn Tactic>> = Vec::with_capacity(total);
        let (mut measured, mut cached) = (0, 0);
        let mut rng = Rng::new(0x6b69_6c6e);
        for (index, node) in graph.nodes.iter().enumerate() {
            progress(BuildEvent::LayerStarted {
                index,
                total,
                name: node.name.clone(),
                op_type: node.op_type().to_string(),
            });
            let mut candidates = backend.tactics_for(node);
            if candidates.is_empty() {
                return Err(EngineError::Unsupported(vec![format!(
                    "node '{}' ({}): backend {} has no tactic",
                    node.name,
                    node.op_type(),
                    backend.name()
                )]));
            }
            let (pick, time_us, choice) = self.choose(
                backend.as_ref(),
                &graph,
                node,
                &candidates,
                &facts,
                &target,
                &mut cache,
                &mut rng,
            );
            match choice {
                TacticChoice::Measured => measured += 1,
                TacticChoice::Cache => cached += 1,
                TacticChoice::Default => {}
            }
            let tactic = candidates.swap_remove(pick);
            let shape_of = |n: &String| {
                if n.is_empty() {
                    None
                } else {
                    facts.get(n).and_then(|f| f.shape.clone())
                }
            };
            let info = LayerInfo {
                name: node.name.clone(),
                op_type: node.op_type().to_string(),
                fused: fused_names(node),
                tactic: tactic.name().to_string(),
                precision: crate::cuda::layer_precision(
                    self.config.precision,
                    backend.gpu().is_some(),
                    &self.config.fp32_layers,
                    &node.name,
                    &fused_names(node),
                    node.op_type(),
                )
                .as_str()
                .to_string(),
                input_shapes: node.inputs.iter().map(shape_of).collect(),
                output_shapes: node.outputs.iter().map(shape_of).collect(),
                time_us,
                choice,
            };
            tracing::debug!(layer = %info.name, tactic = %info.tactic, choice = choice.as_str(), "tactic chosen");
            progress(BuildEvent::LayerDone {
                index,
                total,
                layer: info.clone(),
            });
            layers.push(info);
            tactics.push(tactic);
        }
        if let Some(p) = &self.config.timing_cache {
            if cache.len() != cache_len || !p.exists() {
                cache.save(p)?;
            }
        }
        let memory = plan_memory(&graph, &facts);
        progress(BuildEvent::Finished {
            layers: total,
            measured,
            cached,
        });
        let mut inner = Inner::new(graph, layers, tactics, memory, backend, passes);
        inner.profiles = self.config.profiles.clone();
        Ok(Engine {
            inner: Arc::new(inner),
        })
    }

    /// Graph inputs with the configured concrete shapes substituted (checked against the
    /// declared shapes).
    fn concrete_inputs(&self, graph: &Graph) -> Result<Vec<kiln_core::ValueInfo>, EngineError> {
        let mut problems = Vec::new();
        for name in self.config.shapes.keys() {
            if !graph.inputs.iter().any(|v| &v.name == name) {
                problems.push(format!("'{name}' is not an input of the graph"));
            }
        }
        let mut inputs = graph.inputs.clone();
        for vi in &mut inputs {
            // Explicit tuning shapes first, else the profile's opt shape.
            let profile_opt = self
                .config
                .profiles
                .iter()
                .find(|p| p.input == vi.name)
                .map(|p| &p.opt);
            let Some(dims) = self.config.shapes.get(&vi.name).or(profile_opt) else {
                continue;
            };
            match &mut vi.ty {
                ValueType::Tensor(fact) => {
                    if let Some(declared) = &fact.shape {
                        if !declared.matches(dims) {
                            problems.push(format!(
                                "shape {dims:?} for '{}' does not fit its declared shape {declared}",
                                vi.name
                            ));
                            continue;
                        }
                    }
                    fact.shape = Some(Shape::fixed(dims));
                }
                _ => problems.push(format!("'{}' is not a tensor input", vi.name)),
            }
        }
        if problems.is_empty() {
            Ok(inputs)
        } else {
            problems.sort();
            Err(EngineError::Config(problems.join("; ")))
        }
    }

    /// Pick a tactic: (index into candidates, time, how).
    #[allow(clippy::too_many_arguments)]
    fn choose(
        &self,
        backend: &dyn Backend,
        graph: &Graph,
        node: &Node,
        candidates: &[Box<dyn Tactic>],
        facts: &HashMap<String, TensorFact>,
        target: &str,
        cache: &mut TimingCache,
        rng: &mut Rng,
    ) -> (usize, Option<f64>, TacticChoice) {
        // The fast tactics fall back to the reference for cases they do not handle, so the
        // reference is never timed: only two or more fast tactics are worth measuring.
        let timed: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].name() != "reference")
            .collect();
        if timed.len() < 2 || !self.config.tune {
            return (0, None, TacticChoice::Default);
        }
        // GPU builds: the host tactics only serve CPU fallback layers; GPU kernels choose
        // their own algorithms on the device (cuDNN timing, cuBLASLt heuristics).
        if backend.gpu().is_some() {
            return (0, None, TacticChoice::Default);
        }
        // Input facts: initializers exactly, others from inference; all must be concrete.
        let mut in_facts = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                in_facts.push(None);
                continue;
            }
            let fact = match graph.initializers.get(name) {
                Some(t) => TensorFact::new(t.dtype(), Shape::fixed(t.shape())),
                None => match facts.get(name) {
                    Some(f) => f.clone(),
                    None => return (0, None, TacticChoice::Default),
                },
            };
            let concrete = fact.dtype.is_some() && fact.shape.as_ref().is_some_and(Shape::is_fixed);
            if !concrete {
                return (0, None, TacticChoice::Default);
            }
            in_facts.push(Some(fact));
        }
        let shapes = in_facts
            .iter()
            .map(|f| match f {
                Some(TensorFact {
                    dtype: Some(d),
                    shape: Some(s),
                }) => format!("{d}{s}"),
                _ => "-".to_string(),
            })
            .collect::<Vec<_>>()
            .join(";");
        let key = CacheKey {
            target: target.to_string(),
            signature: layer_signature(node),
            shapes,
            precision: PRECISION.to_string(),
        };
        if let Some(hit) = cache.get(&key) {
            if let Some(i) = candidates.iter().position(|t| t.name() == hit.tactic) {
                return (i, Some(hit.time_us), TacticChoice::Cache);
            }
        }
        let mut values = Vec::with_capacity(node.inputs.len());
        for (name, fact) in node.inputs.iter().zip(&in_facts) {
            let v = match (graph.initializers.get(name), fact) {
                (Some(t), _) => Some(Value::Tensor(t.clone())),
                (None, Some(f)) => match random_tensor(f, rng) {
                    Some(t) => Some(Value::Tensor(t)),
                    None => return (0, None, TacticChoice::Default),
                },
                (None, None) => None,
            };
            values.push(v);
        }
        let args: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
        // Time the tactics as they will run: with their constant weights pre-packed.
        let constants: Vec<Option<&Value>> = node
            .inputs
            .iter()
            .zip(&values)
            .map(|(n, v)| v.as_ref().filter(|_| graph.initializers.contains_key(n)))
            .collect();
        for &i in &timed {
            candidates[i].prepare(&constants);
        }
        let mut best: Option<(usize, f64)> = None;
        for &i in &timed {
            let t = &candidates[i];
            let time = time_tactic(backend, t.as_ref(), &args, self.config.tuning_iterations);
            tracing::debug!(layer = %node.name, tactic = t.name(), time_us = ?time, "timed");
            if let Some(us) = time {
                if best.is_none_or(|(_, b)| us < b) {
                    best = Some((i, us));
                }
            }
        }
        match best {
            Some((i, us)) => {
                cache.insert(key, candidates[i].name().to_string(), us);
                (i, Some(us), TacticChoice::Measured)
            }
            None => (0, None, TacticChoice::Default),
        }
    }
}
