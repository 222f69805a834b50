//! The HTTP/REST frontend end to end: health, metadata, config (auto-completed), JSON and
//! binary inference on `simple`, classification, errors as Triton words them,
//! statistics and Prometheus metrics.

mod common;

use common::*;
use kiln_server::ControlMode;
use serde_json::{Value, json};

fn inputs_json() -> (Vec<i32>, Vec<i32>, Value) {
    let a: Vec<i32> = (0..16).collect();
    let b: Vec<i32> = (0..16).map(|x| 2 * x + 1).collect();
    let body = json!({
        "id": "req-1",
        "inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a},
            {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": b},
        ]
    });
    (a, b, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_on_the_example_repository() {
    let server = start(&example_repository(), ControlMode::None, &[]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();

    // Health and server metadata.
    assert_eq!(
        c.get(format!("{base}/v2/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{base}/v2/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let meta: Value = c
        .get(format!("{base}/v2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["name"], "kiln");
    assert!(
        meta["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("binary_tensor_data"))
    );

    // Model metadata and readiness.
    let m: Value = c
        .get(format!("{base}/v2/models/simple"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["versions"], json!(["1"]));
    assert_eq!(
        m["inputs"][0],
        json!({"name": "INPUT0", "datatype": "INT32", "shape": [-1, 16]})
    );
    assert_eq!(m["platform"], "onnxruntime_onnx");
    let r = c
        .get(format!("{base}/v2/models/simple/versions/1/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A model with only model.onnx gets a completed configuration.
    let cfg: Value = c
        .get(format!("{base}/v2/models/mlp_autocomplete/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["input"][0]["name"], "x", "{cfg}");
    assert_eq!(cfg["output"][0]["name"], "y", "{cfg}");
    assert!(cfg["max_batch_size"].as_i64().unwrap() > 0, "{cfg}");

    // JSON inference.
    let (a, b, body) = inputs_json();
    let r: Value = c
        .post(format!("{base}/v2/models/simple/infer"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["id"], "req-1");
    assert_eq!(r["model_version"], "1");
    let sum: Vec<i64> = a.iter().zip(&b).map(|(x, y)| (x + y) as i64).collect();
    let diff: Vec<i64> = a.iter().zip(&b).map(|(x, y)| (x - y) as i64).collect();
    let out = |name: &str| {
        r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(out("OUTPUT0")["data"], json!(sum));
    assert_eq!(out("OUTPUT1")["data"], json!(diff));
    assert_eq!(out("OUTPUT0")["shape"], json!([1, 16]));

    // Binary tensor data in and out.
    let head = json!({
        "inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "parameters": {"binary_data_size": 64}},
            {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "parameters": {"binary_data_size": 64}},
        ],
        "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": true}}, {"name": "OUTPUT1"}]
    });
    let head = serde_json::to_vec(&head).unwrap();
    let mut payload = head.clone();
    payload.extend(i32_bytes(&a));
    payload.extend(i32_bytes(&b));
    let r = c
        .post(format!("{base}/v2/models/simple/infer"))
        .header("Inference-Header-Content-Length", head.len())
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let hlen: usize = r.headers()["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let rh: Value = serde_json::from_slice(&bytes[..hlen]).unwrap();
    assert_eq!(rh["outputs"][0]["parameters"]["binary_data_size"], 64);
    assert_eq!(rh["outputs"][1]["data"], json!(diff));
    let got: Vec<i64> = i32_values(&bytes[hlen..])
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(got, sum);

    // Truncated binary body.
    let r = c
        .post(format!("{base}/v2/models/simple/infer"))
        .header("Inference-Header-Content-Length", head.len())
        .body(payload[..payload.len() - 3].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unexpected end of binary data"),
        "{e}"
    );

    // Unknown model, wrong shape, wrong datatype.
    let r = c
        .post(format!("{base}/v2/models/nope/infer"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("Request for unknown model"),
        "{e}"
    );
    let mut bad = body.clone();
    bad["inputs"][0]["shape"] = json!([2, 8]);
    let e: Value = c
        .post(format!("{base}/v2/models/simple/infer"))
        .json(&bad)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unexpected shape for input 'INPUT0'"),
        "{e}"
    );
    let mut bad = body.clone();
    bad["inputs"][1]["datatype"] = json!("FP32");
    let e: Value = c
        .post(format!("{base}/v2/models/simple/infer"))
        .json(&bad)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("data-type is 'FP32'"),
        "{e}"
    );

    // Classification with labels.
    let img: Vec<f32> = (0..3 * 32 * 32).map(|i| ((i % 17) as f32) / 17.0).collect();
    let req = json!({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": img}],
        "outputs": [{"name": "probs", "parameters": {"classification": 3}}]
    });
    let r: Value = c
        .post(format!("{base}/v2/models/cnn_classifier/infer"))
        .json(&req)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes = r["outputs"][0]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(r["outputs"][0]["datatype"], "BYTES");
    assert_eq!(classes.len(), 3);
    let first = classes[0].as_str().unwrap();
    assert_eq!(
        first.split(':').count(),
        3,
        "value:index:label, got {first}"
    );

    // Statistics and metrics.
    let s: Value = c
        .get(format!("{base}/v2/models/simple/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let st = &s["model_stats"][0];
    assert_eq!(st["name"], "simple");
    assert_eq!(st["inference_stats"]["success"]["count"], 2, "{s}");
    // Wrong shape and wrong datatype reached the model; the truncated body did not.
    assert_eq!(st["inference_stats"]["fail"]["count"], 2, "{s}");
    let metrics = c
        .get(format!("http://{}/metrics", server.metrics_addr().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nv_inference_count{model=\"simple\",version=\"1\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("nv_inference_request_success{model=\"simple\",version=\"1\"} 2"));
    assert!(metrics.contains("nv_inference_queue_duration_us{model=\"simple\""));

    server.shutdown().await;
}
