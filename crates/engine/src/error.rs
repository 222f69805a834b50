//! The engine's error type.

use std::path::PathBuf;

/// Errors of building, (de)serializing and running engines.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nodes whose ops are not builtins (all of them listed).
    #[error("cannot build: {} unsupported node(s): {}", .0.len(), .0.join("; "))]
    Unsupported(Vec<String>),
    /// The graph is invalid (core error with node context).
    #[error("{0}")]
    Core(#[from] kiln_core::Error),
    /// An optimizer pass failed.
    #[error("optimizer: {0}")]
    Optimizer(#[from] kiln_optimizer::OptError),
    /// The backend could not be set up.
    #[error("backend: {0}")]
    Kernel(#[from] kiln_kernels::KernelError),
    /// A build setting does not fit the graph.
    #[error("invalid build configuration: {0}")]
    Config(String),
    /// A layer failed at run time.
    #[error("layer '{layer}' ({op_type}, tactic {tactic}): {source}")]
    Layer {
        /// Layer (node) name.
        layer: String,
        /// Its op type.
        op_type: String,
        /// The tactic that ran.
        tactic: String,
        /// What went wrong.
        #[source]
        source: Box<kiln_core::Error>,
    },
    /// Inputs given to `run`/`execute` do not fit the engine.
    #[error("invalid inputs: {0}")]
    Input(String),
    /// The bytes are not a Kiln plan.
    #[error("not a Kiln plan (bad magic {0:02x?})")]
    NotAPlan(Vec<u8>),
    /// The plan has another format version.
    #[error("plan format version {found} is not supported (this Kiln reads version {supported})")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The plan is shorter than its header says.
    #[error("plan is truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// Bytes the plan needs.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// Checksum mismatch or inconsistent contents.
    #[error("plan is corrupted: {0}")]
    Corrupted(String),
    /// The header could not be decoded or describes something invalid.
    #[error("plan header is invalid: {0}")]
    Header(String),
    /// The plan was built for a target this machine is not.
    #[error(
        "plan was built for target {plan} but this machine is {host}{}; rebuild the plan on this machine",
        if .missing.is_empty() { String::new() } else { format!(" (lacks {})", .missing.join(", ")) }
    )]
    TargetMismatch {
        /// The plan's target.
        plan: String,
        /// This machine's target.
        host: String,
        /// Features the plan uses that this machine lacks.
        missing: Vec<String>,
    },
    /// The GPU could not be used or a layer failed on it (the message names the layer).
    #[error("GPU: {0}")]
    Gpu(String),
    /// The graph or its inputs hold values with no device representation (sequences,
    /// optionals, strings, values whose type is only known at run time): a GPU engine runs
    /// such a graph on its host backend instead.
    #[error("runs on the host: {0}")]
    HostOnly(String),
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A plugin library could not be loaded, a plugin layer failed, or a plan needs plugins
    /// that are not loaded.
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    /// The timing cache file could not be read or written.
    #[error("timing cache {path}: {message}")]
    TimingCache {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
