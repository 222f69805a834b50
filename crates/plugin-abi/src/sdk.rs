//! The SDK for Rust plugin authors: safe traits to implement ([`PluginLayer`],
//! [`PluginBackend`]), the adapters that put them behind the ABI with every entry point
//! wrapped in `catch_unwind` (a panic becomes an error, never an abort or an unwind into
//! Kiln), attribute accessors, and [`export_plugin!`](crate::export_plugin).
//!
//! ```ignore
//! use kiln_plugin_abi::sdk::*;
//! struct MyLayer;
//! impl PluginLayer for MyLayer { /* ... */ }
//! kiln_plugin_abi::export_plugin!(name: "mylib", layers: [MyLayer], backends: []);
//! ```

use crate::{
    Attr, AttrSpec, AttrValue, BackendBox, BackendCreator, BackendInstance, BackendInstance_TO,
    CudaTensor, DType, Device, InstanceConfig, Layer, Layer_TO, LayerBox, LayerCreator,
    NamedTensor, Request, RequestResult, TensorDesc, TensorView, TensorViewMut,
};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RSliceMut, RString, RVec};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The exported symbol that holds a plugin's `abi_stable` library header (what
/// `abi_stable::library::ROOT_MODULE_LOADER_NAME` names).
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Run `f`, turning an error into `RErr` and a panic into `RErr("<what> panicked: ...")`.
pub fn guard<R>(what: &str, f: impl FnOnce() -> Result<R, String>) -> RResult<R, RString> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e.into()),
        Err(p) => RErr(format!("{what} panicked: {}", panic_message(p.as_ref())).into()),
    }
}

/// A node's attributes, with typed getters.
#[derive(Clone, Copy, Debug)]
pub struct Attrs<'a>(pub &'a [Attr]);

impl<'a> Attrs<'a> {
    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a AttrValue> {
        self.0.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// A float attribute (an int is accepted too), or `default`.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Float(f)) => Ok(*f),
            Some(AttrValue::Int(i)) => Ok(*i as f32),
            Some(v) => Err(format!(
                "attribute '{name}': expected float, got {}",
                v.kind().name()
            )),
        }
    }

    /// An int attribute, or `default`.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(i)) => Ok(*i),
            Some(v) => Err(format!(
                "attribute '{name}': expected int, got {}",
                v.kind().name()
            )),
        }
    }

    /// A string attribute, or `default`.
    pub fn str_or(&self, name: &str, default: &str) -> Result<String, String> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::Str(s)) => Ok(s.to_string()),
            Some(v) => Err(format!(
                "attribute '{name}': expected string, got {}",
                v.kind().name()
            )),
        }
    }
}

/// What a CUDA execution gets (see [`crate::Layer::execute_cuda`]).
#[derive(Clone, Copy, Debug)]
pub struct CudaLaunch<'a> {
    /// Inputs in device memory.
    pub inputs: &'a [CudaTensor],
    /// Outputs in device memory, allocated by the host as declared.
    pub outputs: &'a [CudaTensor],
    /// Device workspace (0 when none).
    pub workspace: u64,
    /// Its size in bytes.
    pub workspace_size: u64,
    /// The `CUstream` to launch on.
    pub stream: u64,
}

/// A custom layer, written in safe Rust. [`layer_creator`] puts it behind the ABI.
pub trait PluginLayer: Send + Sync + Sized + 'static {
    /// Layer name (the op type model nodes use).
    const NAME: &'static str;
    /// Layer version.
    const VERSION: &'static str;
    /// Namespace (empty: the default).
    const NAMESPACE: &'static str = "";

    /// The attributes the layer accepts.
    fn attributes() -> Vec<AttrSpec> {
        Vec::new()
    }
    /// Element types it computes in.
    fn dtypes() -> Vec<DType> {
        vec![DType::F32]
    }
    /// Devices it runs on.
    fn devices() -> Vec<Device> {
        vec![Device::Cpu]
    }
    /// An instance from a node's attributes.
    fn create(attrs: Attrs<'_>) -> Result<Self, String>;
    /// An instance from [`PluginLayer::serialize`]'s bytes.
    fn deserialize(state: &[u8]) -> Result<Self, String>;
    /// Output descriptions from input descriptions (possibly symbolic).
    fn output_descs(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>, String>;
    /// Workspace bytes for concrete inputs.
    fn workspace_size(&self, _inputs: &[TensorDesc]) -> Result<u64, String> {
        Ok(0)
    }
    /// Run on the CPU.
    fn execute_cpu(
        &self,
        inputs: &[TensorView<'_>],
        outputs: &mut [TensorViewMut<'_>],
        workspace: &mut [u8],
    ) -> Result<(), String>;
    /// Run on CUDA (default: not implemented).
    fn execute_cuda(&self, _launch: CudaLaunch<'_>) -> Result<(), String> {
        Err(format!("layer {} has no CUDA implementation", Self::NAME))
    }
    /// The state to store in plans.
    fn serialize(&self) -> Result<Vec<u8>, String>;
}

/// A [`PluginLayer`] behind the ABI's [`Layer`] trait, every call guarded.
struct LayerAdapter<T>(T);

impl<T: PluginLayer> Layer for LayerAdapter<T> {
    fn output_descs(&self, inputs: RSlice<'_, TensorDesc>) -> RResult<RVec<TensorDesc>, RString> {
        guard(T::NAME, || {
            self.0.output_descs(inputs.as_slice()).map(RVec::from)
        })
    }

    fn workspace_size(&self, inputs: RSlice<'_, TensorDesc>) -> RResult<u64, RString> {
        guard(T::NAME, || self.0.workspace_size(inputs.as_slice()))
    }

    fn execute_cpu(
        &self,
        inputs: RSlice<'_, TensorView<'_>>,
        mut outputs: RSliceMut<'_, TensorViewMut<'_>>,
        mut workspace: RSliceMut<'_, u8>,
    ) -> RResult<(), RString> {
        guard(T::NAME, || {
            self.0.execute_cpu(
                inputs.as_slice(),
                outputs.as_mut_slice(),
                workspace.as_mut_slice(),
            )
        })
    }

    fn execute_cuda(
        &self,
        inputs: RSlice<'_, CudaTensor>,
        outputs: RSlice<'_, CudaTensor>,
        workspace: u64,
        workspace_size: u64,
        stream: u64,
    ) -> RResult<(), RString> {
        guard(T::NAME, || {
            self.0.execute_cuda(CudaLaunch {
                inputs: inputs.as_slice(),
                outputs: outputs.as_slice(),
                workspace,
                workspace_size,
                stream,
            })
        })
    }

    fn serialize(&self) -> RResult<RVec<u8>, RString> {
        guard(T::NAME, || self.0.serialize().map(RVec::from))
    }
}

fn boxed_layer<T: PluginLayer>(layer: T) -> LayerBox {
    Layer_TO::from_value(LayerAdapter(layer), TD_Opaque)
}

extern "C" fn create_layer<T: PluginLayer>(attrs: RSlice<'_, Attr>) -> RResult<LayerBox, RString> {
    guard(T::NAME, || {
        T::create(Attrs(attrs.as_slice())).map(boxed_layer)
    })
}

extern "C" fn deserialize_layer<T: PluginLayer>(
    state: RSlice<'_, u8>,
) -> RResult<LayerBox, RString> {
    guard(T::NAME, || {
        T::deserialize(state.as_slice()).map(boxed_layer)
    })
}

/// The ABI description of layer `T`.
pub fn layer_creator<T: PluginLayer>() -> LayerCreator {
    LayerCreator {
        name: T::NAME.into(),
        version: T::VERSION.into(),
        namespace: T::NAMESPACE.into(),
        attributes: T::attributes().into(),
        dtypes: T::dtypes().into(),
        devices: T::devices().into(),
        create: create_layer::<T>,
        deserialize: deserialize_layer::<T>,
    }
}

/// A custom server backend, written in safe Rust. [`backend_creator`] puts it behind the ABI.
pub trait PluginBackend: Send + Sized + 'static {
    /// Backend name (`backend: "<name>"`; ship the library as `libkiln_<name>.so`).
    const NAME: &'static str;
    /// Backend version.
    const VERSION: &'static str;

    /// Initialize one model instance.
    fn initialize(config: &InstanceConfig) -> Result<Self, String>;
    /// Execute a batch: one result per request, in order.
    fn execute(&mut self, requests: &[Request<'_>]) -> Vec<Result<Vec<NamedTensor>, String>>;
    /// Release resources.
    fn finalize(&mut self) -> Result<(), String> {
        Ok(())
    }
}

struct BackendAdapter<T>(T);

impl<T: PluginBackend> BackendInstance for BackendAdapter<T> {
    fn execute(&mut self, requests: RSlice<'_, Request<'_>>) -> RVec<RequestResult> {
        let n = requests.len();
        match guard(T::NAME, || Ok(self.0.execute(requests.as_slice()))) {
            ROk(results) => results
                .into_iter()
                .map(|r| match r {
                    Ok(v) => ROk(RVec::from(v)),
                    Err(e) => RErr(RString::from(e)),
                })
                .collect(),
            RErr(e) => (0..n).map(|_| RErr(e.clone())).collect(),
        }
    }

    fn finalize(&mut self) -> RResult<(), RString> {
        guard(T::NAME, || self.0.finalize())
    }
}

extern "C" fn initialize_backend<T: PluginBackend>(
    config: &InstanceConfig,
) -> RResult<BackendBox, RString> {
    guard(T::NAME, || {
        T::initialize(config).map(|b| BackendInstance_TO::from_value(BackendAdapter(b), TD_Opaque))
    })
}

/// The ABI description of backend `T`.
pub fn backend_creator<T: PluginBackend>() -> BackendCreator {
    BackendCreator {
        name: T::NAME.into(),
        version: T::VERSION.into(),
        initialize: initialize_backend::<T>,
    }
}

/// Export a plugin library's root module: its name and its layer and backend types.
///
/// ```ignore
/// kiln_plugin_abi::export_plugin!(name: "swiglu", layers: [SwiGlu], backends: []);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, layers: [$($layer:ty),* $(,)?], backends: [$($backend:ty),* $(,)?] $(,)?) => {
        /// The root module of this plugin library.
        pub fn kiln_plugin_root_module() -> $crate::PluginModuleRef {
            extern "C" fn library() -> $crate::RString {
                $crate::RString::from(format!("{} {}", $name, env!("CARGO_PKG_VERSION")))
            }
            extern "C" fn layers() -> $crate::RVec<$crate::LayerCreator> {
                let v: ::std::vec::Vec<$crate::LayerCreator> =
                    vec![$($crate::sdk::layer_creator::<$layer>()),*];
                v.into()
            }
            extern "C" fn backends() -> $crate::RVec<$crate::BackendCreator> {
                let v: ::std::vec::Vec<$crate::BackendCreator> =
                    vec![$($crate::sdk::backend_creator::<$backend>()),*];
                v.into()
            }
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::PluginModule { library, layers, backends }.leak_into_prefix()
        }

        extern "C" fn __kiln_plugin_erased_root() -> $crate::abi_stable::library::RootModuleResult {
            $crate::abi_stable::library::__call_root_module_loader(kiln_plugin_root_module)
        }

        /// The library header Kiln finds by name (what `#[export_root_module]` makes).
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static KILN_PLUGIN_LIB_HEADER: $crate::abi_stable::library::LibHeader =
            // SAFETY: the constructor returns the root module of type `PluginModuleRef`
            // through `__call_root_module_loader`, as `from_constructor` requires.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModuleRef>(
                    __kiln_plugin_erased_root,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_symbol_matches_abi_stable() {
        assert_eq!(
            ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    #[test]
    fn guard_turns_panics_into_errors() {
        let r: RResult<u32, RString> = guard("t", || panic!("boom"));
        assert_eq!(r.unwrap_err().as_str(), "t panicked: boom");
        let r: RResult<u32, RString> = guard("t", || Err("bad".into()));
        assert_eq!(r.unwrap_err().as_str(), "bad");
    }
}
