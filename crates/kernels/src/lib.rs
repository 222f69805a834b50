//! # kiln-kernels
//!
//! The [`Backend`] trait and its implementations. A backend offers one or more
//! [`Tactic`]s per layer (node); the engine's builder times them on the real target and keeps
//! the fastest. The CPU backend ([`CpuBackend`], name `cpu`) is the embedded default: it has a
//! `reference` tactic for every builtin op and fast tactics for f32 MatMul, Gemm and Conv.

mod arena;
pub mod cpu;
pub mod cuda;
mod target;

pub use arena::Arena;
pub use cpu::CpuBackend;
pub use target::TargetFingerprint;

use kiln_core::{EvalContext, Node, Result, Value};
use std::fmt::Debug;

/// Errors of setting up a backend.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The worker thread pool could not be created.
    #[error("cannot create a thread pool of {threads} threads: {message}")]
    ThreadPool {
        /// Requested thread count.
        threads: usize,
        /// Why it failed.
        message: String,
    },
}

/// What a tactic gets besides its inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunContext<'a> {
    /// Evaluation context for reference ops (the enclosing scope, for subgraph ops).
    pub eval: EvalContext<'a>,
    /// Recycled output buffers (the execution context's arena); `None`: plain allocation.
    pub arena: Option<&'a Arena>,
}

impl RunContext<'_> {
    /// An output buffer of `len` f32 elements with unspecified contents, from the arena when
    /// there is one: only for kernels that overwrite every element.
    pub fn alloc_f32(&self, len: usize) -> Vec<f32> {
        match self.arena {
            Some(a) => a.take(len),
            None => vec![0.0; len],
        }
    }
}

/// One implementation of one layer. Tactic names are stable: they are stored in plan files
/// and timing caches.
pub trait Tactic: Send + Sync + Debug {
    /// Stable name (e.g. `reference`, `gemm`, `im2col-gemm`).
    fn name(&self) -> &str;

    /// Run the layer on its inputs (`None` = omitted optional input); returns its outputs.
    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>>;

    /// Told which inputs are constants (the engine's initializers, `None` for values computed
    /// at run time) before the layer runs: tactics may pre-pack constant weights here. Runs
    /// later with other values must still be correct. Default: nothing.
    fn prepare(&self, constants: &[Option<&Value>]) {
        let _ = constants;
    }
}

/// A compute target: names itself, fingerprints the hardware, and offers tactics per layer.
pub trait Backend: Send + Sync + Debug {
    /// Backend name (`cpu`).
    fn name(&self) -> &str;

    /// What a plan built here depends on (architecture and ISA features in use).
    fn fingerprint(&self) -> &TargetFingerprint;

    /// Worker threads the backend runs kernels on.
    fn threads(&self) -> usize;

    /// Candidate tactics for `node`, the preferred default first. Never empty for a node
    /// whose op is resolved: at least the reference tactic.
    fn tactics_for(&self, node: &Node) -> Vec<Box<dyn Tactic>>;

    /// The tactic called `name` for `node` (when loading a plan).
    fn tactic_named(&self, node: &Node, name: &str) -> Option<Box<dyn Tactic>> {
        self.tactics_for(node)
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// The GPU this backend runs on (`None` for host backends). Engines of a GPU backend
    /// keep tensors in device memory and run layers through [`cuda::layer_for`].
    fn gpu(&self) -> Option<&std::sync::Arc<cuda::Gpu>> {
        None
    }

    /// Run `f` (a whole graph execution) where [`Backend::execute`] is cheapest to call
    /// repeatedly: the CPU backend enters its worker pool once here, so the layers inside
    /// do not each hand work over to another thread. Default: call `f` directly.
    fn scope(&self, f: &mut (dyn FnMut() + Send)) {
        f()
    }

    /// Run `tactic` on the backend's workers.
    fn execute(
        &self,
        tactic: &dyn Tactic,
        inputs: &[Option<&Value>],
        ctx: &RunContext<'_>,
    ) -> Result<Vec<Value>>;
}
