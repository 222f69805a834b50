//! The real Triton Python client (`tritonclient[all]`) against an in-process server over
//! the example repository: `tests/clients/tritonclient_test.py` checks health, metadata,
//! config, JSON and binary inference on `simple` over HTTP and gRPC, classification,
//! priority levels and queue timeouts, errors (unknown model, wrong shape and datatype, a
//! truncated binary body, a body over the limit), statistics and repository load/unload. Fails with a clear message
//! when Python or tritonclient is missing (CI installs them).

mod common;

use common::*;
use kiln_server::ControlMode;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_http_and_grpc() {
    let probe = Command::new("python3")
        .args(["-c", "import tritonclient.http, tritonclient.grpc, numpy"])
        .output();
    match probe {
        Err(e) => panic!("python3 is needed for the tritonclient tests: {e}"),
        Ok(o) if !o.status.success() => panic!(
            "the tritonclient tests need `python3 -m pip install \"tritonclient[all]\" numpy`: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }
    let repo = temp_repository(&[
        "simple",
        "cnn_classifier",
        "cnn_dynamic",
        "mlp_autocomplete",
    ]);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/tritonclient_test.py");
    // cnn_priority: the example CNN with the script's priority/timeout batching block.
    let block = Command::new("python3")
        .arg(&script)
        .arg("--priority-config")
        .output()
        .expect("run the tritonclient script");
    assert!(block.status.success(), "{block:?}");
    let dir = repo.path().join("cnn_priority");
    copy_dir(
        &example_repository().join("cnn_classifier/1"),
        &dir.join("1"),
    );
    std::fs::write(
        dir.join("config.pbtxt"),
        format!(
            "name: \"cnn_priority\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 16\n\
             input [ {{ name: \"input\" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] }} ]\n\
             output [ {{ name: \"probs\" data_type: TYPE_FP32 dims: [ 10 ] }} ]\n{}",
            String::from_utf8_lossy(&block.stdout)
        ),
    )
    .unwrap();
    // The common server's body/message limit is 8 MiB, as the script expects.
    let server = start(repo.path(), ControlMode::Explicit, &["*"]).await;
    let http = server.http_addr().unwrap().to_string();
    let grpc = server.grpc_addr().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(http)
            .arg(grpc)
            .output()
    })
    .await
    .unwrap()
    .expect("run the tritonclient script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tritonclient checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("http: ok") && stdout.contains("grpc: ok"),
        "{stdout}"
    );
    server.shutdown().await;
}
