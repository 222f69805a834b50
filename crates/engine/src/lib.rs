//! # kiln-engine
//!
//! [`Builder`] + [`BuilderConfig`] turn a kiln-core [`Graph`](kiln_core::Graph) into an
//! [`Engine`]: validate, optimize (kiln-optimizer), infer shapes, pick the fastest tactic of
//! the backend per layer (timed on the real machine, remembered in a [`TimingCache`]), plan
//! memory. Engines serialize to plan files (`KILNPLAN`, see `proto/plan.proto`) and run
//! through [`ExecutionContext`]s, several per engine, from several threads.

mod builder;
mod config;
mod context;
pub mod cuda;
mod engine;
mod error;
mod memory;
pub mod plan;
pub mod plugin;
mod profile;
mod reads;
mod rebuild;
mod timing_cache;
mod tuning;

pub use builder::Builder;
pub use config::{BuildEvent, BuilderConfig};
pub use context::ExecutionContext;
pub use cuda::Device;
pub use engine::{Engine, LayerInfo, TacticChoice};
pub use error::EngineError;
pub use kiln_kernels::TargetFingerprint;
pub use memory::{BUFFER_ALIGN, Buffer, MemoryPlan, plan_memory};
pub use plan::{FORMAT_VERSION, MAGIC, is_plan};
pub use plugin::{PluginError, PluginRegistry};
pub use profile::{ShapeProfile, profiles_from_shapes};
pub use timing_cache::{CacheEntry, CacheKey, TimingCache, layer_signature};
