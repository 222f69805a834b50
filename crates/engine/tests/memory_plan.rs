//! The memory plan reuses bytes of values that are never alive together.

mod common;

use common::*;
use kiln_engine::{Builder, BuilderConfig};

#[test]
fn plan_reuses_and_never_overlaps_live_values() {
    let cfg = BuilderConfig {
        threads: Some(1),
        tune: false,
        shapes: [("x".to_string(), vec![4, 8])].into(),
        ..BuilderConfig::default()
    };
    let engine = Builder::new(cfg).build(mlp()).unwrap();
    let mp = engine.memory_plan();
    // h, h2, r (intermediates) and z (output): 4 x 16 f32 = 256 bytes each.
    assert_eq!(mp.buffers.len(), 4, "{mp:?}");
    assert!(
        mp.buffers
            .iter()
            .all(|b| b.size == 256 && b.offset % 64 == 0)
    );
    assert_eq!(mp.naive_bytes, 4 * 256);
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
