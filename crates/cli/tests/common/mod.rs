//! Helpers shared by the `kiln` end-to-end tests.

#![allow(dead_code)]

#[path = "../../src/npy.rs"]
#[allow(dead_code)]
pub mod npy;

use kiln_core::Tensor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// An ONNX backend node test folder. The test data must be unpacked (`scripts/test` does it):
/// a missing folder fails the test rather than skipping it silently.
pub fn node_test(name: &str) -> Option<PathBuf> {
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

pub fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the kiln binary starts")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
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
pub fn fails(o: Output, needles: &[&str]) -> String {
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

pub fn assert_close(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
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

pub fn read_npy(p: &Path) -> Tensor {
    npy::read_npy(p).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()))
}

pub fn read_pb(p: &Path) -> Tensor {
    kiln_onnx::tensor_from_pb(&std::fs::read(p).unwrap()).unwrap()
}

/// Run an example model on its input and compare with onnxruntime's output.
pub fn check_example(model: &Path, name: &str, input: &str, output: &str) {
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
