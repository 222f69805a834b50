//! Model control end to end: a bad config.pbtxt makes only that model UNAVAILABLE (with a
//! reason naming the field) while the others serve; explicit load/unload; a reload while a
//! client sends requests loses none; poll mode picks up a new model; the dynamic batcher
//! executes concurrent requests in fewer, larger batches with correct results.

mod common;

use common::*;
use kiln_server::ControlMode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn simple_body(k: i32) -> Value {
    let a: Vec<i32> = (0..16).map(|x| x + k).collect();
    let b: Vec<i32> = vec![k; 16];
    json!({"inputs": [
        {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": a},
        {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": b},
    ]})
}

async fn infer_simple(c: &reqwest::Client, base: &str, k: i32) -> Result<(), String> {
    let r = c
        .post(format!("{base}/v2/models/simple/infer"))
        .json(&simple_body(k))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {v}"));
    }
    let want: Vec<i64> = (0..16).map(|x| (x + 2 * k) as i64).collect();
    if v["outputs"][0]["data"] != json!(want) {
        return Err(format!("wrong sum: {v}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_explicit_control_and_reload() {
    let repo = temp_repository(&["simple", "mlp_autocomplete"]);
    // A model whose config has an unknown field.
    copy_dir(
        &example_repository().join("simple"),
        &repo.path().join("broken"),
    );
    std::fs::write(
        repo.path().join("broken/config.pbtxt"),
        "name: \"broken\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 8\nno_such_field: 3\n",
    )
    .unwrap();
    let server = start(repo.path(), ControlMode::Explicit, &["simple", "broken"]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();

    let index: Value = c
        .post(format!("{base}/v2/repository/index"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = |name: &str| {
        index
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry("simple")["state"], "READY", "{index}");
    assert_eq!(entry("broken")["state"], "UNAVAILABLE", "{index}");
    assert!(
        entry("broken")["reason"]
            .as_str()
            .unwrap()
            .contains("no_such_field"),
        "{index}"
    );
    assert!(
        entry("mlp_autocomplete").get("state").is_none(),
        "not loaded yet: {index}"
    );
    infer_simple(&c, &base, 1).await.unwrap();

    // Explicit load and unload.
    let r = c
        .post(format!("{base}/v2/repository/models/mlp_autocomplete/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(format!("{base}/v2/models/mlp_autocomplete/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(format!(
            "{base}/v2/repository/models/mlp_autocomplete/unload"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(format!("{base}/v2/models/mlp_autocomplete/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let r = c
        .post(format!("{base}/v2/repository/models/missing/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Reload `simple` repeatedly while a client keeps sending requests: none fails.
    let sender = {
        let c = c.clone();
        let base = base.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut n = 0;
            while Instant::now() < deadline {
                infer_simple(&c, &base, n % 7).await?;
                n += 1;
            }
            Ok::<i32, String>(n)
        })
    };
    for _ in 0..3 {
        let r = c
            .post(format!("{base}/v2/repository/models/simple/load"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let sent = sender.await.unwrap().unwrap();
    assert!(sent > 0);

    // A reload that fails keeps the old version serving.
    std::fs::write(
        repo.path().join("simple/config.pbtxt"),
        "max_batch_size: \"eight\"\n",
    )
    .unwrap();
    let r = c
        .post(format!("{base}/v2/repository/models/simple/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    infer_simple(&c, &base, 2).await.unwrap();

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_unload_refused_outside_explicit_mode_and_poll_finds_new_models() {
    let repo = temp_repository(&["simple"]);
    let server = start(repo.path(), ControlMode::Poll, &[]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/v2/repository/models/simple/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    copy_dir(
        &example_repository().join("mlp_autocomplete"),
        &repo.path().join("mlp_autocomplete"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = c
            .get(format!("{base}/v2/models/mlp_autocomplete/ready"))
            .send()
            .await
            .unwrap()
            .status();
        if s == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "poll mode did not load the new model"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_batching_combines_concurrent_requests() {
    let repo = temp_repository(&["cnn_dynamic", "cnn_classifier"]);
    let server = start(repo.path(), ControlMode::None, &[]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();
    let image = |k: usize| -> Vec<f32> {
        (0..3 * 32 * 32)
            .map(|i| (((i * 7 + k * 13) % 31) as f32) / 31.0 - 0.5)
            .collect()
    };
    let body = |k: usize| json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": image(k)}]});
    let n = 32;
    // Reference results, one request at a time on the model without batching.
    let mut want = Vec::new();
    for k in 0..n {
        let v: Value = c
            .post(format!("{base}/v2/models/cnn_classifier/infer"))
            .json(&body(k))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        want.push(
            v["outputs"][0]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect::<Vec<f64>>(),
        );
    }
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            let c = c.clone();
            let url = format!("{base}/v2/models/cnn_dynamic/infer");
            let b = body(k);
            tokio::spawn(async move {
                let v: Value = c
                    .post(url)
                    .json(&b)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["outputs"][0]["data"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{v}"))
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect::<Vec<f64>>()
            })
        })
        .collect();
    for (k, t) in tasks.into_iter().enumerate() {
        let got = t.await.unwrap();
        assert_eq!(got.len(), 10);
        for (g, w) in got.iter().zip(&want[k]) {
            assert!(
                (g - w).abs() < 1e-4,
                "request {k}: {got:?} vs {:?}",
                want[k]
            );
        }
    }
    let s: Value = c
        .get(format!("{base}/v2/models/cnn_dynamic/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let st = &s["model_stats"][0];
    let inferences = st["inference_count"].as_u64().unwrap();
    let executions = st["execution_count"].as_u64().unwrap();
    assert_eq!(inferences, n as u64);
    assert!(executions < inferences, "no batching happened: {s}");
    server.shutdown().await;
}
