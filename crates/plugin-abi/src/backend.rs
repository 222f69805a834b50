//! The custom server backend interface.

use crate::{NamedTensor, NamedView};
use abi_stable::StableAbi;
use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RString, RVec};

/// The kind of device a model instance runs on (`instance_group.kind`).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceKind {
    /// `KIND_CPU` (or `KIND_AUTO` on a host without GPUs).
    Cpu,
    /// `KIND_GPU`.
    Gpu,
}

/// Everything a backend gets to initialize one model instance.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct InstanceConfig {
    /// The model name.
    pub model_name: RString,
    /// The version being loaded.
    pub model_version: i64,
    /// The model's complete configuration (`config.pbtxt`) as JSON.
    pub config_json: RString,
    /// The model directory.
    pub model_dir: RString,
    /// The version directory (`<model_dir>/<version>`).
    pub version_dir: RString,
    /// Instance name (`<model>_<group>_<index>`).
    pub instance_name: RString,
    /// Instance kind.
    pub kind: InstanceKind,
    /// GPU index for [`InstanceKind::Gpu`], else -1.
    pub device_id: i32,
}

/// One inference request of a batch: its named input tensors.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The request id (may be empty).
    pub id: RStr<'a>,
    /// Input tensors by name, as the client sent them (with the batch dimension when the
    /// model batches).
    pub inputs: RSlice<'a, NamedView<'a>>,
}

/// The answer to one request: named output tensors, or an error message.
pub type RequestResult = RResult<RVec<NamedTensor>, RString>;

/// One model instance of a custom backend. The server runs each instance on its own
/// thread and never calls one instance from two threads at once.
#[sabi_trait]
pub trait BackendInstance: Send {
    /// Execute a batch of requests: one result per request, in order.
    fn execute(&mut self, requests: RSlice<'_, Request<'_>>) -> RVec<RequestResult>;

    /// Release the instance's resources (called once, before it is dropped).
    fn finalize(&mut self) -> RResult<(), RString>;
}

/// A backend instance behind the ABI: an owned trait object.
pub type BackendBox = BackendInstance_TO<'static, RBox<()>>;

/// What a library says about one of its backends, and how to start instances.
#[repr(C)]
#[derive(StableAbi)]
pub struct BackendCreator {
    /// Backend name (`backend: "<name>"` in `config.pbtxt`; the library is
    /// `libkiln_<name>.so`).
    pub name: RString,
    /// Backend version, for messages.
    pub version: RString,
    /// Initialize one model instance.
    pub initialize: extern "C" fn(&InstanceConfig) -> RResult<BackendBox, RString>,
}
