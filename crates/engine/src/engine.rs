//! The built engine: optimized graph, chosen tactic per layer, memory plan, target.

use crate::context::ExecutionContext;
use crate::memory::MemoryPlan;
use crate::reads::node_reads;
use crate::{EngineError, plan};
use kiln_core::{Graph, Shape, Value, ValueInfo};
use kiln_kernels::{Backend, Tactic, TargetFingerprint};
use kiln_optimizer::PassReport;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// How a layer's tactic was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TacticChoice {
    /// Every candidate was timed; the fastest won.
    Measured,
    /// Taken from the timing cache without timing.
    Cache,
    /// The preferred default (one candidate, or shapes not concrete at build time).
    Default,
}

impl TacticChoice {
    /// Lower-case name (`measured`, `cache`, `default`).
    pub fn as_str(self) -> &'static str {
        match self {
            TacticChoice::Measured => "measured",
            TacticChoice::Cache => "cache",
            TacticChoice::Default => "default",
        }
    }

    /// Parse [`TacticChoice::as_str`].
    pub fn from_name(s: &str) -> Option<TacticChoice> {
        match s {
            "measured" => Some(TacticChoice::Measured),
            "cache" => Some(TacticChoice::Cache),
            "default" => Some(TacticChoice::Default),
            _ => None,
        }
    }
}

/// What the builder decided for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Layer (node) name.
    pub name: String,
    /// Op type.
    pub op_type: String,
    /// Names of the original nodes this layer implements (itself unless fused).
    pub fused: Vec<String>,
    /// The chosen tactic.
    pub tactic: String,
    /// Precision (`fp32`).
    pub precision: String,
    /// Input shapes at build time (`None`: unknown or omitted).
    pub input_shapes: Vec<Option<Shape>>,
    /// Output shapes at build time.
    pub output_shapes: Vec<Option<Shape>>,
    /// Time of the chosen tactic in microseconds, when measured or cached.
    pub time_us: Option<f64>,
    /// How the tactic was chosen.
    pub choice: TacticChoice,
}

pub(crate) struct Inner {
    pub graph: Graph,
    pub layers: Vec<LayerInfo>,
    pub tactics: Vec<Box<dyn Tactic>>,
    pub memory: MemoryPlan,
    pub target: TargetFingerprint,
    pub backend: Arc<dyn Backend>,
    pub passes: Vec<PassReport>,
    /// Optimization profiles: accepted input shape ranges (empty: any shape that fits).
    pub profiles: Vec<crate::ShapeProfile>,
    /// Initializers as run-time values.
    pub consts: HashMap<String, Value>,
    /// Per layer: values nobody reads after it (freed right away).
    pub release: Vec<Vec<String>>,
}

impl Inner {
    pub(crate) fn new(
        graph: Graph,
        layers: Vec<LayerInfo>,
        tactics: Vec<Box<dyn Tactic>>,
        memory: MemoryPlan,
        backend: Arc<dyn Backend>,
        passes: Vec<PassReport>,
    ) -> Inner {
        let consts: HashMap<String, Value> = graph
            .initializers
            .iter()
            .map(|(k, t)| (k.clone(), Value::Tensor(t.clone())))
            .collect();
        // Tactics may pre-pack constant weights (initializers that no input overrides).
        let fed: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        for (node, tactic) in graph.nodes.iter().zip(&tactics) {
            let constants: Vec<Option<&Value>> = node
                .inputs
                .iter()
                .map(|n| consts.get(n).filter(|_| !fed.contains(n.as_str())))
                .collect();
            tactic.prepare(&constants);
        }
        let keep: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
        let mut last: HashMap<String, usize> = HashMap::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            for n in node_reads(node) {
                last.insert(n, i);
            }
            for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                last.entry(o.clone()).or_insert(i);
            }
        }
        let mut release = vec![Vec::new(); graph.nodes.len()];
        for (name, i) in last {
            if !keep.contains(name.as_str()) {
                if let Some(r) = release.get_mut(i) {
                    r.push(name);
                }
            }
        }
        Inner {
            target: backend.fingerprint().clone(),
            graph,
            layers,
            tactics,
            memory,
            backend,
            passes,
            profiles: Vec::new(),
            consts,
            release,
        }
    }
}

/// A built engine: cheap to clone (shared inside), `Send + Sync`; create one
/// [`ExecutionContext`] per concurrent caller.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("graph", &self.inner.graph.name)
            .field("layers", &self.inner.layers.len())
            .field("target", &self.inner.target.to_string())
            .finish()
    }
}

impl Engine {
    /// The plan file bytes of this engine.
    pub fn serialize(&self) -> Result<Vec<u8>, EngineError> {
        plan::encode_engine(&self.inner)
    }

    /// Write the plan file.
    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        let bytes = self.serialize()?;
        std::fs::write(path, bytes).map_err(|e| EngineError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }

    /// An engine from plan file bytes, running on all cores.
    pub fn deserialize(bytes: &[u8]) -> Result<Engine, EngineError> {
        Engine::deserialize_with_threads(bytes, None)
    }

    /// An engine from plan file bytes, running on `threads` workers (`None`: all cores).
    pub fn deserialize_with_threads(
        bytes: &[u8],
        threads: Option<usize>,
    ) -> Result<Engine, EngineError> {
        let backend = crate::cuda::backend_for_plan(bytes, threads)?;
        Ok(Engine {
            inner: Arc::new(plan::decode_engine(bytes, backend)?),
        })
    }

    /// An engine from plan file bytes whose plugin layers come from `plugins` (a plan that
    /// needs a plugin that is not loaded is refused, naming it).
    pub fn deserialize_with_plugins(
        bytes: &[u8],
        threads: Option<usize>,
        plugins: &crate::PluginRegistry,
    ) -> Result<Engine, EngineError> {
        let backend = crate::cuda::backend_for_plan(bytes, threads)?;
        Ok(Engine {
            inner: Arc::new(plan::decode_engine_with_plugins(bytes, backend, plugins)?),
        })
    }

    /// Read a plan file whose plugin layers come from `plugins`.
    pub fn load_with_plugins(
        path: &Path,
        threads: Option<usize>,
        plugins: &crate::PluginRegistry,
    ) -> Result<Engine, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Engine::deserialize_with_plugins(&bytes, threads, plugins)
    }

    /// The plugin layers (name, version, namespace) this engine's layers need.
    pub fn required_plugins(&self) -> Vec<crate::plugin::RequiredPlugin> {
        crate::plugin::required_plugins(&self.inner.graph)
    }

    /// Read a plan file (running on all cores).
    pub fn load(path: &Path) -> Result<Engine, EngineError> {
        Engine::load_with_threads(path, None)
    }

    /// Read a plan file, running on `threads` workers (`None`: all cores).
    pub fn load_with_threads(path: &Path, threads: Option<usize>) -> Result<Engine, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Engine::deserialize_with_threads(&bytes, threads)
    }

    /// Inputs the caller provides, with their (possibly symbolic) shapes.
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.inner.graph.inputs
    }

    /// Outputs, in the order `run` returns them.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.inner.graph.outputs
    }

    /// One entry per layer, in execution order.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.inner.layers
    }

    /// The memory plan for the build-time shapes.
    pub fn memory_plan(&self) -> &MemoryPlan {
        &self.inner.memory
    }

    /// The target the engine was built for.
    pub fn target(&self) -> &TargetFingerprint {
        &self.inner.target
    }

    /// What the optimizer passes did.
    pub fn profiles(&self) -> &[crate::ShapeProfile] {
        &self.inner.profiles
    }

    /// What the optimizer passes did.
    pub fn pass_reports(&self) -> &[PassReport] {
        &self.inner.passes
    }

    /// The optimized portable graph the engine runs.
    pub fn graph(&self) -> &Graph {
        &self.inner.graph
    }

    /// Worker threads of the backend.
    pub fn threads(&self) -> usize {
        self.inner.backend.threads()
    }

    /// A new execution context (one per concurrent caller).
    pub fn create_context(&self) -> ExecutionContext {
        ExecutionContext::new(self.clone())
    }

    /// The device the engine runs on (`cpu`, or the GPU of a `cuda` engine).
    pub fn device_name(&self) -> String {
        match self.inner.backend.gpu() {
            Some(g) => g.info().summary(),
            None => "cpu".to_string(),
        }
    }
}
