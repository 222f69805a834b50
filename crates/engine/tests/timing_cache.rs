//! A second build with the timing cache reuses the first build's choices without timing.

mod common;

use common::*;
use kiln_engine::{Builder, BuilderConfig, TacticChoice, TimingCache};

fn cfg(path: &std::path::Path) -> BuilderConfig {
    BuilderConfig {
        timing_cache: Some(path.to_path_buf()),
        threads: Some(2),
        shapes: [("x".to_string(), vec![4, 8])].into(),
        ..BuilderConfig::default()
    }
}

#[test]
fn second_build_uses_the_cache() {
    let path = temp_path("timing.json");
    let first = Builder::new(cfg(&path)).build(mlp()).unwrap();
    let timed: Vec<_> = first
        .layers()
        .iter()
        .filter(|l| l.choice == TacticChoice::Measured)
        .collect();
    assert_eq!(timed.len(), 1, "only MatMul has several tactics");
    let cache = TimingCache::load(&path).unwrap();
    assert_eq!(cache.len(), 1);
    let entry = cache.entries().next().unwrap();
    assert_eq!(entry.key.target, first.target().to_string());
    assert_eq!(entry.key.shapes, "f32[4,8];f32[8,16]");
    assert_eq!(entry.key.precision, "fp32");
    assert!(entry.key.signature.starts_with("MatMul#"));

    let second = Builder::new(cfg(&path)).build(mlp()).unwrap();
    for (a, b) in first.layers().iter().zip(second.layers()) {
        assert_eq!(a.tactic, b.tactic);
        if a.choice == TacticChoice::Measured {
            assert_eq!(b.choice, TacticChoice::Cache);
            assert_eq!(a.time_us, b.time_us);
        }
    }

    // The cache decides: force the other tactic through the file.
    let other = if timed[0].tactic == "gemm" {
        "reference"
    } else {
        "gemm"
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let forced = text.replace(
        &format!("\"tactic\": \"{}\"", timed[0].tactic),
        &format!("\"tactic\": \"{other}\""),
    );
    std::fs::write(&path, forced).unwrap();
    let third = Builder::new(cfg(&path)).build(mlp()).unwrap();
    let mm = third
        .layers()
        .iter()
        .find(|l| l.op_type == "MatMul")
        .unwrap();
    assert_eq!(mm.tactic, other);
    assert_eq!(mm.choice, TacticChoice::Cache);

    // Other shapes miss the cache and are timed again.
    let mut c = cfg(&path);
    c.shapes.insert("x".into(), vec![5, 8]);
    let fourth = Builder::new(c).build(mlp()).unwrap();
    let mm = fourth
        .layers()
        .iter()
        .find(|l| l.op_type == "MatMul")
        .unwrap();
    assert_eq!(mm.choice, TacticChoice::Measured);
    assert_eq!(TimingCache::load(&path).unwrap().len(), 2);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn broken_cache_file_is_an_error() {
    let path = temp_path("broken.json");
    std::fs::write(&path, "{not json").unwrap();
    let err = Builder::new(cfg(&path))
        .build(mlp())
        .unwrap_err()
        .to_string();
    assert!(err.contains("timing cache"), "{err}");
    let _ = std::fs::remove_file(&path);
}
