//! Every generated Caffe case (scripts/caffe/gen_tests.py) imported by kiln-caffe and run
//! through kiln-core's reference evaluator, against outputs computed by an independent numpy
//! implementation of Caffe's layers. Tolerance: 1e-4 relative to the largest reference
//! magnitude of each output. (The same cases through the engine: crates/cli/tests/cli.rs,
//! since kiln-caffe may depend on kiln-core only.)

use kiln_core::Tensor;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TOLERANCE: f64 = 1e-4;

fn data_dir() -> PathBuf {
    match std::env::var_os("KILN_CAFFE_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/caffe"),
    }
}

fn manifest() -> (PathBuf, Vec<String>) {
    let dir = data_dir();
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "Caffe test data missing ({}: {e}). Generate it with \
             `python3 scripts/caffe/gen_tests.py` (needs numpy, protobuf, grpcio-tools) or set \
             KILN_CAFFE_DATA to its output folder",
            path.display()
        )
    });
    let m: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    assert_eq!(
        m["version"], 1,
        "stale Caffe test data: rerun `python3 scripts/caffe/gen_tests.py`"
    );
    let names = m["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    (dir, names)
}

fn read_tensor(dir: &Path, entry: &Value) -> (String, Tensor) {
    let name = entry["name"].as_str().unwrap().to_string();
    let shape: Vec<usize> = entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let raw = std::fs::read(dir.join(entry["file"].as_str().unwrap())).unwrap();
    let t = Tensor::from_le_bytes(kiln_core::DataType::F32, &shape, &raw).unwrap();
    (name, t)
}

/// Max |got - want| over max |want|.
fn rel_error(got: &Tensor, want: &Tensor) -> Result<f64, String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    let scale = w.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
    let diff = g
        .iter()
        .zip(&w)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if diff.is_nan() || g.iter().any(|x| x.is_nan()) {
        return Err("NaN in the output".into());
    }
    Ok(diff / scale)
}

/// Run one case; returns the max error.
fn run_case(dir: &Path, name: &str) -> Result<f64, String> {
    let cdir = dir.join(name);
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(cdir.join("case.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let requested: Vec<String> = case["requested_outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let model = kiln_caffe::load(
        &cdir.join(case["prototxt"].as_str().unwrap()),
        Some(&cdir.join(case["caffemodel"].as_str().unwrap())),
        &requested,
    )
    .map_err(|e| e.to_string())?;
    if !model.report.is_supported() {
        return Err(format!("import problems:\n{}", model.report));
    }
    let inputs: HashMap<String, Tensor> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| read_tensor(&cdir, e))
        .collect();
    let wants: Vec<(String, Tensor)> = case["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| read_tensor(&cdir, e))
        .collect();
    let names: Vec<&str> = model
        .graph
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    let want_names: Vec<&str> = wants.iter().map(|(n, _)| n.as_str()).collect();
    if names != want_names {
        return Err(format!(
            "graph outputs {names:?}, reference outputs {want_names:?}"
        ));
    }
    let compare = |got: Vec<Tensor>, how: &str| -> Result<f64, String> {
        let mut worst = 0.0f64;
        for (g, (n, w)) in got.iter().zip(&wants) {
            let e = rel_error(g, w).map_err(|m| format!("{how}: output '{n}': {m}"))?;
            if e > TOLERANCE {
                return Err(format!("{how}: output '{n}' differs by {e:.3e} (relative)"));
            }
            worst = worst.max(e);
        }
        Ok(worst)
    };
    let got = kiln_core::run_tensors(&model.graph, inputs.clone())
        .map_err(|e| format!("reference evaluator: {e}"))?;
    compare(got, "reference evaluator")
}

fn run_group(filter: impl Fn(&str) -> bool, min_cases: usize) {
    let (dir, names) = manifest();
    let mut failures = Vec::new();
    let mut ran = 0;
    for name in names.iter().filter(|n| filter(n)) {
        ran += 1;
        match run_case(&dir, name) {
            Ok(e) => eprintln!("{name}: max relative error {e:.2e}"),
            Err(m) => {
                eprintln!("{name}: FAILED: {m}");
                failures.push(format!("{name}: {m}"));
            }
        }
    }
    assert!(
        ran >= min_cases,
        "only {ran} cases found (expected at least {min_cases}): rerun \
         `python3 scripts/caffe/gen_tests.py`"
    );
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_layer_type_matches_the_reference() {
    run_group(|n| n.starts_with("layer_"), 30);
}

#[test]
fn lenet_and_mobilenet_match_the_reference() {
    run_group(|n| matches!(n, "lenet" | "lenet_v1" | "mobilenet_style"), 3);
}

#[test]
fn bvlc_networks_match_the_reference() {
    run_group(
        |n| {
            matches!(
                n,
                "alexnet" | "caffenet" | "rcnn_ilsvrc13" | "flickr_style" | "googlenet"
            )
        },
        5,
    );
}
