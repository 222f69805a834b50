//! `kiln build --from-plan`: re-tuning a plan without the original model.

mod common;

use common::*;

#[test]
fn a_plan_retuned_from_a_plan_runs_and_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.plan");
    let second = dir.path().join("second.plan");
    ok(kiln(&[
        "build",
        s(&example("small_cnn.onnx")),
        "-o",
        s(&first),
        "--threads",
        "1",
    ]));
    // Re-tune for other settings: concrete shapes (so layers are timed) and 2 threads.
    let out = ok(kiln(&[
        "build",
        "--from-plan",
        s(&first),
        "-o",
        s(&second),
        "--shapes",
        "input:1x3x32x32",
        "--threads",
        "2",
    ]));
    assert!(
        out.contains("re-tuned:   plan tuned for cpu/"),
        "re-tune line missing:\n{out}"
    );
    let inspect = ok(kiln(&["inspect", s(&second)]));
    assert!(
        inspect.contains("measured"),
        "no layer was timed:\n{inspect}"
    );
    assert!(
        inspect.contains("conv-bn-folding 1"),
        "the optimizer's reports carry over:\n{inspect}"
    );
    check_example(&second, "small_cnn", "input", "probs");
}

#[test]
fn from_plan_refuses_models_and_build_refuses_plans() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.plan");
    ok(kiln(&[
        "build",
        s(&example("small_cnn.onnx")),
        "-o",
        s(&plan),
    ]));
    fails(
        kiln(&[
            "build",
            "--from-plan",
            s(&example("small_cnn.onnx")),
            "-o",
            s(&dir.path().join("x.plan")),
        ]),
        &["is not a Kiln plan", "--from-plan"],
    );
    fails(
        kiln(&["build", s(&plan), "-o", s(&dir.path().join("y.plan"))]),
        &["is already a plan", "--from-plan"],
    );
    // A corrupted plan is reported, not a crash.
    let bad = dir.path().join("bad.plan");
    let mut bytes = std::fs::read(&plan).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&bad, bytes).unwrap();
    fails(
        kiln(&[
            "build",
            "--from-plan",
            s(&bad),
            "-o",
            s(&dir.path().join("z.plan")),
        ]),
        &["bad.plan"],
    );
}
