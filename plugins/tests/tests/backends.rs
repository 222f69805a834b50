//! Custom server backends from plugin libraries, served over HTTP and gRPC: the
//! image_preprocess example in front of the example CNN, the library search order,
//! instance groups + dynamic batching + metrics, and a backend that panics or returns
//! outputs that do not match the configuration.

mod common;

use common::*;
use kiln_server::loader::LoadOptions;
use kiln_server::proto::inference as pb;
use kiln_server::{ControlMode, Server, ServerOptions};
use pb::grpc_inference_service_client::GrpcInferenceServiceClient;
use pb::model_infer_request::InferInputTensor;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

const PANICKY_CONFIG: &str = r#"
name: "panicky"
backend: "panicky"
max_batch_size: 0
input [
  { name: "INPUT" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "MODE" data_type: TYPE_UINT8 dims: [ -1 ] optional: true }
]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
"#;

const MISSING_CONFIG: &str = r#"
name: "missing"
backend: "nosuch"
max_batch_size: 0
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
"#;

/// A repository with image_preprocess (library in --backend-directory), the example CNN,
/// panicky (library in its version directory) and a model whose backend does not exist.
async fn start() -> (Server, tempfile::TempDir, tempfile::TempDir) {
    let repo = tempfile::tempdir().unwrap();
    let backends = tempfile::tempdir().unwrap();
    let r = root();
    copy_dir(
        &r.join("examples/model_repository_plugins/image_preprocess"),
        &repo.path().join("image_preprocess"),
    );
    copy_dir(
        &r.join("examples/model_repository/cnn_classifier"),
        &repo.path().join("cnn_classifier"),
    );
    for (name, cfg) in [("panicky", PANICKY_CONFIG), ("missing", MISSING_CONFIG)] {
        std::fs::create_dir_all(repo.path().join(name).join("1")).unwrap();
        std::fs::write(repo.path().join(name).join("config.pbtxt"), cfg).unwrap();
    }
    std::fs::copy(
        plugin_path("kiln_image_preprocess"),
        backends.path().join("libkiln_image_preprocess.so"),
    )
    .unwrap();
    std::fs::copy(
        plugin_path("kiln_test_panicky"),
        repo.path().join("panicky/1/libkiln_panicky.so"),
    )
    .unwrap();

    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut opts = ServerOptions::new(repo.path(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    opts.http_addr = Some(any);
    opts.grpc_addr = Some(any);
    opts.metrics_addr = Some(any);
    opts.mode = ControlMode::None;
    opts.threads = Some(1);
    let load = LoadOptions {
        backend_directory: Some(backends.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let server = Server::start_with_plugins(opts, load)
        .await
        .expect("server starts");
    (server, repo, backends)
}

/// A 32x32 binary PPM with pixel (x, y, c) = (7x + 3y + 50c) mod 256, and what
/// image_preprocess must make of it: an identity resize, then (v / 255 - 0.5) / 0.5, CHW.
fn test_image() -> (Vec<u8>, Vec<u8>, Vec<f32>) {
    let px = |x: usize, y: usize, c: usize| ((7 * x + 3 * y + 50 * c) % 256) as u8;
    let mut rgb = Vec::new();
    for y in 0..32 {
        for x in 0..32 {
            for c in 0..3 {
                rgb.push(px(x, y, c));
            }
        }
    }
    let mut ppm = b"P6\n# test image\n32 32\n255\n".to_vec();
    ppm.extend_from_slice(&rgb);
    let mut expected = vec![0.0; 3 * 32 * 32];
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                expected[(c * 32 + y) * 32 + x] = (px(x, y, c) as f32 / 255.0 - 0.5) / 0.5;
            }
        }
    }
    (ppm, rgb, expected)
}

async fn http_infer(c: &reqwest::Client, base: &str, model: &str, body: Value) -> (u16, Value) {
    let r = c
        .post(format!("{base}/v2/models/{model}/infer"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn image_preprocess_backend_serves_http_and_grpc_in_front_of_the_cnn() {
    let (server, _repo, _backends) = start().await;
    let base = format!("http://{}", server.http_addr().unwrap());
    let c = reqwest::Client::new();
    let (ppm, rgb, expected) = test_image();

    for m in ["image_preprocess", "cnn_classifier", "panicky"] {
        let r = c
            .get(format!("{base}/v2/models/{m}/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "model {m} is ready");
    }
    // The model whose backend library does not exist is unavailable, saying where it looked.
    let idx: Value = c
        .post(format!("{base}/v2/repository/index"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let missing = idx
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "missing")
        .expect("listed")
        .clone();
    let reason = missing["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("libkiln_nosuch.so") && reason.contains("not found"),
        "{missing}"
    );

    // HTTP, PPM bytes as JSON numbers.
    let body = json!({"inputs": [{"name": "IMAGE", "datatype": "UINT8", "shape": [1, ppm.len()], "data": ppm}]});
    let (status, r) = http_infer(&c, &base, "image_preprocess", body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["outputs"][0]["shape"], json!([1, 3, 32, 32]));
    let got = floats(&r["outputs"][0]["data"]);
    assert!(max_diff(&got, &expected) < 1e-6);

    // ... in front of the example CNN.
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": got}]});
    let (status, r) = http_infer(&c, &base, "cnn_classifier", body).await;
    assert_eq!(status, 200, "{r}");
    let probs = floats(&r["outputs"][0]["data"]);
    assert_eq!(probs.len(), 10);
    assert!(probs.iter().all(|p| p.is_finite()));

    // gRPC, raw RGB with WIDTH and HEIGHT.
    let url = format!("http://{}", server.grpc_addr().unwrap());
    let mut g = GrpcInferenceServiceClient::connect(url).await.unwrap();
    let input = |name: &str, dt: &str, shape: Vec<i64>| InferInputTensor {
        name: name.into(),
        datatype: dt.into(),
        shape,
        ..Default::default()
    };
    let req = pb::ModelInferRequest {
        model_name: "image_preprocess".into(),
        inputs: vec![
            input("IMAGE", "UINT8", vec![1, rgb.len() as i64]),
            input("WIDTH", "INT32", vec![1, 1]),
            input("HEIGHT", "INT32", vec![1, 1]),
        ],
        raw_input_contents: vec![
            rgb.clone(),
            32i32.to_le_bytes().to_vec(),
            32i32.to_le_bytes().to_vec(),
        ],
        ..Default::default()
    };
    let r = g
        .model_infer(req)
        .await
        .expect("gRPC inference")
        .into_inner();
    assert_eq!(r.outputs[0].shape, vec![1, 3, 32, 32]);
    let raw = &r.raw_output_contents[0];
    let got: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert!(max_diff(&got, &expected) < 1e-6);

    // A bad image is an error for that request only.
    let req = pb::ModelInferRequest {
        model_name: "image_preprocess".into(),
        inputs: vec![input("IMAGE", "UINT8", vec![1, 3])],
        raw_input_contents: vec![b"GIF".to_vec()],
        ..Default::default()
    };
    let err = g.model_infer(req).await.unwrap_err();
    assert!(err.message().contains("P6"), "{err:?}");

    // Concurrent requests over two instances and the dynamic batcher; the statistics and
    // metrics count them like any model's.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (c, base, ppm) = (c.clone(), base.clone(), ppm.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"inputs": [{"name": "IMAGE", "datatype": "UINT8", "shape": [1, ppm.len()], "data": ppm}]});
            http_infer(&c, &base, "image_preprocess", body).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let metrics = c
        .get(format!("http://{}/metrics", server.metrics_addr().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // 1 HTTP + 1 gRPC + 12 concurrent successes, 1 failure.
    assert!(
        metrics
            .contains("nv_inference_request_success{model=\"image_preprocess\",version=\"1\"} 14"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("nv_inference_request_failure{model=\"image_preprocess\",version=\"1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nv_inference_exec_count{model=\"image_preprocess\",version=\"1\"}"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_backend_fails_its_request_and_the_server_lives() {
    let (server, _repo, _backends) = start().await;
    let base = format!("http://{}", server.http_addr().unwrap());
    let c = reqwest::Client::new();
    let req = |mode: &str| {
        json!({"inputs": [
            {"name": "INPUT", "datatype": "FP32", "shape": [4], "data": [1.0, 2.0, 3.0, 4.0]},
            {"name": "MODE", "datatype": "UINT8", "shape": [mode.len()], "data": mode.as_bytes()}
        ]})
    };
    let (status, r) = http_infer(&c, &base, "panicky", req("panic")).await;
    assert_eq!(status, 500, "{r}");
    assert!(r["error"].as_str().unwrap().contains("panicked"), "{r}");
    let (status, r) = http_infer(&c, &base, "panicky", req("short")).await;
    assert_eq!(status, 500, "{r}");
    let e = r["error"].as_str().unwrap();
    assert!(
        e.contains("does not have its declared size") && e.contains("libkiln_panicky.so"),
        "{r}"
    );
    // The same instance keeps serving.
    let (status, r) = http_infer(&c, &base, "panicky", req("echo")).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(floats(&r["outputs"][0]["data"]), vec![1.0, 2.0, 3.0, 4.0]);
    server.shutdown().await;
}
