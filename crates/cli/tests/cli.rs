//! End-to-end tests of the `kiln` binary: run/build/inspect/bench on the example models and
//! ONNX node tests, and clear errors (never panics) for bad input.

#[path = "../src/npy.rs"]
#[allow(dead_code)]
mod npy;

use kiln_core::Tensor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// An ONNX backend node test folder. The test data must be unpacked (`scripts/test` does it):
/// a missing folder fails the test rather than skipping it silently.
fn node_test(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("KILN_ONNX_NODE_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/onnx-1.22.0/node"));
    let dir = base.join(name);
    assert!(
        dir.join("model.onnx").exists(),
        "{} is not unpacked: run scripts/fetch-onnx-tests (scripts/test does)",
        dir.display()
    );
    Some(dir)
}

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the kiln binary starts")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "kiln failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Assert a clean failure: non-zero exit, one `error:` message containing every `needle`,
/// and no panic.
fn fails(o: Output, needles: &[&str]) -> String {
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "expected failure; stdout:\n{}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(1), "stderr:\n{err}");
    assert!(err.starts_with("error: "), "stderr:\n{err}");
    for bad in ["panicked", "internal error", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "stderr contains '{bad}':\n{err}");
    }
    for n in needles {
        assert!(err.contains(n), "stderr lacks '{n}':\n{err}");
    }
    err
}

fn assert_close(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(got.dtype(), want.dtype());
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "element {i}: got {a}, want {b}"
        );
    }
}

fn read_npy(p: &Path) -> Tensor {
    npy::read_npy(p).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()))
}

fn read_pb(p: &Path) -> Tensor {
    kiln_onnx::tensor_from_pb(&std::fs::read(p).unwrap()).unwrap()
}

/// Run an example model on its input and compare with onnxruntime's output.
fn check_example(model: &Path, name: &str, input: &str, output: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{input}={}", s(&example(&format!("{name}_input.npy"))));
    let out = ok(kiln(&[
        "run",
        s(model),
        "--input",
        &spec,
        "--output-dir",
        s(dir.path()),
    ]));
    let want = read_npy(&example(&format!("{name}_expected.npy")));
    let shape: Vec<String> = want.shape().iter().map(|d| d.to_string()).collect();
    assert!(
        out.contains(&format!("{output}: f32 [{}] [", shape.join(","))),
        "summary line missing:\n{out}"
    );
    let got = read_npy(&dir.path().join(format!("{output}.npy")));
    assert_close(&got, &want, 1e-4, 1e-6);
}

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

/// A Caffe case generated by `scripts/caffe/gen_tests.py` (input 0, output 0 as tensors).
fn caffe_case(name: &str) -> (PathBuf, Tensor, Tensor) {
    let base = std::env::var_os("KILN_CAFFE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/caffe"));
    let dir = base.join(name);
    let case = std::fs::read_to_string(dir.join("case.json")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: generate the Caffe test data with `python3 scripts/caffe/gen_tests.py`",
            dir.display()
        )
    });
    let case: serde_json::Value = serde_json::from_str(&case).unwrap();
    let tensor = |e: &serde_json::Value| {
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let raw = std::fs::read(dir.join(e["file"].as_str().unwrap())).unwrap();
        Tensor::from_le_bytes(kiln_core::DataType::F32, &shape, &raw).unwrap()
    };
    let (x, y) = (tensor(&case["inputs"][0]), tensor(&case["outputs"][0]));
    (dir, x, y)
}

#[test]
fn caffe_networks_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    // GoogLeNet (BVLC deploy prototxt, random weights) through `kiln run`.
    let (dir, x, want) = caffe_case("googlenet");
    let input = tmp.path().join("data.npy");
    npy::write_npy(&input, &x).unwrap();
    let (proto, weights) = (dir.join("deploy.prototxt"), dir.join("net.caffemodel"));
    let spec = format!("data={}", s(&input));
    let out = ok(kiln(&[
        "run",
        s(&proto),
        "--weights",
        s(&weights),
        "--mark-output",
        "prob",
        "--input",
        &spec,
        "--output-dir",
        s(tmp.path()),
    ]));
    assert!(out.contains("prob: f32 [1,1000]"), "{out}");
    assert_close(&read_npy(&tmp.path().join("prob.npy")), &want, 1e-4, 1e-7);

    // LeNet (legacy `layers` form): build a plan, run it, inspect the prototxt.
    let (dir, x, want) = caffe_case("lenet_v1");
    let (proto, weights) = (dir.join("deploy.prototxt"), dir.join("net.caffemodel"));
    let plan = tmp.path().join("lenet.plan");
    ok(kiln(&[
        "build",
        s(&proto),
        "--weights",
        s(&weights),
        "-o",
        s(&plan),
    ]));
    npy::write_npy(&input, &x).unwrap();
    ok(kiln(&[
        "run",
        s(&plan),
        "--input",
        &spec,
        "--output-dir",
        s(tmp.path()),
    ]));
    assert_close(&read_npy(&tmp.path().join("prob.npy")), &want, 1e-4, 1e-7);
    let text = ok(kiln(&["inspect", s(&proto), "--weights", s(&weights)]));
    assert!(
        text.contains("legacy layers form") && text.contains("problems: 0"),
        "{text}"
    );
    let bench = ok(kiln(&[
        "bench",
        s(&proto),
        "--weights",
        s(&weights),
        "-n",
        "2",
        "--warmup",
        "1",
        "--json",
    ]));
    assert!(
        bench.contains("\"median\"") && bench.contains("\"p99\""),
        "{bench}"
    );

    // Without weights: every layer that needs them is named.
    fails(
        kiln(&["build", s(&proto), "-o", s(&plan)]),
        &["conv1", "conv2", "ip1", "ip2", "BadWeights"],
    );
    // --weights on an ONNX model is refused.
    fails(
        kiln(&[
            "build",
            s(&example("small_cnn.onnx")),
            "--weights",
            s(&weights),
            "-o",
            s(&plan),
        ]),
        &["--weights"],
    );
}

/// Every generated Caffe case imported by kiln-caffe and run through the engine (no tuning),
/// within 1e-4 of the numpy reference relative to each output's largest magnitude.
#[test]
fn caffe_cases_through_the_engine() {
    let base = std::env::var_os("KILN_CAFFE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/caffe"));
    let manifest = std::fs::read_to_string(base.join("manifest.json")).unwrap_or_else(|e| {
        panic!("{e}: generate the Caffe test data with `python3 scripts/caffe/gen_tests.py`")
    });
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let names = manifest["cases"].as_array().unwrap();
    assert!(
        names.len() >= 38,
        "stale Caffe test data: rerun the generator"
    );
    let mut failures = Vec::new();
    for name in names.iter().map(|n| n.as_str().unwrap()) {
        let dir = base.join(name);
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let tensor = |e: &serde_json::Value| {
            let shape: Vec<usize> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let raw = std::fs::read(dir.join(e["file"].as_str().unwrap())).unwrap();
            let t = Tensor::from_le_bytes(kiln_core::DataType::F32, &shape, &raw).unwrap();
            (e["name"].as_str().unwrap().to_string(), t)
        };
        let marked: Vec<String> = case["requested_outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let graph = kiln_caffe::import(
            &dir.join("deploy.prototxt"),
            Some(&dir.join("net.caffemodel")),
            &marked,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = kiln_engine::BuilderConfig {
            tune: false,
            ..Default::default()
        };
        let engine = kiln_engine::Builder::new(config).build(graph).unwrap();
        let inputs = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(tensor)
            .collect();
        let got = engine.create_context().run(inputs).unwrap();
        let mut worst = 0.0f64;
        for ((gname, g), e) in got.iter().zip(case["outputs"].as_array().unwrap()) {
            let (wname, w) = tensor(e);
            assert_eq!((gname, g.shape()), (&wname, w.shape()), "{name}");
            let (g, w) = (g.to_f64_vec().unwrap(), w.to_f64_vec().unwrap());
            let scale = w.iter().fold(1e-30f64, |m, x| m.max(x.abs()));
            let diff = g
                .iter()
                .zip(&w)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            worst = worst.max(if diff.is_nan() {
                f64::INFINITY
            } else {
                diff / scale
            });
        }
        eprintln!("{name}: engine max relative error {worst:.2e}");
        if worst > 1e-4 {
            failures.push(format!("{name}: {worst:.2e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "Caffe cases off the reference: {failures:?}"
    );
}
