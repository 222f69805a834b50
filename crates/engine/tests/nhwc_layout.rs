//! CPU builds run wide conv networks channels-last: the layers, the plan round trip and the
//! results (any batch) against the reference evaluator, and `nhwc: false` keeping NCHW.

mod common;

use common::*;
use kiln_core::{Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, ValueInfo};
use kiln_engine::{Builder, BuilderConfig, Engine};
use std::collections::HashMap;

fn node(name: &str, op: &str, attrs: Attributes, ins: &[&str], outs: &[&str]) -> Node {
    let ins = ins.iter().map(|s| s.to_string()).collect();
    let outs = outs.iter().map(|s| s.to_string()).collect();
    Node::builtin(name, op, attrs, ins, outs).unwrap()
}

fn pads(p: i64) -> Attribute {
    Attribute::Ints(vec![p; 4])
}

/// conv 3x3 (64) + Relu -> MaxPool 2x2 -> depthwise 3x3 + Clip -> conv 1x1 + residual ->
/// conv 3x3 stride 2 -> GlobalAveragePool: every NHWC kernel and pool of the CPU path.
fn wide_convnet() -> Graph {
    let mut g = Graph::new("wide");
    g.inputs.push(ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape(vec![
            kiln_core::Dim::Sym("N".into()),
            kiln_core::Dim::Fixed(5),
            kiln_core::Dim::Fixed(12),
            kiln_core::Dim::Fixed(10),
        ]),
    ));
    g.outputs
        .push(ValueInfo::tensor("y", DataType::F32, Shape(Vec::new())));
    for (name, shape, seed) in [
        ("w1", vec![64, 5, 3, 3], 1),
        ("b1", vec![64], 2),
        ("wd", vec![64, 1, 3, 3], 3),
        ("w2", vec![64, 64, 1, 1], 4),
        ("w3", vec![40, 64, 3, 3], 5),
    ] {
        let t = tensor(&shape, seed);
        let scaled: Vec<f32> = t
            .to_f64_vec()
            .unwrap()
            .iter()
            .map(|v| (*v * 0.3) as f32)
            .collect();
        g.initializers
            .insert(name.into(), Tensor::from_vec(&shape, scaled).unwrap());
    }
    let clip = Attributes::new();
    g.initializers.insert("lo".into(), Tensor::scalar(0.0f32));
    g.initializers.insert("hi".into(), Tensor::scalar(0.5f32));
    g.nodes = vec![
        node(
            "c1",
            "Conv",
            Attributes::new().with("pads", pads(1)),
            &["x", "w1", "b1"],
            &["a"],
        ),
        node("r1", "Relu", Attributes::new(), &["a"], &["ra"]),
        node(
            "pool",
            "MaxPool",
            Attributes::new()
                .with("kernel_shape", Attribute::Ints(vec![2, 2]))
                .with("strides", Attribute::Ints(vec![2, 2])),
            &["ra"],
            &["p"],
        ),
        node(
            "dw",
            "Conv",
            Attributes::new()
                .with("pads", pads(1))
                .with("group", Attribute::Int(64)),
            &["p", "wd"],
            &["d"],
        ),
        node("clip", "Clip", clip, &["d", "lo", "hi"], &["dc"]),
        node("c2", "Conv", Attributes::new(), &["dc", "w2"], &["e"]),
        node("add", "Add", Attributes::new(), &["e", "p"], &["s"]),
        node(
            "c3",
            "Conv",
            Attributes::new()
                .with("pads", pads(1))
                .with("strides", Attribute::Ints(vec![2, 2])),
            &["s", "w3"],
            &["f"],
        ),
        node(
            "gap",
            "GlobalAveragePool",
            Attributes::new(),
            &["f"],
            &["y"],
        ),
    ];
    g
}

fn config(nhwc: bool) -> BuilderConfig {
    BuilderConfig {
        threads: Some(2),
        shapes: [("x".to_string(), vec![2, 5, 12, 10])].into(),
        nhwc,
        ..BuilderConfig::default()
    }
}

#[test]
fn wide_convnet_runs_nhwc_and_matches_the_reference() {
    let g = wide_convnet();
    let engine = Builder::new(config(true)).build(g.clone()).unwrap();
    let layers = engine.layers();
    let op = |name: &str| layers.iter().find(|l| l.name == name).unwrap();
    for conv in ["c1", "dw", "c2", "c3"] {
        assert_eq!(op(conv).op_type, "FusedConv", "{conv}");
    }
    assert!(
        op("c1").tactic.starts_with("nhwc-igemm"),
        "{}",
        op("c1").tactic
    );
    assert_eq!(op("dw").tactic, "nhwc-depthwise");
    assert_eq!(op("pool").op_type, "NhwcPool");
    assert_eq!(op("gap").op_type, "NhwcPool");
    // One Transpose in, one out: the others cancelled.
    let transposes = layers.iter().filter(|l| l.op_type == "Transpose").count();
    assert_eq!(
        transposes,
        2,
        "{:?}",
        layers.iter().map(|l| &l.name).collect::<Vec<_>>()
    );

    let bytes = engine.serialize().unwrap();
    let loaded = Engine::deserialize(&bytes).unwrap();
    assert_eq!(loaded.layers(), engine.layers());
    for batch in [1, 2, 3] {
        let inputs: HashMap<String, Tensor> =
            [("x".to_string(), tensor(&[batch, 5, 12, 10], 9))].into();
        let want = reference(&g, &inputs);
        let got = loaded.create_context().run(inputs).unwrap();
        assert_eq!(got[0].0, "y");
        assert_close(&got[0].1, &want[0]);
    }
}

#[test]
fn nchw_builds_keep_every_conv_nchw() {
    let g = wide_convnet();
    let engine = Builder::new(config(false)).build(g.clone()).unwrap();
    assert!(engine.layers().iter().all(|l| l.op_type != "NhwcPool"
        && l.op_type != "Transpose"
        && !l.tactic.starts_with("nhwc")));
    let inputs: HashMap<String, Tensor> = [("x".to_string(), tensor(&[2, 5, 12, 10], 9))].into();
    let want = reference(&g, &inputs);
    let got = engine.create_context().run(inputs).unwrap();
    assert_close(&got[0].1, &want[0]);
}
