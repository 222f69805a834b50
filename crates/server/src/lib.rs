//! kiln-server: serves a Triton-layout model repository over HTTP and gRPC with the KServe v2
//! protocol (the job Triton Inference Server does).

pub mod config;
pub mod proto;
pub mod repository;

// Runtime: scheduling, instances, frontends, metrics.
pub mod classify;
pub mod core;
pub mod error;
pub mod grpc;
pub mod http;
pub mod instance;
pub mod loader;
pub mod manager;
pub mod metrics;
pub mod plugin_backend;
pub mod request;
pub mod scheduler;
pub mod server;
pub mod source;
pub mod stats;
pub mod tensor;
pub mod warmup;

pub use self::core::{ControlMode, Core};
pub use error::{Result, ServerError};
pub use server::{Server, ServerOptions};
