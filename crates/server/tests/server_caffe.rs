//! A Caffe model (`platform: "caffe"`, `model.prototxt` + `model.caffemodel`) is built into an
//! engine at load time and served over HTTP; its output matches the independent numpy
//! reference written by `scripts/caffe/gen_tests.py` (which `scripts/test` runs first).

mod common;

use common::*;
use kiln_server::ControlMode;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The generated Caffe test data (`KILN_CAFFE_DATA` or `.cache/caffe`); a clear failure when
/// it was not generated.
fn caffe_case(name: &str) -> PathBuf {
    let base = std::env::var_os("KILN_CAFFE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/caffe"));
    let dir = base.join(name);
    assert!(
        dir.join("net.caffemodel").exists(),
        "{} is missing: run `python3 scripts/caffe/gen_tests.py` (scripts/test does)",
        dir.display()
    );
    dir
}

fn f32_file(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caffe_lenet_is_served_and_matches_the_reference() {
    let case = caffe_case("lenet");
    let repo = tempfile::tempdir().unwrap();
    let model = repo.path().join("lenet");
    std::fs::create_dir_all(model.join("1")).unwrap();
    std::fs::copy(case.join("deploy.prototxt"), model.join("1/model.prototxt")).unwrap();
    std::fs::copy(
        case.join("net.caffemodel"),
        model.join("1/model.caffemodel"),
    )
    .unwrap();
    // The BVLC LeNet deploy net has a fixed batch of 2 (input_dim: 2), so no batching.
    std::fs::write(
        model.join("config.pbtxt"),
        r#"name: "lenet"
platform: "caffe"
max_batch_size: 0
input [ { name: "data" data_type: TYPE_FP32 dims: [ 2, 1, 28, 28 ] } ]
output [ { name: "prob" data_type: TYPE_FP32 dims: [ 2, 10 ] } ]
"#,
    )
    .unwrap();

    let server = start(repo.path(), ControlMode::None, &[]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();
    let ready = c
        .get(format!("{base}/v2/models/lenet/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "lenet is not ready");

    let input = f32_file(&case.join("input_0.bin"));
    let expected = f32_file(&case.join("output_0.bin"));
    let body = json!({
        "inputs": [{"name": "data", "datatype": "FP32", "shape": [2, 1, 28, 28], "data": input}],
        "outputs": [{"name": "prob"}]
    });
    let resp = c
        .post(format!("{base}/v2/models/lenet/infer"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    let out = &r["outputs"][0];
    assert_eq!(out["name"], "prob");
    assert_eq!(out["shape"], json!([2, 10]));
    let got: Vec<f32> = out["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got.len(), expected.len());
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 1e-4 * scale,
        "max error {err} against the reference (scale {scale})"
    );
    server.shutdown().await;
}
