//! Plugin libraries: `.so` files built against `kiln-plugin-abi` that provide custom layers
//! (resolved into graphs at build time and when plans load) and custom server backends.
//!
//! Each file is loaded by its own header (`lib_header_from_path` + `init_root_module`), never
//! through `RootModule::load_from_file`, which caches one module per interface type and would
//! hand a second plugin back as the first. A library built against an incompatible ABI, or
//! two libraries registering the same name and version, are refused with a message naming
//! the files.

mod layer;
mod resolve;

pub use layer::{CudaBuffer, PluginOp};
pub use resolve::{PLUGIN_ATTRS, RequiredPlugin, required_plugins};
pub(crate) use resolve::{resolve_graph, resolve_plan_graph};

use kiln_plugin_abi::abi_stable::library::{LibraryError, lib_header_from_path};
use kiln_plugin_abi::{
    AttrSpec, BackendCreator, DType, Device, LayerCreator, PluginModuleRef, RString,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of loading plugins and of plugin layers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The file could not be opened as a plugin library.
    #[error("plugin '{}': cannot load: {reason}", .path.display())]
    Load {
        /// The library file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The library was built against an incompatible plugin ABI.
    #[error(
        "plugin '{}': incompatible plugin ABI: {reason} (this Kiln uses kiln-plugin-abi {host}; rebuild the plugin against it)",
        .path.display()
    )]
    IncompatibleAbi {
        /// The library file.
        path: PathBuf,
        /// What abi_stable found.
        reason: String,
        /// The host's ABI version.
        host: String,
    },
    /// Two libraries (or one library twice) register the same layer or backend.
    #[error(
        "plugin '{}': {kind} '{name}' version {version} is already registered by '{}'",
        .second.display(), .first.display()
    )]
    Duplicate {
        /// `layer` or `backend`.
        kind: &'static str,
        /// Its name (with namespace for layers).
        name: String,
        /// Its version.
        version: String,
        /// The library loaded first.
        first: PathBuf,
        /// The library refused.
        second: PathBuf,
    },
    /// A plugins directory could not be read.
    #[error("plugin directory '{}': {reason}", .path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A plan needs plugin layers that are not loaded.
    #[error(
        "the plan needs plugin layer(s) that are not loaded: {}; load the libraries that provide them (--plugin PATH)",
        .0.join("; ")
    )]
    MissingForPlan(Vec<String>),
    /// A plugin layer failed (creation, shape inference, execution, or outputs that do not
    /// match what it declared).
    #[error("plugin layer {layer} from '{}': {message}", .path.display())]
    Layer {
        /// `name` (`namespace::name` version `v`).
        layer: String,
        /// The library file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One loaded library.
pub struct PluginLibrary {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// What the library calls itself (`swiglu 0.1.0`).
    pub name: String,
    module: PluginModuleRef,
}

impl fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("path", &self.path)
            .field("name", &self.name)
            .finish()
    }
}

impl PluginLibrary {
    /// Load one library by its own header, checking its ABI version and layout.
    pub fn load(path: &Path) -> Result<PluginLibrary, PluginError> {
        let load_err = |reason: String| PluginError::Load {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(load_err("no such file".into()));
        }
        let header = lib_header_from_path(path).map_err(|e| match e {
            LibraryError::OpenError { .. } | LibraryError::GetSymbolError { .. } => {
                load_err(format!(
                    "{} (is it a Kiln plugin built with kiln-plugin-abi's export_plugin!?)",
                    first_line(&e.to_string())
                ))
            }
            other => incompatible(path, &other),
        })?;
        let module = header
            .init_root_module::<PluginModuleRef>()
            .map_err(|e| incompatible(path, &e))?;
        let name = (module.library())().to_string();
        tracing::info!(path = %path.display(), library = %name, "plugin library loaded");
        Ok(PluginLibrary {
            path: path.to_path_buf(),
            name,
            module,
        })
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn incompatible(path: &Path, e: &LibraryError) -> PluginError {
    let reason = match e {
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!(
            "it was built against kiln-plugin-abi {actual_version}, which is not compatible with {expected_version}"
        ),
        LibraryError::AbiInstability(_) => {
            "its root module's layout differs from this Kiln's (types changed without a major version bump)".to_string()
        }
        other => first_line(&other.to_string()),
    };
    PluginError::IncompatibleAbi {
        path: path.to_path_buf(),
        reason,
        host: kiln_plugin_abi::ABI_VERSION.to_string(),
    }
}

/// A custom layer a library provides.
pub struct LayerPlugin {
    /// Layer name (the op type nodes use).
    pub name: String,
    /// Version.
    pub version: String,
    /// Namespace (empty: the default).
    pub namespace: String,
    /// Attributes it accepts.
    pub attributes: Vec<AttrSpec>,
    /// Element types it computes in.
    pub dtypes: Vec<DType>,
    /// Devices it runs on.
    pub devices: Vec<Device>,
    /// The library.
    pub library: Arc<PluginLibrary>,
    pub(crate) creator: LayerCreator,
}

impl LayerPlugin {
    /// `namespace::name v<version>` for messages.
    pub fn describe(&self) -> String {
        let ns = if self.namespace.is_empty() {
            String::new()
        } else {
            format!("{}::", self.namespace)
        };
        format!("{ns}{} version {}", self.name, self.version)
    }

    /// True when the layer has a CUDA implementation.
    pub fn supports_cuda(&self) -> bool {
        self.devices.contains(&Device::Cuda)
    }

    /// An instance of the layer from node attributes (checked against the declared ones),
    /// for a node with `num_outputs` outputs.
    pub fn instantiate(
        self: &Arc<Self>,
        attrs: &kiln_core::Attributes,
        num_outputs: usize,
    ) -> Result<PluginOp, PluginError> {
        resolve::instantiate(self, "(direct)", attrs, num_outputs)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> PluginError {
        PluginError::Layer {
            layer: self.describe(),
            path: self.library.path.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Debug for LayerPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LayerPlugin({} from {})",
            self.describe(),
            self.library.path.display()
        )
    }
}

/// A custom server backend a library provides.
pub struct BackendPlugin {
    /// Backend name (`backend: "<name>"`).
    pub name: String,
    /// Version.
    pub version: String,
    /// The library.
    pub library: Arc<PluginLibrary>,
    /// How to start instances.
    pub creator: BackendCreator,
}

impl fmt::Debug for BackendPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BackendPlugin({} {} from {})",
            self.name,
            self.version,
            self.library.path.display()
        )
    }
}

/// The loaded plugin libraries and what they provide. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PluginRegistry {
    layers: Vec<Arc<LayerPlugin>>,
    backends: Vec<Arc<BackendPlugin>>,
    libraries: Vec<Arc<PluginLibrary>>,
}

fn text(s: &RString) -> String {
    s.as_str().to_string()
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> PluginRegistry {
        PluginRegistry::default()
    }

    /// Load each file in order (see [`PluginRegistry::load`]).
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Result<PluginRegistry, PluginError> {
        let mut r = PluginRegistry::new();
        for p in paths {
            r.load(p.as_ref())?;
        }
        Ok(r)
    }

    /// Load a library and register its layers and backends. Refuses (registering nothing of
    /// it) a library with an incompatible ABI or one that registers a name + version already
    /// registered.
    pub fn load(&mut self, path: &Path) -> Result<Arc<PluginLibrary>, PluginError> {
        let lib = Arc::new(PluginLibrary::load(path)?);
        let layer_creators = (lib.module.layers())();
        let backend_creators = (lib.module.backends())();
        let mut layers: Vec<Arc<LayerPlugin>> = Vec::new();
        for c in layer_creators {
            let l = LayerPlugin {
                name: text(&c.name),
                version: text(&c.version),
                namespace: text(&c.namespace),
                attributes: c.attributes.to_vec(),
                dtypes: c.dtypes.to_vec(),
                devices: c.devices.to_vec(),
                library: lib.clone(),
                creator: c,
            };
            let clash =
                self.layers.iter().chain(&layers).find(|o| {
                    o.name == l.name && o.version == l.version && o.namespace == l.namespace
                });
            if let Some(o) = clash {
                return Err(PluginError::Duplicate {
                    kind: "layer",
                    name: if l.namespace.is_empty() {
                        l.name.clone()
                    } else {
                        format!("{}::{}", l.namespace, l.name)
                    },
                    version: l.version.clone(),
                    first: o.library.path.clone(),
                    second: path.to_path_buf(),
                });
            }
            layers.push(Arc::new(l));
        }
        let mut backends: Vec<Arc<BackendPlugin>> = Vec::new();
        for c in backend_creators {
            let b = BackendPlugin {
                name: text(&c.name),
                version: text(&c.version),
                library: lib.clone(),
                creator: c,
            };
            if let Some(o) = self
                .backends
                .iter()
                .chain(&backends)
                .find(|o| o.name == b.name && o.version == b.version)
            {
                return Err(PluginError::Duplicate {
                    kind: "backend",
                    name: b.name.clone(),
                    version: b.version.clone(),
                    first: o.library.path.clone(),
                    second: path.to_path_buf(),
                });
            }
            backends.push(Arc::new(b));
        }
        self.layers.extend(layers);
        self.backends.extend(backends);
        self.libraries.push(lib.clone());
        Ok(lib)
    }

    /// Load every `*.so` file of a directory, in name order.
    pub fn load_dir(&mut self, dir: &Path) -> Result<Vec<Arc<PluginLibrary>>, PluginError> {
        let read = std::fs::read_dir(dir).map_err(|e| PluginError::Directory {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x == std::env::consts::DLL_EXTENSION)
            })
            .collect();
        files.sort();
        files.iter().map(|f| self.load(f)).collect()
    }

    /// Every registered layer.
    pub fn layers(&self) -> &[Arc<LayerPlugin>] {
        &self.layers
    }

    /// Every registered backend.
    pub fn backends(&self) -> &[Arc<BackendPlugin>] {
        &self.backends
    }

    /// The loaded libraries, in load order.
    pub fn libraries(&self) -> &[Arc<PluginLibrary>] {
        &self.libraries
    }

    /// True when nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    /// The backend called `name` (the highest version when several are loaded).
    pub fn backend(&self, name: &str) -> Option<Arc<BackendPlugin>> {
        self.backends
            .iter()
            .filter(|b| b.name == name)
            .max_by(|a, b| compare_versions(&a.version, &b.version))
            .cloned()
    }

    /// True when `node` is a placeholder (an op that is not a builtin) a loaded plugin layer
    /// provides, so building will resolve it.
    pub fn provides(&self, node: &kiln_core::Node) -> bool {
        let Some(u) = node.op.unresolved() else {
            return false;
        };
        let version = resolve::string_attr(&node.attrs, "plugin_version");
        let namespace = resolve::string_attr(&node.attrs, "plugin_namespace");
        self.find_layer(
            &u.name,
            &node.domain,
            version.as_deref(),
            namespace.as_deref(),
        )
        .is_some()
    }

    /// The layer a node of op type `name` in domain `domain` resolves to: `version` and
    /// `namespace` (the node's `plugin_version` / `plugin_namespace` attributes) must match
    /// when given; without a namespace, the plugin's namespace must equal the node's domain
    /// or one of them must be the default. The highest matching version wins.
    pub fn find_layer(
        &self,
        name: &str,
        domain: &str,
        version: Option<&str>,
        namespace: Option<&str>,
    ) -> Option<Arc<LayerPlugin>> {
        self.layers
            .iter()
            .filter(|l| l.name == name)
            .filter(|l| version.is_none_or(|v| l.version == v))
            .filter(|l| match namespace {
                Some(ns) => l.namespace == ns,
                None => l.namespace == domain || l.namespace.is_empty() || domain.is_empty(),
            })
            .max_by(|a, b| compare_versions(&a.version, &b.version))
            .cloned()
    }
}

/// Compare versions numerically part by part (`2` < `10`), falling back to text.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<Result<u64, String>> {
        s.split('.')
            .map(|p| p.parse::<u64>().map_err(|_| p.to_string()))
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(x), Err(y)) => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(compare_versions("2", "10").is_lt());
        assert!(compare_versions("1.2", "1.2.1").is_lt());
        assert!(compare_versions("1", "1").is_eq());
    }

    #[test]
    fn missing_file_is_named() {
        let e = PluginRegistry::new()
            .load(Path::new("/nonexistent/libkiln_x.so"))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/libkiln_x.so"), "{e}");
    }
}
