//! The memory plan reuses bytes of values that are never alive together.

mod common;

use common::*;
use kiln_engine::{Builder, BuilderConfig};

#[test]
fn plan_reuses_and_never_overlaps_live_values() {
    // Unoptimized, so the MatMul -> Add -> Relu -> Identity chain keeps its intermediates.
    let cfg = BuilderConfig {
        threads: Some(1),
        tune: false,
        optimize: false,
        shapes: [("x".to_string(), vec![4, 8])].into(),
        ..BuilderConfig::default()
    };
    let engine = Builder::new(cfg).build(mlp()).unwrap();
    let mp = engine.memory_plan();
    // h, h2, r, y are 4 x 16 f32 = 256 bytes each.
    assert!(
        mp.buffers.iter().filter(|b| b.size == 256).count() >= 4,
        "{mp:?}"
    );
    assert!(mp.buffers.iter().all(|b| b.offset % 64 == 0));
    let aligned: u64 = mp.buffers.iter().map(|b| b.size.div_ceil(64) * 64).sum();
    assert_eq!(mp.naive_bytes, aligned);
    assert!(mp.peak_bytes < mp.naive_bytes, "{mp:?}");
    for (i, a) in mp.buffers.iter().enumerate() {
        for b in &mp.buffers[i + 1..] {
            let live_together = a.first_layer <= b.last_layer && b.first_layer <= a.last_layer;
            let overlap = a.offset < b.offset + b.size && b.offset < a.offset + a.size;
            assert!(!(live_together && overlap), "{a:?} / {b:?}");
        }
    }
    // The plan is stored in the plan file.
    let loaded = kiln_engine::Engine::deserialize(&engine.serialize().unwrap()).unwrap();
    assert_eq!(loaded.memory_plan(), mp);
}

#[test]
fn symbolic_shapes_leave_values_unplanned() {
    let cfg = BuilderConfig {
        threads: Some(1),
        tune: false,
        ..BuilderConfig::default()
    };
    let engine = Builder::new(cfg).build(mlp()).unwrap();
    assert!(engine.memory_plan().buffers.is_empty());
}
