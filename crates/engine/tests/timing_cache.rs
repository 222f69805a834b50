//! A second build with the timing cache reuses the first build's choices without timing,
//! and gives the same tactics.

mod common;

use common::*;
use kiln_engine::{Builder, BuilderConfig, TacticChoice, TimingCache};
use std::time::Instant;

fn cfg(path: &std::path::Path) -> BuilderConfig {
    BuilderConfig {
        timing_cache: Some(path.to_path_buf()),
        threads: Some(2),
        ..BuilderConfig::default()
    }
}

fn is_conv(op_type: &str) -> bool {
    op_type == "Conv" || op_type == "FusedConv"
}

#[test]
fn second_build_uses_the_cache() {
    let path = temp_path("timing.json");
    let first = Builder::new(cfg(&path)).build(convnet()).unwrap();
    let timed: Vec<_> = first
        .layers()
        .iter()
        .filter(|l| l.choice == TacticChoice::Measured)
        .collect();
    assert!(!timed.is_empty(), "conv layers have several tactics");
    assert!(timed.iter().all(|l| is_conv(&l.op_type)), "{timed:?}");
    let cache = TimingCache::load(&path).unwrap();
    assert_eq!(cache.len(), timed.len());
    for entry in cache.entries() {
        assert_eq!(entry.key.target, first.target().to_string());
        assert_eq!(entry.key.precision, "fp32");
        assert!(entry.key.signature.contains("Conv#"), "{entry:?}");
        assert!(entry.key.shapes.starts_with("f32[1,"), "{entry:?}");
    }

    let second = Builder::new(cfg(&path)).build(convnet()).unwrap();
    for (a, b) in first.layers().iter().zip(second.layers()) {
        assert_eq!(a.tactic, b.tactic);
        if a.choice == TacticChoice::Measured {
            assert_eq!(b.choice, TacticChoice::Cache);
            assert_eq!(a.time_us, b.time_us);
        }
    }

    // The cache decides: force another tactic through the file.
    let layer = timed[0];
    let other = if layer.tactic == "im2col-gemm" {
        "im2col-tiled-256"
    } else {
        "im2col-gemm"
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let needle = format!("\"tactic\": \"{}\"", layer.tactic);
    let at = text.find(&needle).expect("tactic in the cache file");
    let forced = format!(
        "{}\"tactic\": \"{other}\"{}",
        &text[..at],
        &text[at + needle.len()..]
    );
    std::fs::write(&path, forced).unwrap();
    let third = Builder::new(cfg(&path)).build(convnet()).unwrap();
    assert!(
        third
            .layers()
            .iter()
            .any(|l| l.tactic == other && l.choice == TacticChoice::Cache),
        "{:?}",
        third.layers()
    );
    let _ = std::fs::remove_file(&path);
}

/// The same model built twice with one cache file: same tactics for every layer, the second
/// build times nothing. Both build times are printed (speed is measured by benchmarks, not
/// asserted here).
#[test]
fn cached_build_gives_the_same_tactics() {
    let path = temp_path("same.json");
    let t0 = Instant::now();
    let first = Builder::new(cfg(&path)).build(convnet()).unwrap();
    let cold = t0.elapsed();
    let t1 = Instant::now();
    let second = Builder::new(cfg(&path)).build(convnet()).unwrap();
    let warm = t1.elapsed();
    eprintln!("build without cache: {cold:?}; with cache: {warm:?}");
    let tactics = |e: &kiln_engine::Engine| -> Vec<(String, String)> {
        e.layers()
            .iter()
            .map(|l| (l.name.clone(), l.tactic.clone()))
            .collect()
    };
    assert_eq!(tactics(&first), tactics(&second));
    assert!(
        second
            .layers()
            .iter()
            .all(|l| l.choice != TacticChoice::Measured)
    );
    assert!(
        second
            .layers()
            .iter()
            .any(|l| l.choice == TacticChoice::Cache)
    );
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
