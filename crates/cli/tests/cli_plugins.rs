//! `kiln` with plugin libraries: `--plugin` / `--plugin-dir` on run, build, bench and
//! inspect, with the SwiGLU example plugin built by this test run.

mod common;

use common::*;
use std::path::PathBuf;

/// `libkiln_swiglu.so`, built next to this test executable (kiln-plugin-swiglu is a
/// dev-dependency of kiln-cli).
fn swiglu_so() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().expect("deps dir");
    let so = dir.join("libkiln_swiglu.so");
    assert!(
        so.is_file(),
        "{} was not built (kiln-plugin-swiglu is a dev-dependency)",
        so.display()
    );
    so
}

fn plugin_example(name: &str) -> PathBuf {
    example("plugins").join(name)
}

#[test]
fn run_with_plugin_matches_the_numpy_reference() {
    let model = plugin_example("plugin_swiglu.onnx");
    let input = format!("X={}", s(&plugin_example("plugin_swiglu_input.npy")));
    // Without the plugin: refused, naming the node.
    fails(
        kiln(&["run", s(&model), "-i", &input]),
        &["swiglu", "SwiGLU", "not supported"],
    );

    let so = swiglu_so();
    let dir = tempfile::tempdir().unwrap();
    ok(kiln(&[
        "run",
        "--plugin",
        s(&so),
        s(&model),
        "-i",
        &input,
        "-o",
        s(dir.path()),
    ]));
    let got = npy::read_npy(&dir.path().join("out.npy")).unwrap();
    let expected = npy::read_npy(&plugin_example("plugin_swiglu_expected.npy")).unwrap();
    let (g, e) = (
        got.array::<f32>().unwrap(),
        expected.array::<f32>().unwrap(),
    );
    assert_eq!(g.shape(), e.shape());
    let diff = g
        .iter()
        .zip(e.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "max difference {diff}");

    ok(kiln(&[
        "bench",
        "--plugin",
        s(&so),
        s(&model),
        "-s",
        "X:4x8",
        "-n",
        "3",
        "--warmup",
        "1",
    ]));
}

#[test]
fn plans_need_their_plugins_and_inspect_marks_plugin_layers() {
    let model = plugin_example("plugin_swiglu.onnx");
    let so = swiglu_so();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("swiglu.plan");
    ok(kiln(&[
        "build",
        "--plugin",
        s(&so),
        s(&model),
        "-o",
        s(&plan),
    ]));
    let input = format!("X={}", s(&plugin_example("plugin_swiglu_input.npy")));
    fails(
        kiln(&["run", s(&plan), "-i", &input]),
        &["SwiGLU version 1", "not loaded", "--plugin"],
    );
    // A plugins directory works as well as --plugin.
    let plugdir = dir.path().join("plugins");
    std::fs::create_dir(&plugdir).unwrap();
    std::fs::copy(&so, plugdir.join("libkiln_swiglu.so")).unwrap();
    ok(kiln(&[
        "run",
        "--plugin-dir",
        s(&plugdir),
        s(&plan),
        "-i",
        &input,
    ]));

    let text = ok(kiln(&["inspect", "--plugin", s(&so), s(&plan)]));
    assert!(text.contains("[plugin SwiGLU version 1]"), "{text}");
    let text = ok(kiln(&[
        "inspect",
        "--plugin",
        s(&so),
        s(&plugin_example("plugin_unknown.onnx")),
    ]));
    assert!(text.contains("plugin swiglu"), "{text}");
    assert!(
        text.contains("Frobnicate") && text.contains("Gronk") && text.contains("2 unsupported"),
        "{text}"
    );
    // Building it reports both nodes no plugin provides, at once.
    fails(
        kiln(&[
            "build",
            "--plugin",
            s(&so),
            s(&plugin_example("plugin_unknown.onnx")),
            "-o",
            s(&dir.path().join("x.plan")),
        ]),
        &["frob", "gronk"],
    );
}

#[test]
fn a_bad_plugin_path_is_a_clear_error() {
    let model = plugin_example("plugin_swiglu.onnx");
    fails(
        kiln(&[
            "run",
            "--plugin",
            "/nonexistent/libkiln_nothing.so",
            s(&model),
        ]),
        &["/nonexistent/libkiln_nothing.so", "cannot load"],
    );
}
