//! `kiln --device cuda` end to end: the examples run on the GPU and agree with the CPU
//! (skipped with the reason printed on machines without a GPU, failing instead when
//! `KILN_REQUIRE_GPU=1`), and without a GPU `--device cuda` is a clear error.
//! `KILN_BIN` and `KILN_ROOT` override the binary and repository root (for running the test
//! executable on a machine where the build paths do not exist).

mod common;

use common::npy::read_npy;
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    std::env::var_os("KILN_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(common::root)
}

fn kiln(args: &[&str]) -> Output {
    let bin = std::env::var_os("KILN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kiln")));
    Command::new(bin)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the kiln binary starts")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn gpu_present() -> bool {
    let required = std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let present = kiln_engine::cuda::device_count() > 0;
    assert!(
        present || !required,
        "KILN_REQUIRE_GPU=1 but there is no CUDA device"
    );
    present
}

const EXAMPLES: [(&str, &str); 2] = [("small_cnn", "input"), ("tiny_encoder", "hidden_states")];

#[test]
fn device_cuda_without_a_gpu_is_a_clear_error() {
    if gpu_present() {
        eprintln!("SKIPPED device_cuda_without_a_gpu_is_a_clear_error: this machine has a GPU");
        return;
    }
    let model = root().join("examples/small_cnn.onnx");
    let input = format!(
        "input={}",
        root().join("examples/small_cnn_input.npy").display()
    );
    let out = kiln(&[
        "run",
        model.to_str().unwrap(),
        "--device",
        "cuda",
        "-i",
        &input,
    ]);
    assert!(!out.status.success(), "must fail without a GPU");
    let msg = text(&out);
    assert!(
        msg.contains("CUDA") && (msg.contains("no CUDA driver") || msg.contains("CUDA device")),
        "unclear error: {msg}"
    );
    // The CPU path keeps working.
    let out = kiln(&[
        "run",
        model.to_str().unwrap(),
        "--device",
        "cpu",
        "-i",
        &input,
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn unknown_device_is_refused() {
    let model = root().join("examples/small_cnn.onnx");
    let out = kiln(&[
        "build",
        model.to_str().unwrap(),
        "-o",
        "/nonexistent/x.plan",
        "--device",
        "tpu:1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown device 'tpu:1'"),
        "{}",
        text(&out)
    );
}

fn max_rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0f64, f64::max)
}

#[test]
fn examples_on_the_gpu_match_the_cpu() {
    if !gpu_present() {
        eprintln!("SKIPPED examples_on_the_gpu_match_the_cpu: no CUDA device on this machine");
        return;
    }
    let dir = tempdir("kiln-cuda-examples");
    for (name, input_name) in EXAMPLES {
        let model = root().join(format!("examples/{name}.onnx"));
        let input = format!(
            "{input_name}={}",
            root().join(format!("examples/{name}_input.npy")).display()
        );
        let expected = read_npy(&root().join(format!("examples/{name}_expected.npy")))
            .expect("expected output");
        let mut results = Vec::new();
        for device in ["cpu", "cuda"] {
            let out_dir = dir.join(format!("{name}-{device}"));
            let out = kiln(&[
                "run",
                model.to_str().unwrap(),
                "--device",
                device,
                "-i",
                &input,
                "-o",
                out_dir.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "{name} on {device}: {}", text(&out));
            eprintln!(
                "{name} on {device}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = std::fs::read_dir(&out_dir)
                .expect("outputs")
                .next()
                .expect("one output")
                .expect("entry")
                .path();
            results.push(read_npy(&file).expect("output npy"));
        }
        let (cpu, gpu) = (&results[0], &results[1]);
        assert_eq!(gpu.shape(), expected.shape(), "{name}: shape");
        let (g, c, e) = (
            gpu.to_f64_vec().unwrap(),
            cpu.to_f64_vec().unwrap(),
            expected.to_f64_vec().unwrap(),
        );
        let (vs_cpu, vs_expected) = (max_rel_err(&g, &c), max_rel_err(&g, &e));
        eprintln!(
            "{name}: GPU vs CPU max error {vs_cpu:.3e} (relative to max |value|), GPU vs expected {vs_expected:.3e}"
        );
        assert!(
            vs_cpu <= 1e-4,
            "{name}: GPU differs from the CPU by {vs_cpu:.3e}"
        );
        assert!(
            vs_expected <= 1e-4,
            "{name}: GPU differs from the expected output by {vs_expected:.3e}"
        );
        // A plan built for the GPU runs again from the file and records the GPU.
        let plan = dir.join(format!("{name}.plan"));
        let out = kiln(&[
            "build",
            model.to_str().unwrap(),
            "--device",
            "cuda",
            "-o",
            plan.to_str().unwrap(),
            "-s",
            &format!("{input_name}:{}", shape_arg(expected.shape(), name)),
        ]);
        assert!(out.status.success(), "build {name}: {}", text(&out));
        let out = kiln(&["inspect", plan.to_str().unwrap()]);
        assert!(
            out.status.success() && text(&out).contains("cuda/sm_"),
            "inspect {name}: {}",
            text(&out)
        );
        let out_dir = dir.join(format!("{name}-plan"));
        let out = kiln(&[
            "run",
            plan.to_str().unwrap(),
            "-i",
            &input,
            "-o",
            out_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "run plan {name}: {}", text(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The input shape of the examples (batch from the expected output).
fn shape_arg(out_shape: &[usize], name: &str) -> String {
    let n = out_shape[0];
    match name {
        "small_cnn" => format!("{n}x3x32x32"),
        _ => format!("{n}x16x64"),
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
