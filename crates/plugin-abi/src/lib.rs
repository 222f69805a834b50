//! # kiln-plugin-abi
//!
//! The stable ABI between Kiln and plugin libraries (`.so` files), built on `abi_stable`:
//!
//! - [`PluginModule`]: the versioned root module every plugin exports (a prefix type, so later
//!   minor versions can append fields without breaking plugins built earlier). It lists the
//!   library's [`LayerCreator`]s (custom layers) and [`BackendCreator`]s (custom server
//!   backends).
//! - The layer interface ([`Layer`]): output types and shapes from input descriptions
//!   (symbolic dimensions allowed), workspace size, execution on the CPU (tensor views) and on
//!   CUDA (device pointers, a workspace pointer and a stream handle as plain integers), and
//!   serialization of its own state (stored in plans).
//! - The backend interface ([`BackendInstance`]): a model instance initialized from the
//!   model's name, version, configuration (JSON), directory and device, executing batches of
//!   requests with a result per request.
//!
//! Every call across the boundary returns an ABI-stable result ([`RResult`]) and only
//! ABI-stable types cross it. The [`sdk`] module is for plugin authors: safe Rust traits, the
//! adapters that wrap every entry point in `catch_unwind` (a panic becomes an error) and the
//! [`export_plugin!`] macro that exports the root module.
//!
//! This crate depends on nothing else in the Kiln workspace: plugins build against it alone.

#[allow(non_local_definitions)]
mod backend;
#[allow(non_local_definitions)]
mod layer;
mod module;
pub mod sdk;
mod types;

pub use abi_stable;
pub use abi_stable::std_types::{
    RErr, RNone, ROk, ROption, RResult, RSlice, RSliceMut, RSome, RStr, RString, RVec,
};
pub use backend::{
    BackendBox, BackendCreator, BackendInstance, BackendInstance_TO, InstanceConfig, InstanceKind,
    Request, RequestResult,
};
pub use layer::{CudaTensor, Layer, Layer_TO, LayerBox, LayerCreator};
pub use module::{ABI_VERSION, LIBRARY_BASE_NAME, PluginModule, PluginModuleRef};
pub use types::{
    Attr, AttrKind, AttrSpec, AttrValue, DType, Device, Dim, NamedTensor, NamedView, TensorDesc,
    TensorView, TensorViewMut,
};
