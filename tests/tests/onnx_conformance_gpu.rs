//! The ONNX backend node tests (onnx 1.22.0) on the GPU: every test that passes on the CPU
//! (the allow-list) runs with its engine built for `cuda:N` (`$KILN_CUDA_DEVICE`, default 0)
//! and the CPU suite's FP32 tolerances. Every one must pass except those on
//! `tests/conformance/onnx_node_gpu_ignore.txt` (`name  # reason`), and at least 95% of them
//! must pass in all. Layers without a GPU kernel run their CPU tactic (per-layer fallback), so
//! the summary also tells how many tests ran with every layer on the GPU.
//!
//! Without a CUDA GPU the ignore list is still checked, then the run is skipped with a
//! printed reason (CI has no GPU); `KILN_REQUIRE_GPU=1` turns that skip into a failure (the
//! GPU machine's `tests/gpu/run.sh` sets it). `KILN_GPU_CONFORMANCE_REPORT=FILE` writes one
//! tab-separated line per test: name, outcome, GPU layers, layers, fallback ops, message.

use kiln_tests::{
    CaseReport, Device, IgnoreEntry, list_cases, node_tests_dir, read_allowlist,
    read_gpu_ignore_list, suite,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

/// Share of the CPU-passing tests that must pass on the GPU.
const MIN_PASS_RATE: f64 = 0.95;

/// Longest message kept in a suggested ignore-list line.
const REASON_CHARS: usize = 160;

#[test]
fn onnx_node_tests_gpu() {
    let allow = read_allowlist()
        .unwrap_or_else(|e| panic!("{}: {e}", kiln_tests::allowlist_path().display()));
    let ignore = read_gpu_ignore_list().unwrap_or_else(|e| panic!("GPU ignore list: {e}"));
    check_ignore_list(&ignore, &allow);

    let ordinal: usize = match std::env::var("KILN_CUDA_DEVICE") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("KILN_CUDA_DEVICE={v:?} is not a device number")),
        Err(_) => 0,
    };
    let info = match kiln_engine::cuda::probe(ordinal) {
        Ok(info) => info,
        Err(e) => {
            let required = std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1");
            assert!(!required, "KILN_REQUIRE_GPU=1 but no usable CUDA GPU: {e}");
            say(&format!("no CUDA GPU: GPU conformance skipped ({e})"));
            return;
        }
    };

    let dir = node_tests_dir();
    let present: HashSet<String> = list_cases(&dir).unwrap_or_default().into_iter().collect();
    let missing: Vec<&String> = allow.iter().filter(|n| !present.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} allow-listed node tests are missing under {} (run scripts/fetch-onnx-tests or set KILN_ONNX_NODE_TESTS), e.g. {:?}",
        missing.len(),
        dir.display(),
        &missing[..missing.len().min(5)]
    );

    let start = std::time::Instant::now();
    let results = suite::run_all_on(
        &dir,
        &allow,
        suite::default_threads(),
        Device::Cuda(ordinal),
    );
    let seconds = start.elapsed().as_secs_f64();
    if let Ok(path) = std::env::var("KILN_GPU_CONFORMANCE_REPORT") {
        write_report(&path, &results);
    }

    let total = results.len();
    let passing: Vec<&(String, CaseReport)> =
        results.iter().filter(|(_, r)| r.outcome.passed()).collect();
    let full = passing
        .iter()
        .filter(|(_, r)| r.placement.as_ref().is_some_and(|p| p.fully_on_gpu()))
        .count();
    let no_layers = passing
        .iter()
        .filter(|(_, r)| r.placement.as_ref().is_some_and(|p| p.layers == 0))
        .count();
    let fallback = passing
        .iter()
        .filter(|(_, r)| {
            r.placement
                .as_ref()
                .is_some_and(|p| p.layers > 0 && p.on_gpu < p.layers)
        })
        .count();
    // Passing runs that reported no placement (none expected on a GPU engine).
    let unplaced = passing.len() - full - no_layers - fallback;
    let rate = passing.len() as f64 / total.max(1) as f64;

    let outcomes: Vec<(String, kiln_tests::Outcome)> = results
        .iter()
        .map(|(n, r)| (n.clone(), r.outcome.clone()))
        .collect();
    println!("GPU failure groups:");
    for (k, n) in suite::failure_groups(&outcomes).into_iter().take(30) {
        println!("{n:>5}  {k}");
    }
    println!("CPU fallback layers by op type (in passing tests):");
    let mut by_op: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (_, r) in &passing {
        if let Some(p) = &r.placement {
            let mut seen = HashSet::new();
            for op in &p.fallback_ops {
                let e = by_op.entry(op.as_str()).or_default();
                e.0 += 1;
                if seen.insert(op.as_str()) {
                    e.1 += 1;
                }
            }
        }
    }
    let mut by_op: Vec<(&str, (usize, usize))> = by_op.into_iter().collect();
    by_op.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
    for (op, (layers, tests)) in by_op.iter().take(40) {
        println!("{tests:>5} tests ({layers} layers)  {op}");
    }
    if by_op.len() > 40 {
        println!("  ... and {} more op types", by_op.len() - 40);
    }

    let ignored: HashMap<&str, &str> = ignore
        .iter()
        .map(|e| (e.name.as_str(), e.reason.as_str()))
        .collect();
    let new_failures: Vec<String> = results
        .iter()
        .filter(|(n, r)| !r.outcome.passed() && !ignored.contains_key(n.as_str()))
        .map(|(n, r)| ignore_line(n, r))
        .collect();
    let stale: Vec<&String> = results
        .iter()
        .filter(|(n, r)| r.outcome.passed() && ignored.contains_key(n.as_str()))
        .map(|(n, _)| n)
        .collect();
    if !stale.is_empty() {
        println!(
            "{} tests on the GPU ignore list pass now (remove them): {stale:?}",
            stale.len()
        );
    }
    if !new_failures.is_empty() {
        println!(
            "{} CPU-passing tests fail on the GPU and are not on the ignore list; fix them or paste into tests/conformance/onnx_node_gpu_ignore.txt (keep it sorted):",
            new_failures.len()
        );
        for l in &new_failures {
            println!("{l}");
        }
    }

    let mut summary = format!(
        "ONNX node tests on GPU ({}): {} of {total} CPU-passing tests pass ({:.1}%), {full} ran fully on the GPU, {fallback} used CPU fallback for some layer",
        info.name,
        passing.len(),
        rate * 100.0
    );
    if no_layers > 0 {
        summary.push_str(&format!(
            ", {no_layers} had no layers left after optimization"
        ));
    }
    if unplaced > 0 {
        summary.push_str(&format!(", {unplaced} reported no layer placement"));
    }
    summary.push_str(&format!(
        "; {} ignored, {} failing not ignored ({seconds:.1}s)",
        ignore.len(),
        new_failures.len()
    ));
    say(&summary);

    assert!(
        new_failures.is_empty(),
        "{} CPU-passing tests failed on the GPU and are not on the GPU ignore list:\n{}",
        new_failures.len(),
        new_failures.join("\n")
    );
    assert!(
        rate >= MIN_PASS_RATE,
        "only {:.1}% of the CPU-passing tests pass on the GPU (target {:.0}%)",
        rate * 100.0,
        MIN_PASS_RATE * 100.0
    );
}

/// Print to the process's stderr, which the test harness does not capture, so the line
/// shows in every `cargo test` run, not only when the test fails.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The ignore list names only CPU-passing tests, once each, sorted.
fn check_ignore_list(ignore: &[IgnoreEntry], allow: &[String]) {
    let allowed: HashSet<&str> = allow.iter().map(String::as_str).collect();
    let unknown: Vec<&str> = ignore
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| !allowed.contains(n))
        .collect();
    assert!(
        unknown.is_empty(),
        "the GPU ignore list names tests that are not on the CPU allow-list: {unknown:?}"
    );
    let names: Vec<&str> = ignore.iter().map(|e| e.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted, names,
        "the GPU ignore list must be sorted and free of duplicates"
    );
}

/// `name  # kind: message`, one line, for the ignore list.
fn ignore_line(name: &str, r: &CaseReport) -> String {
    let msg: String = r
        .outcome
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut short: String = msg.chars().take(REASON_CHARS).collect();
    if short.len() < msg.len() {
        short.push_str("...");
    }
    format!("{name}  # {}: {short}", r.outcome.kind())
}

fn write_report(path: &str, results: &[(String, CaseReport)]) {
    let mut text = String::from("name\toutcome\tgpu_layers\tlayers\tfallback_ops\tmessage\n");
    for (name, r) in results {
        let (on_gpu, layers, ops) = match &r.placement {
            Some(p) => (
                p.on_gpu.to_string(),
                p.layers.to_string(),
                p.fallback_ops.join(","),
            ),
            None => ("-".into(), "-".into(), String::new()),
        };
        let msg = r.outcome.message().replace(['\t', '\n'], " ");
        text.push_str(&format!(
            "{name}\t{}\t{on_gpu}\t{layers}\t{ops}\t{msg}\n",
            r.outcome.kind()
        ));
    }
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write KILN_GPU_CONFORMANCE_REPORT {path}: {e}");
    }
}
