//! Run the ONNX backend node tests through Kiln and print what passed.
//!
//! ```text
//! cargo run -p kiln-tests --bin conformance -- [FILTER...] [--failures] [--write-allowlist]
//!     [--device cuda:N]
//! ```
//! FILTERs are substrings of test names. `--failures` lists every failing case with its reason;
//! `--write-allowlist` rewrites tests/conformance/onnx_node_allowlist.txt with the passing cases
//! (only allowed without filters, on the CPU). `--device` builds every engine for that device
//! (default cpu); on a GPU, `-v` also shows how many layers of each case ran on the GPU.

use kiln_tests::{Device, allowlist_path, list_cases, node_tests_dir, suite};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut device = Device::Cpu;
    if let Some(i) = args.iter().position(|a| a == "--device") {
        let Some(value) = args.get(i + 1).cloned() else {
            eprintln!("error: --device needs a value: cpu, cuda or cuda:N");
            return ExitCode::FAILURE;
        };
        device = match value.parse() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        args.drain(i..i + 2);
    }
    let show_failures = args.iter().any(|a| a == "--failures");
    let write = args.iter().any(|a| a == "--write-allowlist");
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let dir = node_tests_dir();
    let all = match list_cases(&dir) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) | Err(_) => {
            eprintln!(
                "error: no ONNX node tests under {} (run scripts/fetch-onnx-tests)",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let cases: Vec<String> = all
        .into_iter()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    let start = std::time::Instant::now();
    let reports = suite::run_all_on(&dir, &cases, suite::default_threads(), device);
    for (name, r) in &reports {
        let o = &r.outcome;
        if verbose || (show_failures && !o.passed()) {
            let place = r.placement.as_ref().map_or(String::new(), |p| {
                format!(" [{} of {} layers on the GPU]", p.on_gpu, p.layers)
            });
            println!("{:<11} {name}{place}  {}", o.kind(), o.message());
        }
    }
    let results: Vec<(String, kiln_tests::Outcome)> =
        reports.into_iter().map(|(n, r)| (n, r.outcome)).collect();
    let passed: Vec<&String> = results
        .iter()
        .filter(|(_, o)| o.passed())
        .map(|(n, _)| n)
        .collect();
    println!("\nfailure groups:");
    for (k, n) in suite::failure_groups(&results).into_iter().take(40) {
        println!("{n:>5}  {k}");
    }
    println!(
        "\n{} passed, {} failed ({} cases, {:.1}s)",
        passed.len(),
        results.len() - passed.len(),
        results.len(),
        start.elapsed().as_secs_f64()
    );
    if write {
        if device != Device::Cpu {
            eprintln!("error: --write-allowlist writes the CPU allow-list: drop --device");
            return ExitCode::FAILURE;
        }
        if !filters.is_empty() {
            eprintln!("error: --write-allowlist needs the whole suite (no filters)");
            return ExitCode::FAILURE;
        }
        let mut text = String::new();
        for n in &passed {
            text.push_str(n);
            text.push('\n');
        }
        if let Err(e) = std::fs::write(allowlist_path(), text) {
            eprintln!("error: writing {}: {e}", allowlist_path().display());
            return ExitCode::FAILURE;
        }
        println!(
            "wrote {} names to {}",
            passed.len(),
            allowlist_path().display()
        );
    }
    ExitCode::SUCCESS
}
