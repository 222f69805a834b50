//! Optimization profiles: `kiln build --min-shapes/--opt-shapes/--max-shapes`.

mod common;

use common::npy;
use common::*;

fn write_batch(path: &std::path::Path, n: usize) {
    let t = kiln_core::Tensor::from_vec(&[n, 3, 32, 32], vec![0.5f32; n * 3 * 32 * 32]).unwrap();
    npy::write_npy(path, &t).unwrap();
}

#[test]
fn a_profile_tunes_at_opt_and_refuses_shapes_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.plan");
    ok(kiln(&[
        "build",
        s(&example("small_cnn.onnx")),
        "-o",
        s(&plan),
        "--min-shapes",
        "input:1x3x32x32",
        "--opt-shapes",
        "input:4x3x32x32",
        "--max-shapes",
        "input:8x3x32x32",
    ]));
    let text = ok(kiln(&["inspect", s(&plan)]));
    assert!(
        text.contains("input: 1x3x32x32 / 4x3x32x32 / 8x3x32x32"),
        "profile missing from inspect:\n{text}"
    );
    // Tuned at opt: the layers carry the opt batch.
    assert!(text.contains("[4,8,32,32]"), "not tuned at opt:\n{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(kiln(&["inspect", s(&plan), "--json"]))).unwrap();
    assert_eq!(
        json["profiles"][0]["max"],
        serde_json::json!([8, 3, 32, 32])
    );

    // Inside the range: runs and matches onnxruntime (batch 1); batch 8 runs too.
    check_example(&plan, "small_cnn", "input", "probs");
    let x8 = dir.path().join("x8.npy");
    write_batch(&x8, 8);
    ok(kiln(&[
        "run",
        s(&plan),
        "--input",
        &format!("input={}", s(&x8)),
    ]));
    // Outside: a clear error naming the input, the dimension and the range.
    let x9 = dir.path().join("x9.npy");
    write_batch(&x9, 9);
    fails(
        kiln(&["run", s(&plan), "--input", &format!("input={}", s(&x9))]),
        &[
            "input 'input'",
            "outside the engine's profile",
            "dimension 0 is 9, allowed 1..=8",
        ],
    );
    // A re-tuned plan keeps the profile.
    let again = dir.path().join("again.plan");
    ok(kiln(&["build", "--from-plan", s(&plan), "-o", s(&again)]));
    let text = ok(kiln(&["inspect", s(&again)]));
    assert!(
        text.contains("input: 1x3x32x32 / 4x3x32x32 / 8x3x32x32"),
        "{text}"
    );
}

#[test]
fn bad_profiles_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.plan");
    fails(
        kiln(&[
            "build",
            s(&example("small_cnn.onnx")),
            "-o",
            s(&plan),
            "--min-shapes",
            "input:1x3x32x32",
            "--opt-shapes",
            "input:4x3x32x32",
        ]),
        &["profile for 'input': missing its max shape"],
    );
    fails(
        kiln(&[
            "build",
            s(&example("small_cnn.onnx")),
            "-o",
            s(&plan),
            "--min-shapes",
            "input:4x3x32x32",
            "--opt-shapes",
            "input:2x3x32x32",
            "--max-shapes",
            "input:8x3x30x32",
        ]),
        &[
            "dimension 2 is fixed at 32",
            "min <= opt <= max, got 4 / 2 / 8",
        ],
    );
    assert!(!plan.exists());
}
