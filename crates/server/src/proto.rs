//! Generated protobuf types of package `inference`: Triton's `ModelConfig` (from
//! `proto/model_config.proto`) and every other `proto/*.proto` of this crate, with their
//! tonic services.

/// Messages, enums and services of protobuf package `inference`.
#[allow(missing_docs, clippy::all)]
pub mod inference {
    include!(concat!(env!("OUT_DIR"), "/inference.rs"));
}

/// The encoded `FileDescriptorSet` of every proto file of this crate (imports included), for
/// prost-reflect (text format, JSON mapping) and gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/inference_descriptor.bin"));
