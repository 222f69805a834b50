//! Test plugin built against a deliberately incompatible plugin ABI: a root module named
//! like Kiln's (`kiln_plugin`) but declaring ABI version 2.0.0 (this crate's version) and a
//! different layout, as a plugin built against a future, incompatible kiln-plugin-abi would.
//! Kiln must refuse it with a message naming the file and the versions.

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RString;
use abi_stable::{
    StableAbi, declare_root_module_statics, export_root_module, package_version_strings,
};

/// A root module of another ABI version.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureModuleRef)))]
#[sabi(missing_field(panic))]
pub struct FutureModule {
    /// Something the current ABI does not have.
    #[sabi(last_prefix_field)]
    pub describe: extern "C" fn(u64) -> RString,
}

impl RootModule for FutureModuleRef {
    declare_root_module_statics! {FutureModuleRef}
    const BASE_NAME: &'static str = "kiln_plugin";
    const NAME: &'static str = "kiln_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

extern "C" fn describe(n: u64) -> RString {
    format!("future plugin {n}").into()
}

/// The exported root module.
#[export_root_module]
pub fn future_root_module() -> FutureModuleRef {
    FutureModule { describe }.leak_into_prefix()
}
