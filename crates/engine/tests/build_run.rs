//! Build -> serialize -> deserialize -> run, against the reference evaluator.

mod common;

use common::*;
use kiln_core::{DataType, Graph, Node, Shape, Tensor, UnresolvedOp, ValueInfo};
use kiln_engine::{BuildEvent, Builder, BuilderConfig, Engine, TacticChoice};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn config(shapes: &[(&str, Vec<usize>)]) -> BuilderConfig {
    BuilderConfig {
        threads: Some(2),
        shapes: shapes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..BuilderConfig::default()
    }
}

#[test]
fn mlp_round_trip_matches_reference() {
    let g = mlp();
    let events = Mutex::new(Vec::new());
    let engine = Builder::new(config(&[("x", vec![3, 8])]))
        .build_with_progress(g.clone(), &|e| events.lock().unwrap().push(e))
        .unwrap();
    // The optimizer removed the Identity, the dead Sigmoid, folded s1 * s2 and fused
    // MatMul + Add + Relu into one layer that names its original nodes.
    let names: Vec<&str> = engine.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mm", "mul"]);
    let mm = &engine.layers()[0];
    assert_eq!(mm.op_type, "FusedMatMul");
    assert_eq!(mm.fused, ["mm", "bias", "act"]);
    // A fast tactic (the reference is never timed) runs the fused layer: the packed and the
    // gemm-crate tactics are timed on the fixed shapes and the faster kept.
    assert!(
        matches!(mm.tactic.as_str(), "packed" | "gemm"),
        "{}",
        mm.tactic
    );
    assert_eq!(mm.choice, TacticChoice::Measured);
    assert_eq!(mm.precision, "fp32");
    assert_eq!(mm.input_shapes[0].as_ref().unwrap(), &Shape::fixed(&[3, 8]));
    let events = events.into_inner().unwrap();
    let done = events
        .iter()
        .filter(|e| matches!(e, BuildEvent::LayerDone { total: 2, .. }))
        .count();
    assert_eq!(done, 2);
    assert!(matches!(
        events.last(),
        Some(BuildEvent::Finished { layers: 2, .. })
    ));

    let bytes = engine.serialize().unwrap();
    assert!(kiln_engine::is_plan(&bytes));
    let loaded = Engine::deserialize(&bytes).unwrap();
    assert_eq!(loaded.layers(), engine.layers());
    assert_eq!(loaded.memory_plan(), engine.memory_plan());
    assert_eq!(loaded.inputs(), engine.inputs());
    assert_eq!(loaded.target(), engine.target());
    // Serialization is deterministic.
    assert_eq!(loaded.serialize().unwrap(), bytes);

    // Any batch size: symbolic dims bind at run time.
    for batch in [1, 3, 7] {
        let inputs: HashMap<String, Tensor> = [("x".to_string(), tensor(&[batch, 8], 5))].into();
        let want = reference(&g, &inputs);
        let got = loaded.create_context().run(inputs).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "y");
        assert_eq!(got[1].0, "z");
        assert_close(&got[0].1, &want[0]);
        assert_close(&got[1].1, &want[1]);
    }
}

#[test]
fn convnet_round_trip_through_a_file() {
    let g = convnet();
    let engine = Builder::new(config(&[])).build(g.clone()).unwrap();
    // Fixed input shapes: conv layers are timed without any shapes given.
    for l in engine.layers().iter().filter(|l| l.op_type == "Conv") {
        assert_eq!(l.choice, TacticChoice::Measured, "{l:?}");
        assert!(l.time_us.is_some());
        assert!(
            l.tactic == "im2col-gemm"
                || l.tactic == "direct"
                || l.tactic.starts_with("packed-")
                || l.tactic.starts_with("im2col-tiled-"),
            "{l:?}"
        );
    }
    let mp = engine.memory_plan();
    assert!(mp.peak_bytes > 0 && mp.peak_bytes <= mp.naive_bytes);
    let path = temp_path("convnet.plan");
    engine.save(&path).unwrap();
    let loaded = Engine::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let inputs: HashMap<String, Tensor> = [("x".to_string(), tensor(&[1, 3, 9, 9], 9))].into();
    let want = reference(&g, &inputs);
    let got = loaded.create_context().run(inputs).unwrap();
    assert_close(&got[0].1, &want[0]);
}

#[test]
fn two_contexts_on_two_threads() {
    let g = mlp();
    let engine = Builder::new(config(&[("x", vec![2, 8])]))
        .build(g.clone())
        .unwrap();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let mut ctx = engine.create_context();
            let g = g.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let inputs: HashMap<String, Tensor> =
                        [("x".to_string(), tensor(&[2 + t, 8], 100 * t as u64 + i))].into();
                    let want = reference(&g, &inputs);
                    let got = ctx.run(inputs).unwrap();
                    assert_close(&got[0].1, &want[0]);
                    assert_close(&got[1].1, &want[1]);
                }
                ctx.runs()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 5);
    }
}

#[test]
fn every_unresolved_node_is_listed() {
    let mut g = mlp();
    for (name, op) in [("p1", "FancyOp"), ("p2", "OtherOp")] {
        g.nodes.push(Node {
            name: name.into(),
            domain: "com.example".into(),
            op: Arc::new(UnresolvedOp {
                name: op.into(),
                namespace: "com.example".into(),
                version: "1".into(),
                reason: "no such op".into(),
            }),
            attrs: Default::default(),
            inputs: vec!["x".into()],
            outputs: vec![format!("{name}_out")],
        });
    }
    let err = Builder::new(config(&[])).build(g).unwrap_err().to_string();
    assert!(err.contains("2 unsupported"), "{err}");
    for s in ["p1", "FancyOp", "p2", "OtherOp"] {
        assert!(err.contains(s), "{err}");
    }
}

#[test]
fn build_shapes_must_fit_the_graph() {
    let err = Builder::new(config(&[("x", vec![3, 9]), ("nope", vec![1])]))
        .build(mlp())
        .unwrap_err()
        .to_string();
    assert!(err.contains("'nope' is not an input"), "{err}");
    assert!(err.contains("[3, 9]"), "{err}");
}

#[test]
fn input_errors_name_inputs_expected_and_actual() {
    let mut g = mlp();
    g.inputs
        .push(ValueInfo::tensor("x2", DataType::F32, Shape::fixed(&[2])));
    let engine = Builder::new(config(&[])).build(g).unwrap();
    let mut ctx = engine.create_context();

    let err = ctx.run(HashMap::new()).unwrap_err().to_string();
    assert!(err.contains("missing input(s): x, x2"), "{err}");

    let mut inputs: HashMap<String, Tensor> = HashMap::new();
    inputs.insert("x".into(), tensor(&[2, 8], 1));
    inputs.insert("x2".into(), tensor(&[2], 1));
    inputs.insert("extra".into(), tensor(&[2], 1));
    let err = ctx.run(inputs.clone()).unwrap_err().to_string();
    assert!(err.contains("unexpected input(s) extra"), "{err}");

    inputs.remove("extra");
    inputs.insert(
        "x".into(),
        Tensor::from_vec(&[2, 8], vec![1i32; 16]).unwrap(),
    );
    let err = ctx.run(inputs.clone()).unwrap_err().to_string();
    assert!(
        err.contains("input 'x': expected dtype f32, got i32"),
        "{err}"
    );

    inputs.insert("x".into(), tensor(&[2, 7], 1));
    let err = ctx.run(inputs.clone()).unwrap_err().to_string();
    assert!(
        err.contains("input 'x': expected shape [batch,8], got [2, 7]"),
        "{err}"
    );

    inputs.insert("x".into(), tensor(&[2, 8], 1));
    assert_eq!(ctx.run(inputs).unwrap().len(), 2);
}

#[test]
fn symbolic_dims_must_agree_across_inputs() {
    let mut g = Graph::new("two");
    let sym = || Shape(vec![kiln_core::Dim::Sym("n".into())]);
    g.inputs.push(ValueInfo::tensor("a", DataType::F32, sym()));
    g.inputs.push(ValueInfo::tensor("b", DataType::F32, sym()));
    g.outputs.push(ValueInfo::tensor("c", DataType::F32, sym()));
    g.nodes.push(
        Node::builtin(
            "add",
            "Add",
            Default::default(),
            vec!["a".into(), "b".into()],
            vec!["c".into()],
        )
        .unwrap(),
    );
    let engine = Builder::new(config(&[])).build(g).unwrap();
    let inputs: HashMap<String, Tensor> = [
        ("a".to_string(), tensor(&[3], 1)),
        ("b".to_string(), tensor(&[4], 2)),
    ]
    .into();
    let err = engine.create_context().run(inputs).unwrap_err().to_string();
    assert!(err.contains("dimension 'n'"), "{err}");
}

#[test]
fn layer_profile_counts_every_layer_of_profiled_runs() {
    let g = mlp();
    let engine = Builder::new(config(&[("x", vec![2, 8])]))
        .build(g.clone())
        .unwrap();
    let mut ctx = engine.create_context();
    let inputs = || -> HashMap<String, Tensor> { [("x".to_string(), tensor(&[2, 8], 3))].into() };
    ctx.run(inputs()).unwrap();
    assert!(ctx.layer_profile().is_empty() || std::env::var("KILN_PROFILE").is_ok());
    ctx.set_profiling(true);
    for _ in 0..3 {
        ctx.run(inputs()).unwrap();
    }
    let rows = ctx.layer_profile();
    let mut names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = engine.layers().iter().map(|l| l.name.as_str()).collect();
    want.sort_unstable();
    assert_eq!(names, want);
    assert!(rows.iter().all(|r| r.3 == 3 && r.2 >= 0.0), "{rows:?}");
    assert!(rows.windows(2).all(|w| w[0].2 >= w[1].2), "slowest first");
    let tactics: Vec<&str> = engine.layers().iter().map(|l| l.tactic.as_str()).collect();
    assert!(rows.iter().all(|r| tactics.contains(&r.1.as_str())));
    ctx.set_profiling(false);
    assert!(ctx.layer_profile().is_empty());
}
