//! Loading a MODEL argument (an ONNX model, a Caffe prototxt + caffemodel, or a plan) into an
//! [`Engine`], and the argument syntaxes shared by the subcommands (`--shapes`,
//! `--weights`, `--mark-output`).

use anyhow::{Context, Result, bail, ensure};
use kiln_engine::{Builder, BuilderConfig, Engine};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options for Caffe models (a MODEL ending in `.prototxt`), shared by the subcommands.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct CaffeArgs {
    /// Caffe weights (`.caffemodel`) for a `.prototxt` MODEL.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,

    /// Make this Caffe blob a network output (repeatable; default: every blob that no layer
    /// consumes), like TensorRT's markOutput.
    #[arg(long = "mark-output", value_name = "BLOB")]
    pub mark_output: Vec<String>,
}

/// Plugin libraries (custom layers and backends), shared by the subcommands.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PluginArgs {
    /// Load a plugin library (.so built against kiln-plugin-abi): its layers resolve ONNX
    /// nodes Kiln has no op for, and plan layers that need it (repeatable).
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugin: Vec<PathBuf>,

    /// Load every plugin library (`*.so`) of this directory (repeatable).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dir: Vec<PathBuf>,
}

static PLUGINS: std::sync::OnceLock<kiln_engine::PluginRegistry> = std::sync::OnceLock::new();

/// Load the plugin libraries of `args` for this process (once, before any model is loaded).
pub fn init_plugins(args: &PluginArgs) -> Result<&'static kiln_engine::PluginRegistry> {
    let mut reg = kiln_engine::PluginRegistry::new();
    for dir in &args.plugin_dir {
        reg.load_dir(dir)?;
    }
    for p in &args.plugin {
        reg.load(p)?;
    }
    for l in reg.layers() {
        tracing::info!(layer = %l.describe(), library = %l.library.path.display(), "plugin layer");
    }
    Ok(PLUGINS.get_or_init(|| reg))
}

/// The plugin libraries loaded by [`init_plugins`] (none when it was not called).
pub fn plugins() -> &'static kiln_engine::PluginRegistry {
    PLUGINS.get_or_init(kiln_engine::PluginRegistry::new)
}

/// What kind of file a MODEL argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// An ONNX model (anything that is not a plan).
    Onnx,
    /// A Kiln plan (recognized by its magic number).
    Plan,
    /// A Caffe network description (recognized by the `.prototxt` extension).
    Caffe,
}

impl ModelKind {
    /// Lower-case name for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Onnx => "onnx",
            ModelKind::Plan => "plan",
            ModelKind::Caffe => "caffe",
        }
    }
}

/// Look at the first bytes of a file to tell plans from ONNX models.
pub fn detect(path: &Path) -> Result<ModelKind> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open '{}'", path.display()))?;
    ensure!(
        !file.metadata().is_ok_and(|m| m.is_dir()),
        "'{}' is a directory, not a model file",
        path.display()
    );
    let mut head = Vec::with_capacity(64);
    file.take(64)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read '{}'", path.display()))?;
    ensure!(!head.is_empty(), "'{}' is empty", path.display());
    let prototxt = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("prototxt"));
    Ok(if prototxt {
        ModelKind::Caffe
    } else if kiln_engine::is_plan(&head) {
        ModelKind::Plan
    } else {
        ModelKind::Onnx
    })
}

/// An engine ready to run, and where it came from.
pub struct Loaded {
    /// The engine.
    pub engine: Engine,
    /// What the file was.
    pub kind: ModelKind,
    /// Time spent importing and building (ONNX) or deserializing (plan).
    pub load_time: Duration,
}

/// Load a plan, or import and build an ONNX or Caffe model with `config` (whose thread
/// count applies to plans too).
pub fn load(path: &Path, config: BuilderConfig, caffe: &CaffeArgs) -> Result<Loaded> {
    let kind = detect(path)?;
    let start = Instant::now();
    let engine = match kind {
        ModelKind::Plan => load_plan(path, config.threads)?,
        ModelKind::Onnx | ModelKind::Caffe => {
            let graph = import_model(path, caffe)?;
            Builder::new(config)
                .with_plugins(plugins().clone())
                .build(graph)
                .with_context(|| format!("cannot build '{}'", path.display()))?
        }
    };
    Ok(Loaded {
        engine,
        kind,
        load_time: start.elapsed(),
    })
}

/// Deserialize a plan file, running on `threads` workers (`None`: all cores).
pub fn load_plan(path: &Path, threads: Option<usize>) -> Result<Engine> {
    Engine::load_with_plugins(path, threads, plugins())
        .with_context(|| format!("cannot load plan '{}'", path.display()))
}

/// Import an ONNX model, failing with the parser's full report when anything is unsupported
/// (nodes that a loaded plugin layer provides are supported).
pub fn import_onnx(path: &Path) -> Result<kiln_core::Graph> {
    kiln_server::plugin_backend::import_onnx(path, plugins())
        .with_context(|| format!("cannot import '{}'", path.display()))
}

/// Import an ONNX model or (for a `.prototxt`) a Caffe network with its `--weights`,
/// failing with the parser's full report when anything is unsupported.
pub fn import_model(path: &Path, caffe: &CaffeArgs) -> Result<kiln_core::Graph> {
    if detect(path)? != ModelKind::Caffe {
        ensure!(
            caffe.weights.is_none() && caffe.mark_output.is_empty(),
            "--weights and --mark-output apply to Caffe models (a .prototxt MODEL) only"
        );
        return import_onnx(path);
    }
    kiln_caffe::import(path, caffe.weights.as_deref(), &caffe.mark_output)
        .with_context(|| format!("cannot import '{}'", path.display()))
}

/// `kiln inspect` of a Caffe network: every layer with its support status, and the problems.
pub fn inspect_caffe(path: &Path, caffe: &CaffeArgs, json: bool) -> Result<String> {
    let m = kiln_caffe::load(path, caffe.weights.as_deref(), &caffe.mark_output)
        .with_context(|| format!("cannot load '{}'", path.display()))?;
    let r = &m.report;
    let supported = r.layers.iter().filter(|l| l.supported).count();
    if json {
        let layers: Vec<serde_json::Value> = r
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({"name": l.layer_name, "type": l.layer_type,
                    "supported": l.supported, "reason": l.reason})
            })
            .collect();
        let names = |v: &[kiln_core::ValueInfo]| -> Vec<String> {
            v.iter().map(|i| i.name.clone()).collect()
        };
        let problems: Vec<String> = r.diagnostics.iter().map(|d| d.to_string()).collect();
        return Ok(serde_json::json!({
            "path": path.display().to_string(), "format": "caffe", "name": m.name,
            "legacy_layers": m.legacy, "inputs": names(&m.graph.inputs),
            "outputs": names(&m.graph.outputs), "layers": layers,
            "supported_layers": supported, "problems": problems,
        })
        .to_string());
    }
    let mut out = format!(
        "{}: Caffe network '{}'{}\n",
        path.display(),
        m.name,
        if m.legacy {
            " (legacy layers form)"
        } else {
            ""
        }
    );
    for (what, v) in [("inputs", &m.graph.inputs), ("outputs", &m.graph.outputs)] {
        out.push_str(&format!("{what}:\n"));
        for i in v.iter() {
            let dims =
                i.ty.tensor()
                    .and_then(|f| f.shape.as_ref())
                    .and_then(|s| s.as_fixed())
                    .map_or("?".to_string(), |d| {
                        d.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join("x")
                    });
            out.push_str(&format!("  {} {dims}\n", i.name));
        }
    }
    out.push_str(&format!(
        "layers: {} ({supported} supported)\n",
        r.layers.len()
    ));
    for l in &r.layers {
        let status = l.reason.as_deref().unwrap_or("ok");
        out.push_str(&format!(
            "  {} ({}): {status}\n",
            l.layer_name, l.layer_type
        ));
    }
    out.push_str(&format!("problems: {}\n", r.diagnostics.len()));
    for d in &r.diagnostics {
        out.push_str(&format!("  {d}\n"));
    }
    Ok(out)
}

/// The builder configuration from the common options.
pub fn builder_config(
    threads: Option<usize>,
    shapes: HashMap<String, Vec<usize>>,
    timing_cache: Option<&Path>,
) -> BuilderConfig {
    BuilderConfig {
        threads,
        shapes,
        timing_cache: timing_cache.map(Path::to_path_buf),
        ..BuilderConfig::default()
    }
}

/// Parse `--shapes` values: `NAME:1x3x224x224,OTHER:4x16`, given once or several times.
/// The last `:` separates the name from the dims, so names may themselves contain `:`.
pub fn parse_shapes(specs: &[String]) -> Result<HashMap<String, Vec<usize>>> {
    let mut shapes = HashMap::new();
    for spec in specs.iter().flat_map(|s| s.split(',')) {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        let Some((name, dims)) = spec.rsplit_once(':') else {
            bail!("bad --shapes entry '{spec}': expected NAME:DIMS such as input:1x3x224x224");
        };
        ensure!(
            !name.is_empty(),
            "bad --shapes entry '{spec}': the input name is empty"
        );
        let dims = parse_dims(dims)
            .with_context(|| format!("bad --shapes entry '{spec}' for input '{name}'"))?;
        if shapes.insert(name.to_string(), dims).is_some() {
            bail!("--shapes gives input '{name}' twice");
        }
    }
    Ok(shapes)
}

/// Parse `1x3x224x224` (an empty string or `scalar` is a rank-0 shape).
fn parse_dims(dims: &str) -> Result<Vec<usize>> {
    if dims.is_empty() || dims == "scalar" {
        return Ok(Vec::new());
    }
    dims.split(['x', 'X'])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .with_context(|| format!("'{d}' is not a dimension (a non-negative integer)"))
        })
        .collect()
}

/// Check `--shapes` names against the model's inputs so a typo is not silently ignored.
pub fn check_shape_names(
    shapes: &HashMap<String, Vec<usize>>,
    inputs: &[kiln_core::ValueInfo],
) -> Result<()> {
    let mut unknown: Vec<&str> = shapes
        .keys()
        .filter(|n| !inputs.iter().any(|i| &i.name == *n))
        .map(String::as_str)
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        bail!(
            "--shapes names unknown input(s) {}; the model's inputs are {}",
            quote_list(unknown.iter().copied()),
            quote_list(inputs.iter().map(|i| i.name.as_str()))
        );
    }
    Ok(())
}

/// `'a', 'b', 'c'` for messages.
pub fn quote_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.into_iter().map(|n| format!("'{n}'")).collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_syntax() {
        let s = parse_shapes(&["input:1x3x224x224,mask:2x16".into(), "a:b:4".into()]).unwrap();
        assert_eq!(s["input"], vec![1, 3, 224, 224]);
        assert_eq!(s["mask"], vec![2, 16]);
        assert_eq!(s["a:b"], vec![4]);
        let s = parse_shapes(&["x:".into()]).unwrap();
        assert_eq!(s["x"], Vec::<usize>::new());
        let err = |v: &str| format!("{:#}", parse_shapes(&[v.to_string()]).unwrap_err());
        assert!(err("input").contains("expected NAME:DIMS"));
        assert!(err("input:1x-3").contains("'-3' is not a dimension"));
        assert!(err(":1x3").contains("name is empty"));
        assert!(err("a:1,a:2").contains("twice"));
    }
}
