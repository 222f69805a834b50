//! Model warmup, LOADING/UNLOADING states and preserve_ordering end to end: warmup samples
//! (zero, random, file) run before a model goes READY and do not count in its statistics;
//! a failing sample makes the model UNAVAILABLE with the reason; the repository index shows
//! LOADING while a (slow) load runs and UNLOADING while an unload waits for a request in
//! flight, which then succeeds; a dynamic batcher with preserve_ordering and two instances
//! answers every concurrent request correctly.

mod common;

use common::*;
use kiln_server::ControlMode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// The example CNN (`input` [N,3,32,32] FP32 -> `probs` [N,10]) as model `name`, with
/// `extra` appended to its configuration.
fn cnn_model(repo: &Path, name: &str, extra: &str) {
    let dir = repo.join(name);
    copy_dir(
        &example_repository().join("cnn_classifier/1"),
        &dir.join("1"),
    );
    let cfg = format!(
        "name: \"{name}\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 16\n\
         input [ {{ name: \"input\" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] }} ]\n\
         output [ {{ name: \"probs\" data_type: TYPE_FP32 dims: [ 10 ] }} ]\n{extra}\n"
    );
    std::fs::write(dir.join("config.pbtxt"), cfg).unwrap();
}

fn image(seed: u32) -> Vec<f32> {
    (0..3 * 32 * 32)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 1000) as f32 / 500.0
                - 1.0
        })
        .collect()
}

async fn infer_cnn(
    c: &reqwest::Client,
    base: &str,
    model: &str,
    seed: u32,
) -> Result<Vec<f64>, String> {
    let body = json!({"inputs": [
        {"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": image(seed)}
    ]});
    let r = c
        .post(format!("{base}/v2/models/{model}/infer"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {v}"));
    }
    Ok(v["outputs"][0]["data"]
        .as_array()
        .ok_or_else(|| format!("no output data: {v}"))?
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect())
}

async fn index(c: &reqwest::Client, base: &str) -> Value {
    c.post(format!("{base}/v2/repository/index"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn state_of(index: &Value, name: &str) -> String {
    index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Poll the index until `name` shows `state`, for at most 20 s.
async fn wait_for_state(c: &reqwest::Client, base: &str, name: &str, state: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if state_of(&index(c, base).await, name) == state {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_runs_before_ready_and_a_failing_sample_is_the_reason() {
    let repo = tempfile::tempdir().unwrap();
    cnn_model(
        repo.path(),
        "warm",
        "model_warmup [\n\
           { name: \"zeros\" batch_size: 4 count: 2\n\
             inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 3, 32, 32 ] zero_data: true } } },\n\
           { name: \"noise\" batch_size: 1\n\
             inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 3, 32, 32 ] random_data: true } } },\n\
           { name: \"file\" batch_size: 1\n\
             inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 3, 32, 32 ] input_data_file: \"input.bin\" } } }\n\
         ]",
    );
    std::fs::create_dir_all(repo.path().join("warm/warmup")).unwrap();
    let bytes: Vec<u8> = image(7).iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(repo.path().join("warm/warmup/input.bin"), bytes).unwrap();
    // A data file of the wrong size: the sample fails, the model is UNAVAILABLE.
    cnn_model(
        repo.path(),
        "cold",
        "model_warmup [ { name: \"short_file\" batch_size: 1\n\
           inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 3, 32, 32 ] input_data_file: \"input.bin\" } } } ]",
    );
    std::fs::create_dir_all(repo.path().join("cold/warmup")).unwrap();
    std::fs::write(repo.path().join("cold/warmup/input.bin"), [0u8; 100]).unwrap();

    let server = start(repo.path(), ControlMode::Explicit, &["*"]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();
    let idx = index(&c, &base).await;
    assert_eq!(state_of(&idx, "warm"), "READY", "{idx}");
    assert_eq!(state_of(&idx, "cold"), "UNAVAILABLE", "{idx}");
    let reason = idx
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "cold")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("warmup sample 'short_file'") && reason.contains("byte size"),
        "{reason}"
    );

    // Warmup requests are not in the statistics.
    let stats: Value = c
        .get(format!("{base}/v2/models/warm/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["model_stats"][0]["inference_count"], 0, "{stats}");
    let probs = infer_cnn(&c, &base, "warm", 1).await.unwrap();
    assert_eq!(probs.len(), 10);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_shows_loading_and_unloading() {
    let repo = tempfile::tempdir().unwrap();
    // A long warmup makes the load take a while.
    cnn_model(
        repo.path(),
        "slow_load",
        "model_warmup [ { name: \"long\" batch_size: 16 count: 200\n\
           inputs { key: \"input\" value: { data_type: TYPE_FP32 dims: [ 3, 32, 32 ] zero_data: true } } } ]",
    );
    // A request waits up to 1.5 s in this batcher's queue for others to join.
    cnn_model(
        repo.path(),
        "slow_queue",
        "dynamic_batching { preferred_batch_size: [ 16 ] max_queue_delay_microseconds: 1500000 }",
    );
    let server = start(repo.path(), ControlMode::Explicit, &["slow_queue"]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();

    let load = {
        let (c, base) = (c.clone(), base.clone());
        tokio::spawn(async move {
            c.post(format!("{base}/v2/repository/models/slow_load/load"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    assert!(
        wait_for_state(&c, &base, "slow_load", "LOADING").await,
        "the index never showed slow_load LOADING"
    );
    assert_eq!(load.await.unwrap().unwrap(), 200);
    assert_eq!(state_of(&index(&c, &base).await, "slow_load"), "READY");

    // A request in flight: the unload waits for it, showing UNLOADING, and it succeeds.
    let request = {
        let (c, base) = (c.clone(), base.clone());
        tokio::spawn(async move { infer_cnn(&c, &base, "slow_queue", 3).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let unload = {
        let (c, base) = (c.clone(), base.clone());
        tokio::spawn(async move {
            c.post(format!("{base}/v2/repository/models/slow_queue/unload"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    assert!(
        wait_for_state(&c, &base, "slow_queue", "UNLOADING").await,
        "the index never showed slow_queue UNLOADING"
    );
    let probs = request
        .await
        .unwrap()
        .expect("the request in flight succeeds");
    assert_eq!(probs.len(), 10);
    assert_eq!(unload.await.unwrap().unwrap(), 200);
    let idx = index(&c, &base).await;
    assert_ne!(state_of(&idx, "slow_queue"), "READY", "{idx}");
    assert!(infer_cnn(&c, &base, "slow_queue", 3).await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_ordering_with_two_instances_answers_correctly() {
    let repo = tempfile::tempdir().unwrap();
    cnn_model(repo.path(), "plain", "");
    cnn_model(
        repo.path(),
        "ordered",
        "dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 500 preserve_ordering: true }\n\
         instance_group [ { count: 2 kind: KIND_CPU } ]",
    );
    let server = start(repo.path(), ControlMode::None, &[]).await;
    let base = http_base(&server);
    let c = reqwest::Client::new();
    let mut expected = Vec::new();
    for seed in 0..24 {
        expected.push(infer_cnn(&c, &base, "plain", seed).await.unwrap());
    }
    let tasks: Vec<_> = (0..24u32)
        .map(|seed| {
            let (c, base) = (c.clone(), base.clone());
            tokio::spawn(async move { infer_cnn(&c, &base, "ordered", seed).await })
        })
        .collect();
    for (seed, t) in tasks.into_iter().enumerate() {
        let got = t.await.unwrap().unwrap();
        let want = &expected[seed];
        let err = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-4, "request {seed}: {got:?} vs {want:?}");
    }
    server.shutdown().await;
}
