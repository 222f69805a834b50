//! Cross-crate test support for Kiln: the ONNX backend node-test runner.
//!
//! A node test is a folder holding `model.onnx` and `test_data_set_0/{input,output}_N.pb`.
//! [`run_case`] parses the model with kiln-onnx, builds an engine for the CPU backend with
//! kiln-engine, runs it on the inputs and compares every output with the expected one using
//! the ONNX reference tolerances (rtol 1e-3, atol 1e-7 for floats; exact for everything else).

pub mod compare;
pub mod suite;

use kiln_core::{Value, ValueType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the ONNX node tests are unpacked: `$KILN_ONNX_NODE_TESTS`, or
/// `<workspace>/.cache/onnx-1.22.0/node` (filled by `scripts/fetch-onnx-tests`).
pub fn node_tests_dir() -> PathBuf {
    if let Ok(p) = std::env::var("KILN_ONNX_NODE_TESTS") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/onnx-1.22.0/node")
}

/// The allow-list of node tests that must pass, one name per line, sorted.
pub fn allowlist_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/onnx_node_allowlist.txt")
}

/// Read the allow-list (blank lines and `#` comments ignored).
pub fn read_allowlist() -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(allowlist_path())?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// All test folder names under `dir`, sorted.
pub fn list_cases(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("model.onnx").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Outcome of one node test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// All outputs matched.
    Pass,
    /// Kiln could not load the model (unsupported ops, types or attributes).
    Unsupported(String),
    /// Building or running failed.
    Error(String),
    /// Ran, but an output differed.
    Mismatch(String),
}

impl Outcome {
    /// True for [`Outcome::Pass`].
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Pass)
    }

    /// One-word kind, for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Unsupported(_) => "unsupported",
            Outcome::Error(_) => "error",
            Outcome::Mismatch(_) => "mismatch",
        }
    }

    /// The message, empty for a pass.
    pub fn message(&self) -> &str {
        match self {
            Outcome::Pass => "",
            Outcome::Unsupported(m) | Outcome::Error(m) | Outcome::Mismatch(m) => m,
        }
    }
}

fn read_pb_files(dir: &Path, prefix: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for i in 0.. {
        let p = dir.join(format!("{prefix}_{i}.pb"));
        if !p.is_file() {
            break;
        }
        out.push(std::fs::read(p)?);
    }
    Ok(out)
}

/// Run one node test folder through parser + engine and compare with the expected outputs.
/// A panic anywhere inside is caught and reported as an error (it is a bug to fix).
pub fn run_case(case_dir: &Path) -> Outcome {
    let dir = case_dir.to_path_buf();
    match std::panic::catch_unwind(move || run_case_inner(&dir)) {
        Ok(o) => o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::Error(format!("PANIC: {msg}"))
        }
    }
}

fn run_case_inner(case_dir: &Path) -> Outcome {
    let model = match kiln_onnx::load_model(&case_dir.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => return Outcome::Unsupported(e.to_string()),
    };
    if !model.report.is_supported() {
        let msgs: Vec<String> = model
            .report
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect();
        return Outcome::Unsupported(msgs.join("; "));
    }
    let data = case_dir.join("test_data_set_0");
    let (ins, outs) = match (
        read_pb_files(&data, "input"),
        read_pb_files(&data, "output"),
    ) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => return Outcome::Error(format!("reading test data: {e}")),
    };
    let graph = model.graph;
    let input_infos = graph.inputs.clone();
    let output_infos = graph.outputs.clone();
    if ins.len() > input_infos.len() {
        return Outcome::Error(format!(
            "{} input files for {} graph inputs",
            ins.len(),
            input_infos.len()
        ));
    }
    let mut feed: HashMap<String, Value> = HashMap::new();
    for (bytes, info) in ins.iter().zip(&input_infos) {
        match kiln_onnx::value_from_pb(bytes, &info.ty) {
            Ok(v) => {
                feed.insert(info.name.clone(), v);
            }
            Err(e) => return Outcome::Unsupported(format!("input '{}': {e}", info.name)),
        }
    }
    let mut expected = Vec::new();
    for (bytes, info) in outs.iter().zip(&output_infos) {
        match kiln_onnx::value_from_pb(bytes, &info.ty) {
            Ok(v) => expected.push((info.name.clone(), v)),
            Err(e) => return Outcome::Unsupported(format!("output '{}': {e}", info.name)),
        }
    }
    let actual = match execute(graph, feed) {
        Ok(v) => v,
        Err(e) => return Outcome::Error(e),
    };
    for (name, want) in &expected {
        let Some((_, got)) = actual.iter().find(|(n, _)| n == name) else {
            return Outcome::Error(format!("output '{name}' was not produced"));
        };
        if let Err(m) = compare::values(want, got) {
            return Outcome::Mismatch(format!("output '{name}': {m}"));
        }
    }
    Outcome::Pass
}

fn execute(
    graph: kiln_core::Graph,
    feed: HashMap<String, Value>,
) -> Result<Vec<(String, Value)>, String> {
    // Tuning would time every tactic of every tiny test graph; the preferred tactics are
    // what the conformance suite checks.
    let config = kiln_engine::BuilderConfig {
        tune: false,
        threads: Some(1),
        ..Default::default()
    };
    let engine = kiln_engine::Builder::new(config)
        .build(graph)
        .map_err(|e| format!("build: {e}"))?;
    let mut ctx = engine.create_context();
    ctx.execute(feed).map_err(|e| format!("run: {e}"))
}

/// Whether a value type is a plain tensor type (used by reports).
pub fn is_tensor_type(t: &ValueType) -> bool {
    matches!(t, ValueType::Tensor(_))
}
