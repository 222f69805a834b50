//! Damaged, foreign and future plans are refused with errors that say why.

mod common;

use common::*;
use kiln_engine::plan::{read_container, write_container};
use kiln_engine::{Builder, BuilderConfig, Engine, EngineError};

fn plan_bytes() -> Vec<u8> {
    let cfg = BuilderConfig {
        threads: Some(1),
        tune: false,
        ..BuilderConfig::default()
    };
    Builder::new(cfg).build(mlp()).unwrap().serialize().unwrap()
}

#[test]
fn layout_is_magic_version_header_aligned_weights_crc() {
    let b = plan_bytes();
    assert_eq!(&b[..8], b"KILNPLAN");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    let hlen = u64::from_le_bytes(b[12..20].try_into().unwrap()) as usize;
    let start = (20 + hlen).div_ceil(64) * 64;
    let (header, weights) = read_container(&b).unwrap();
    assert_eq!(weights.len() as u64, header.weights_length);
    assert_eq!(start + weights.len() + 4, b.len());
    let crc = u32::from_le_bytes(b[b.len() - 4..].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&b[..b.len() - 4]));
    // Every initializer lies 64-byte aligned inside the weights section.
    let g = header.graph.unwrap();
    assert!(!g.initializers.is_empty());
    for t in &g.initializers {
        assert_eq!(t.offset % 64, 0);
        assert!(t.offset + t.length <= weights.len() as u64);
    }
}

#[test]
fn corrupted_byte_is_a_checksum_error() {
    let mut b = plan_bytes();
    let i = b.len() - 10;
    b[i] ^= 0x40;
    let err = Engine::deserialize(&b).unwrap_err();
    assert!(matches!(err, EngineError::Corrupted(_)), "{err}");
    assert!(err.to_string().contains("corrupted"), "{err}");
}

#[test]
fn truncated_plans_name_expected_and_actual_length() {
    let b = plan_bytes();
    let full = b.len();
    for cut in [full - 1, full - 100, 30, 15, 3] {
        let err = Engine::deserialize(&b[..cut]).unwrap_err();
        assert!(
            matches!(err, EngineError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("got {cut}")), "{msg}");
    }
    let err = Engine::deserialize(&b[..full - 1]).unwrap_err().to_string();
    assert!(err.contains(&format!("expected {full} bytes")), "{err}");
}

#[test]
fn other_format_version_names_both_versions() {
    let mut b = plan_bytes();
    b[8..12].copy_from_slice(&7u32.to_le_bytes());
    let err = Engine::deserialize(&b).unwrap_err().to_string();
    assert!(err.contains("version 7"), "{err}");
    assert!(err.contains("version 1"), "{err}");
}

#[test]
fn not_a_plan() {
    let err = Engine::deserialize(b"\x08\x01ONNXmodel bytes here")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a Kiln plan"), "{err}");
    assert!(!kiln_engine::is_plan(b"PK\x03\x04"));
}

#[test]
fn foreign_target_names_both_fingerprints() {
    let b = plan_bytes();
    let (mut header, weights) = read_container(&b).unwrap();
    let host = Engine::deserialize(&b).unwrap().target().to_string();
    header
        .target
        .as_mut()
        .unwrap()
        .features
        .push("avx512-imaginary".into());
    let foreign = write_container(&header, weights);
    let err = Engine::deserialize(&foreign).unwrap_err().to_string();
    assert!(err.contains(&format!("{host}+avx512-imaginary")), "{err}");
    assert!(err.contains(&format!("this machine is {host}")), "{err}");
    assert!(err.contains("lacks avx512-imaginary"), "{err}");

    header.target.as_mut().unwrap().backend = "cuda".into();
    let err = Engine::deserialize(&write_container(&header, weights)).unwrap_err();
    // A GPU plan: refused as a target mismatch, or (no usable GPU here) by the GPU check,
    // which names the plan's target.
    match &err {
        EngineError::TargetMismatch { .. } => {}
        EngineError::Gpu(msg) => assert!(msg.contains("GPU target cuda/"), "{msg}"),
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn unknown_op_in_plan_is_reported_by_name() {
    let b = plan_bytes();
    let (mut header, weights) = read_container(&b).unwrap();
    let g = header.graph.as_mut().unwrap();
    g.nodes[0].op_type = "MysteryOp".into();
    let err = Engine::deserialize(&write_container(&header, weights))
        .unwrap_err()
        .to_string();
    assert!(err.contains("MysteryOp") && err.contains("'mm'"), "{err}");
}

#[test]
fn bad_weight_reference_is_an_error_not_a_panic() {
    let b = plan_bytes();
    let (mut header, weights) = read_container(&b).unwrap();
    header.graph.as_mut().unwrap().initializers[0].offset = 1 << 40;
    let err = Engine::deserialize(&write_container(&header, weights))
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the weights section"), "{err}");
}
