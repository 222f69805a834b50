//! The root module a plugin library exports.

use crate::{BackendCreator, LayerCreator};
use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RString, RVec};
use abi_stable::{StableAbi, declare_root_module_statics, package_version_strings};

/// The plugin ABI version this crate defines (its package version). Kiln loads a plugin when
/// the plugin was built against a compatible version: the same major version (for `0.x`, the
/// same minor), checked by `abi_stable` from the library's header before anything is called.
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The name of the root module (its header names it; the host checks it).
pub const LIBRARY_BASE_NAME: &str = "kiln_plugin";

/// The root module of a plugin library: what it provides.
///
/// A prefix type: later ABI versions may add fields after the last prefix field (marked
/// `#[sabi(last_prefix_field)]`), which older plugins lack and newer hosts see as missing.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The library's name and version, for messages (`swiglu 0.1.0`).
    pub library: extern "C" fn() -> RString,
    /// The custom layers of the library.
    pub layers: extern "C" fn() -> RVec<LayerCreator>,
    /// The custom server backends of the library.
    #[sabi(last_prefix_field)]
    pub backends: extern "C" fn() -> RVec<BackendCreator>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = LIBRARY_BASE_NAME;
    const NAME: &'static str = LIBRARY_BASE_NAME;
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
