//! The ONNX backend node tests (onnx 1.22.0): every allow-listed test must pass.
//! Prints `N passed, M failed` for the whole suite.

use kiln_tests::{list_cases, node_tests_dir, read_allowlist, suite};
use std::collections::HashSet;

#[test]
fn onnx_node_tests() {
    let dir = node_tests_dir();
    let cases = list_cases(&dir).unwrap_or_default();
    assert!(
        cases.len() >= 1765,
        "expected the 1,765 ONNX node tests under {}, found {}: run scripts/fetch-onnx-tests",
        dir.display(),
        cases.len()
    );
    let allow = read_allowlist().expect("tests/conformance/onnx_node_allowlist.txt is readable");
    let known: HashSet<&String> = cases.iter().collect();
    let stale: Vec<&String> = allow.iter().filter(|n| !known.contains(n)).collect();
    assert!(
        stale.is_empty(),
        "allow-list names tests that do not exist: {stale:?}"
    );
    let mut sorted = allow.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted, allow,
        "the allow-list must be sorted and free of duplicates"
    );

    let results = suite::run_all(&dir, &cases, suite::default_threads());
    let passed = results.iter().filter(|(_, o)| o.passed()).count();
    let allowed: HashSet<&String> = allow.iter().collect();
    let regressions: Vec<String> = results
        .iter()
        .filter(|(n, o)| allowed.contains(n) && !o.passed())
        .map(|(n, o)| format!("{n}: {} {}", o.kind(), o.message()))
        .collect();
    let newly: Vec<&String> = results
        .iter()
        .filter(|(n, o)| o.passed() && !allowed.contains(n))
        .map(|(n, _)| n)
        .collect();
    println!("failure groups:");
    for (k, n) in suite::failure_groups(&results).into_iter().take(25) {
        println!("{n:>5}  {k}");
    }
    if !newly.is_empty() {
        println!(
            "{} tests pass that are not on the allow-list (add them): {newly:?}",
            newly.len()
        );
    }
    let summary = format!(
        "{passed} passed, {} failed (of {})",
        results.len() - passed,
        results.len()
    );
    println!("{summary}");
    // Also straight to the process's stderr, which the test harness does not capture, so the
    // count shows in every `cargo test` run, not only when the test fails.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "ONNX node tests: {summary}");
    assert!(
        regressions.is_empty(),
        "allow-listed tests failed:\n{}",
        regressions.join("\n")
    );
}
