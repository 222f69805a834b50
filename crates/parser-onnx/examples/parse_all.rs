//! Parse every `model.onnx` under a directory of ONNX backend node tests and print the
//! diagnostics by code and by op, plus any test-data file that fails to decode.
//!
//! `cargo run --release -p kiln-onnx --example parse_all -- [DIR]`
//! (default DIR: `.cache/onnx-1.22.0/node` of the workspace).

use kiln_onnx::{DiagnosticCode, value_from_pb};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/onnx-1.22.0/node")
        });
    let mut tests: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    tests.sort();
    let mut by_code: BTreeMap<DiagnosticCode, usize> = BTreeMap::new();
    let mut by_op: BTreeMap<(DiagnosticCode, String), usize> = BTreeMap::new();
    let (mut models, mut clean, mut failed, mut data_files, mut data_failed) = (0, 0, 0, 0, 0);
    let verbose = std::env::var("VERBOSE").is_ok();
    for t in &tests {
        let path = t.join("model.onnx");
        if !path.exists() {
            continue;
        }
        models += 1;
        let model = match kiln_onnx::load_model(&path) {
            Ok(m) => m,
            Err(e) => {
                failed += 1;
                println!("LOAD ERROR {}: {e}", path.display());
                continue;
            }
        };
        if model.report.is_supported() {
            clean += 1;
        }
        for d in &model.report.diagnostics {
            *by_code.entry(d.code).or_default() += 1;
            *by_op.entry((d.code, d.op_type.clone())).or_default() += 1;
            if verbose {
                println!("{}: {d}", t.display());
            }
        }
        // Decode the test data with the declared types.
        for set in std::fs::read_dir(t).into_iter().flatten().flatten() {
            let set = set.path();
            if !set.is_dir() {
                continue;
            }
            for (prefix, infos) in [
                ("input", &model.graph.inputs),
                ("output", &model.graph.outputs),
            ] {
                for (i, vi) in infos.iter().enumerate() {
                    let f = set.join(format!("{prefix}_{i}.pb"));
                    let Ok(bytes) = std::fs::read(&f) else {
                        continue;
                    };
                    data_files += 1;
                    if let Err(e) = value_from_pb(&bytes, &vi.ty) {
                        data_failed += 1;
                        println!("DATA ERROR {}: {e}", f.display());
                    }
                }
            }
        }
    }
    println!("models: {models}, fully supported: {clean}, load errors: {failed}");
    println!("test data files: {data_files}, decode errors: {data_failed}");
    println!("diagnostics by code:");
    for (c, n) in &by_code {
        println!("  {c:<22} {n}");
    }
    println!("diagnostics by code and op:");
    for ((c, op), n) in &by_op {
        println!("  {c:<22} {op:<32} {n}");
    }
}
