//! End-to-end tests of the `kiln` binary: run/build/inspect/bench on the example models and
//! ONNX node tests, and clear errors (never panics) for bad input.

mod common;

use common::*;
use kiln_core::Tensor;

#[test]
fn run_small_cnn_matches_onnxruntime() {
    check_example(&example("small_cnn.onnx"), "small_cnn", "input", "probs");
}

#[test]
fn run_tiny_encoder_matches_onnxruntime() {
    check_example(
        &example("tiny_encoder.onnx"),
        "tiny_encoder",
        "hidden_states",
        "output",
    );
}

#[test]
fn run_node_tests_with_pb_inputs() {
    for (test, inputs, outputs) in [
        ("test_relu", &["x"][..], &["y"][..]),
        ("test_add", &["x", "y"], &["sum"]),
    ] {
        let Some(dir) = node_test(test) else { return };
        let data = dir.join("test_data_set_0");
        let out_dir = tempfile::tempdir().unwrap();
        let mut args = vec!["run".to_string(), s(&dir.join("model.onnx")).to_string()];
        for (i, name) in inputs.iter().enumerate() {
            args.push("--input".into());
            args.push(format!("{name}={}", s(&data.join(format!("input_{i}.pb")))));
        }
        args.extend([
            "--output-dir".into(),
            s(out_dir.path()).to_string(),
            "--threads".into(),
            "1".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(kiln(&args));
        for (i, name) in outputs.iter().enumerate() {
            let want = read_pb(&data.join(format!("output_{i}.pb")));
            let got = read_npy(&out_dir.path().join(format!("{name}.npy")));
            assert_close(&got, &want, 1e-6, 0.0);
        }
    }
}

#[test]
fn plan_round_trip_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cnn.kiln");
    let cache = dir.path().join("timing.cache");
    let out = ok(kiln(&[
        "build",
        s(&example("small_cnn.onnx")),
        "-o",
        s(&plan),
        "--shapes",
        "input:1x3x32x32",
        "--timing-cache",
        s(&cache),
        "--threads",
        "2",
    ]));
    assert!(
        out.contains("layers:") && out.contains("plan size:") && out.contains("build time:"),
        "{out}"
    );
    assert!(plan.exists());
    // The plan runs (detected by magic, not by extension) and gives onnxruntime's outputs.
    check_example(&plan, "small_cnn", "input", "probs");
    // Plan and model agree closely.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let input = format!("input={}", s(&example("small_cnn_input.npy")));
    ok(kiln(&[
        "run",
        s(&plan),
        "--input",
        &input,
        "--output-dir",
        s(a.path()),
    ]));
    ok(kiln(&[
        "run",
        s(&example("small_cnn.onnx")),
        "--input",
        &input,
        "--output-dir",
        s(b.path()),
    ]));
    assert_close(
        &read_npy(&a.path().join("probs.npy")),
        &read_npy(&b.path().join("probs.npy")),
        1e-5,
        1e-7,
    );

    let text = ok(kiln(&["inspect", s(&plan)]));
    for needle in [
        "target:",
        "inputs:",
        "outputs:",
        "layers (",
        "memory plan: peak",
    ] {
        assert!(text.contains(needle), "inspect lacks '{needle}':\n{text}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&ok(kiln(&["inspect", s(&plan), "--json"]))).unwrap();
    assert_eq!(j["kind"], "plan");
    assert!(!j["layers"].as_array().unwrap().is_empty());
    assert!(
        j["memory_plan"]["peak_bytes"].as_u64().unwrap()
            <= j["memory_plan"]["naive_bytes"].as_u64().unwrap()
    );
    assert_eq!(j["inputs"][0]["name"], "input");
}

#[test]
fn inspect_models() {
    let text = ok(kiln(&["inspect", s(&example("tiny_encoder.onnx"))]));
    assert!(text.contains("fully supported"), "{text}");
    assert!(text.contains("LayerNormalization"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&ok(kiln(&[
        "inspect",
        "--json",
        s(&example("small_cnn.onnx")),
    ])))
    .unwrap();
    assert_eq!(j["supported"], true);
    assert_eq!(j["summary"]["nodes"], 10);
    assert_eq!(j["summary"]["unsupported"], 0);

    // An unsupported model is reported (exit 0), with every unsupported node.
    let bad = example("bad/unknown_op.onnx");
    let text = ok(kiln(&["inspect", s(&bad)]));
    for needle in [
        "NOT SUPPORTED",
        "frob",
        "FrobnicateTensor",
        "nosuch",
        "NoSuchOp",
    ] {
        assert!(text.contains(needle), "lacks '{needle}':\n{text}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&ok(kiln(&["inspect", "--json", s(&bad)]))).unwrap();
    assert_eq!(j["supported"], false);
    assert_eq!(j["summary"]["unsupported"], 2);
    assert_eq!(j["summary"]["supported"], 1);
}

#[test]
fn bench_json_has_all_keys() {
    let out = ok(kiln(&[
        "bench",
        s(&example("small_cnn.onnx")),
        "--batch",
        "3",
        "--warmup",
        "1",
        "--iterations",
        "5",
        "--threads",
        "1",
        "--json",
    ]));
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(j["batch"], 3);
    assert_eq!(j["threads"], 1);
    assert!(j["model"].as_str().unwrap().ends_with("small_cnn.onnx"));
    let lat = &j["latency_ms"];
    let keys = ["min", "mean", "median", "p90", "p95", "p99"];
    let v: Vec<f64> = keys
        .iter()
        .map(|k| lat[*k].as_f64().unwrap_or_else(|| panic!("{k}")))
        .collect();
    assert!(
        v[0] > 0.0 && v[0] <= v[2] && v[2] <= v[3] && v[3] <= v[4] && v[4] <= v[5],
        "{lat}"
    );
    assert!(j["throughput_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(j["inputs"]["input"], serde_json::json!([3, 3, 32, 32]));

    let text = ok(kiln(&[
        "bench",
        s(&example("tiny_encoder.onnx")),
        "--warmup",
        "0",
        "-n",
        "2",
    ]));
    assert!(
        text.contains("latency ms:") && text.contains("throughput:"),
        "{text}"
    );
}

#[test]
fn errors_for_bad_models() {
    let dir = tempfile::tempdir().unwrap();
    fails(
        kiln(&["run", "/no/such/model.onnx"]),
        &["/no/such/model.onnx"],
    );
    fails(
        kiln(&["inspect", "/no/such/model.onnx"]),
        &["/no/such/model.onnx"],
    );

    let bytes = std::fs::read(example("small_cnn.onnx")).unwrap();
    let cut = dir.path().join("truncated.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fails(kiln(&["run", s(&cut)]), &["truncated.onnx"]);
    fails(kiln(&["inspect", s(&cut)]), &["truncated.onnx"]);

    // All unsupported nodes are named at once.
    let bad = example("bad/unknown_op.onnx");
    let input = format!("x={}", s(&example("small_cnn_input.npy")));
    fails(
        kiln(&["run", s(&bad), "--input", &input]),
        &["FrobnicateTensor", "NoSuchOp", "frob", "nosuch"],
    );
    fails(
        kiln(&["build", s(&bad), "-o", s(&dir.path().join("x.plan"))]),
        &["FrobnicateTensor", "NoSuchOp"],
    );
}

#[test]
fn errors_for_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = example("small_cnn.onnx");
    let m = s(&model);
    fails(kiln(&["run", m]), &["missing input", "'input'"]);
    fails(
        kiln(&["run", m, "--input", "input"]),
        &["bad --input 'input'", "NAME=FILE"],
    );
    fails(
        kiln(&["run", m, "--input", "nope=x.npy"]),
        &["no input 'nope'", "'input'"],
    );
    fails(
        kiln(&["run", m, "--input", "input=/no/such.npy"]),
        &["/no/such.npy", "'input'"],
    );

    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"definitely not numpy").unwrap();
    fails(
        kiln(&["run", m, "--input", &format!("input={}", s(&garbage))]),
        &["garbage.npy", "magic"],
    );

    let shape = dir.path().join("shape.npy");
    npy::write_npy(
        &shape,
        &Tensor::zeros(kiln_core::DataType::F32, &[1, 3, 30, 32]),
    )
    .unwrap();
    fails(
        kiln(&["run", m, "--input", &format!("input={}", s(&shape))]),
        &["'input'", "wrong shape", "30"],
    );

    let dtype = dir.path().join("dtype.npy");
    npy::write_npy(
        &dtype,
        &Tensor::zeros(kiln_core::DataType::F64, &[1, 3, 32, 32]),
    )
    .unwrap();
    fails(
        kiln(&["run", m, "--input", &format!("input={}", s(&dtype))]),
        &["'input'", "wrong dtype", "f64"],
    );

    // Every missing input is named.
    if let Some(add) = node_test("test_add") {
        fails(
            kiln(&["run", s(&add.join("model.onnx"))]),
            &["missing inputs", "'x'", "'y'"],
        );
    }
    fails(
        kiln(&[
            "build",
            m,
            "-o",
            s(&dir.path().join("p")),
            "--shapes",
            "input=1x3",
        ]),
        &["--shapes"],
    );
    fails(
        kiln(&["bench", m, "--shapes", "nope:1x3x32x32", "-n", "1"]),
        &["unknown input", "'nope'"],
    );
}

#[test]
fn errors_for_bad_plans() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("encoder.plan");
    ok(kiln(&[
        "build",
        s(&example("tiny_encoder.onnx")),
        "-o",
        s(&plan),
    ]));
    let bytes = std::fs::read(&plan).unwrap();
    let input = format!("hidden_states={}", s(&example("tiny_encoder_input.npy")));

    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let corrupt = dir.path().join("corrupt.plan");
    std::fs::write(&corrupt, &flipped).unwrap();
    fails(
        kiln(&["run", s(&corrupt), "--input", &input]),
        &["corrupt.plan"],
    );
    fails(kiln(&["inspect", s(&corrupt)]), &["corrupt.plan"]);

    let mut cut = bytes.clone();
    cut.truncate(bytes.len() - 100);
    let short = dir.path().join("short.plan");
    std::fs::write(&short, &cut).unwrap();
    fails(
        kiln(&["run", s(&short), "--input", &input]),
        &["short.plan"],
    );

    let other = dir.path().join("other_version.plan");
    std::fs::write(&other, patch_version(&bytes)).unwrap();
    fails(
        kiln(&["run", s(&other), "--input", &input]),
        &["other_version.plan", "version"],
    );

    fails(
        kiln(&["build", s(&plan), "-o", s(&dir.path().join("again.plan"))]),
        &["already a plan"],
    );
}

/// The plan with its format version field set to a version no reader knows.
fn patch_version(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    // Layout: 8-byte magic, then the format version as a little-endian u32.
    v[8..12].copy_from_slice(&0xFFFFu32.to_le_bytes());
    v
}

#[test]
fn help_and_version() {
    let out = ok(kiln(&["--version"]));
    assert!(out.starts_with("kiln "), "{out}");
    let help = ok(kiln(&["--help"]));
    for cmd in ["run", "build", "inspect", "bench", "--verbose"] {
        assert!(help.contains(cmd), "{help}");
    }
    let help = ok(kiln(&["run", "--help"]));
    assert!(
        help.contains("NAME=FILE") && help.contains("--output-dir"),
        "{help}"
    );
    // Usage errors exit with status 2 and never panic.
    let o = kiln(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("panicked"));
}
