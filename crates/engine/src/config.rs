//! Build settings and build progress events.

use crate::LayerInfo;
use kiln_optimizer::PassReport;
use std::collections::HashMap;
use std::path::PathBuf;

/// Settings of a build.
#[derive(Clone, Debug)]
pub struct BuilderConfig {
    /// Timing cache file: read before tuning, written after (created when missing).
    pub timing_cache: Option<PathBuf>,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// Concrete input shapes to tune for, by input name (must fit the declared shapes).
    pub shapes: HashMap<String, Vec<usize>>,
    /// Run the optimizer passes (default true).
    pub optimize: bool,
    /// CPU builds: run 2-D convolutions channels-last (NHWC) where the kernels support it
    /// (default true; `false` keeps every conv NCHW). GPU builds ignore it.
    pub nhwc: bool,
    /// Time tactics where shapes are concrete (default true); off: preferred defaults.
    pub tune: bool,
    /// Timed runs per candidate tactic, after one warm-up run (default 3).
    pub tuning_iterations: usize,
    /// Where the engine runs (default: the CPU).
    pub device: crate::Device,
    /// Precision of GPU builds (default FP32; CPU builds are always FP32).
    pub precision: crate::cuda::Precision,
    /// Layers kept in FP32 in FP16/BF16 builds: layer names, original node names or op
    /// types, `*` as wildcard.
    pub fp32_layers: Vec<String>,
    /// Optimization profiles (min/opt/max shapes per input): tactics are tuned at `opt`
    /// (unless `shapes` names the input) and runs outside `min..=max` are refused.
    pub profiles: Vec<crate::ShapeProfile>,
}

impl Default for BuilderConfig {
    fn default() -> Self {
        BuilderConfig {
            timing_cache: None,
            threads: None,
            shapes: HashMap::new(),
            optimize: true,
            nhwc: true,
            tune: true,
            tuning_iterations: 3,
            device: crate::Device::Cpu,
            precision: crate::cuda::Precision::Fp32,
            fp32_layers: Vec::new(),
            profiles: Vec::new(),
        }
    }
}

/// Progress of a build, for progress bars and logs.
#[derive(Clone, Debug)]
pub enum BuildEvent {
    /// The optimizer passes ran.
    Optimized {
        /// What each pass did.
        reports: Vec<PassReport>,
    },
    /// Tactic selection starts on layer `index` (0-based) of `total`.
    LayerStarted {
        /// Layer index.
        index: usize,
        /// Number of layers.
        total: usize,
        /// Layer name.
        name: String,
        /// Op type.
        op_type: String,
    },
    /// Layer `index` of `total` has its tactic.
    LayerDone {
        /// Layer index.
        index: usize,
        /// Number of layers.
        total: usize,
        /// What was decided.
        layer: LayerInfo,
    },
    /// The engine is ready.
    Finished {
        /// Number of layers.
        layers: usize,
        /// Layers whose tactics were timed.
        measured: usize,
        /// Layers whose tactics came from the timing cache.
        cached: usize,
    },
}
