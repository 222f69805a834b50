//! Cross-crate test support for Kiln: the ONNX backend node-test runner.
//!
//! A node test is a folder holding `model.onnx` and `test_data_set_0/{input,output}_N.pb`.
//! [`run_case`] parses the model with kiln-onnx, builds an engine for the CPU backend with
//! kiln-engine, runs it on the inputs and compares every output with the expected one using
//! the ONNX reference tolerances (rtol 1e-3, atol 1e-7 for floats; exact for everything else).
//! [`run_case_on`] does the same on another device (`cuda:N`) and also tells where each layer
//! of the engine ran (on the GPU, or by its CPU tactic as a fallback).

pub mod compare;
pub mod suite;

use kiln_core::{Value, ValueType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use kiln_engine::Device;

/// Where the ONNX node tests are unpacked: `$KILN_ONNX_NODE_TESTS`, or
/// `<workspace>/.cache/onnx-1.22.0/node` (filled by `scripts/fetch-onnx-tests`).
pub fn node_tests_dir() -> PathBuf {
    if let Ok(p) = std::env::var("KILN_ONNX_NODE_TESTS") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/onnx-1.22.0/node")
}

/// The `tests/` folder holding `conformance/`: `$KILN_TESTS_DIR` (for a test executable run
/// on another machine, from a copy of the repository), or this crate's folder.
pub fn tests_dir() -> PathBuf {
    match std::env::var_os("KILN_TESTS_DIR") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

/// The allow-list of node tests that must pass, one name per line, sorted.
pub fn allowlist_path() -> PathBuf {
    tests_dir().join("conformance/onnx_node_allowlist.txt")
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

/// The GPU ignore list: CPU-passing node tests known to fail on the GPU, one
/// `name  # reason` per line.
pub fn gpu_ignore_path() -> PathBuf {
    tests_dir().join("conformance/onnx_node_gpu_ignore.txt")
}

/// One entry of the GPU ignore list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoreEntry {
    /// Node test name.
    pub name: String,
    /// Why it fails on the GPU (the text after `#`).
    pub reason: String,
}

/// Parse an ignore list: `name  # reason` per line; blank lines and lines starting with `#`
/// are skipped. Every entry needs a reason; `Err` lists every bad line at once.
pub fn parse_ignore_list(text: &str) -> Result<Vec<IgnoreEntry>, String> {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, reason) = match line.split_once('#') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (line, ""),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            problems.push(format!("line {}: expected `name  # reason`", i + 1));
        } else if reason.is_empty() {
            problems.push(format!("line {}: '{name}' has no `# reason`", i + 1));
        } else {
            entries.push(IgnoreEntry {
                name: name.to_string(),
                reason: reason.to_string(),
            });
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems.join("; "))
    }
}

/// Read the GPU ignore list ([`gpu_ignore_path`]).
pub fn read_gpu_ignore_list() -> Result<Vec<IgnoreEntry>, String> {
    let path = gpu_ignore_path();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_ignore_list(&text).map_err(|e| format!("{}: {e}", path.display()))
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

/// Where the layers of a GPU engine ran in a node test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Layers of the built engine (after the optimizer).
    pub layers: usize,
    /// Layers that ran a GPU kernel.
    pub on_gpu: usize,
    /// Op types of the layers that ran their CPU tactic instead (one entry per layer).
    pub fallback_ops: Vec<String>,
}

impl Placement {
    /// True when the engine had layers and every one ran on the GPU.
    pub fn fully_on_gpu(&self) -> bool {
        self.layers > 0 && self.on_gpu == self.layers
    }
}

/// Result of one node test on a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseReport {
    /// Pass or why not.
    pub outcome: Outcome,
    /// Where the layers ran: set for GPU engines whose run returned, passed or not (a run
    /// that failed before planning its device memory reports no GPU layers); `None` on the
    /// CPU, when the build failed, or after a panic.
    pub placement: Option<Placement>,
}

/// Run one node test folder through parser + engine and compare with the expected outputs.
/// A panic anywhere inside is caught and reported as an error (it is a bug to fix).
pub fn run_case(case_dir: &Path) -> Outcome {
    run_case_on(case_dir, Device::Cpu).outcome
}

/// [`run_case`] with the engine built for `device`; GPU runs also report where each layer ran.
pub fn run_case_on(case_dir: &Path, device: Device) -> CaseReport {
    let mut placement = None;
    // Set once the engine's run returns, passed or not; a panic leaves it `None`.
    let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_case_inner(case_dir, device, &mut placement)
    })) {
        Ok(o) => o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::Error(format!("PANIC: {msg}"))
        }
    };
    CaseReport { outcome, placement }
}

fn run_case_inner(case_dir: &Path, device: Device, placement: &mut Option<Placement>) -> Outcome {
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
    let actual = match execute(graph, feed, device, placement) {
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
    device: Device,
    placement: &mut Option<Placement>,
) -> Result<Vec<(String, Value)>, String> {
    // Tuning would time every tactic of every tiny test graph; the preferred tactics are
    // what the conformance suite checks.
    let config = kiln_engine::BuilderConfig {
        tune: false,
        threads: Some(1),
        device,
        ..Default::default()
    };
    let engine = kiln_engine::Builder::new(config)
        .build(graph)
        .map_err(|e| format!("build: {e}"))?;
    let mut ctx = engine.create_context();
    let result = ctx.execute(feed).map_err(|e| format!("run: {e}"));
    if device != Device::Cpu {
        *placement = Some(placement_of(&engine, &ctx));
    }
    result
}

/// Where the layers of a GPU engine ran in its latest run. An engine whose run never got to
/// plan its device memory reports no GPU layers; one without layers reports zero of zero.
fn placement_of(engine: &kiln_engine::Engine, ctx: &kiln_engine::ExecutionContext) -> Placement {
    let runs = ctx.gpu_placement();
    if runs.is_empty() {
        return Placement {
            layers: engine.layers().len(),
            on_gpu: 0,
            fallback_ops: engine.layers().iter().map(|l| l.op_type.clone()).collect(),
        };
    }
    Placement {
        layers: runs.len(),
        on_gpu: runs.iter().filter(|p| p.on_gpu).count(),
        fallback_ops: runs
            .iter()
            .filter(|p| !p.on_gpu)
            .map(|p| p.op_type.clone())
            .collect(),
    }
}

/// Whether a value type is a plain tensor type (used by reports).
pub fn is_tensor_type(t: &ValueType) -> bool {
    matches!(t, ValueType::Tensor(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_list_lines() {
        let text = "# header\n\ntest_a  # mismatch: element 3\ntest_b #error: run: x # y\n";
        let v = parse_ignore_list(text).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "test_a");
        assert_eq!(v[0].reason, "mismatch: element 3");
        assert_eq!(v[1].reason, "error: run: x # y");
        let e = parse_ignore_list("test_c\ntest d # why\n").unwrap_err();
        assert!(e.contains("line 1: 'test_c' has no `# reason`"), "{e}");
        assert!(e.contains("line 2: expected"), "{e}");
    }
}
