//! Test graphs and helpers shared by the engine tests.
#![allow(dead_code)]

use kiln_core::{
    Attribute, Attributes, DataType, Dim, Graph, Node, Shape, Tensor, ValueInfo, run_tensors,
};
use std::collections::HashMap;

/// Deterministic pseudo-random f32 data in [-1, 1).
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn tensor(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(shape, data(shape.iter().product(), seed)).unwrap()
}

fn node(name: &str, op: &str, attrs: Attributes, ins: &[&str], outs: &[&str]) -> Node {
    Node::builtin(
        name,
        op,
        attrs,
        ins.iter().map(|s| s.to_string()).collect(),
        outs.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap()
}

/// x[batch, 8] -> MatMul(W) -> Add(b) -> Relu -> Identity -> y; z = r * (s1 * s2) (foldable);
/// a dead Sigmoid branch.
pub fn mlp() -> Graph {
    let mut g = Graph::new("mlp");
    g.inputs.push(ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape(vec![Dim::Sym("batch".into()), Dim::Fixed(8)]),
    ));
    g.outputs.push(ValueInfo::tensor(
        "y",
        DataType::F32,
        Shape(vec![Dim::Sym("batch".into()), Dim::Fixed(16)]),
    ));
    g.outputs.push(ValueInfo::tensor(
        "z",
        DataType::F32,
        Shape(vec![Dim::Sym("batch".into()), Dim::Fixed(16)]),
    ));
    g.initializers.insert("W".into(), tensor(&[8, 16], 11));
    g.initializers.insert("b".into(), tensor(&[16], 12));
    g.initializers.insert("s1".into(), tensor(&[16], 13));
    g.initializers
        .insert("s2".into(), Tensor::from_vec(&[1], vec![2.0f32]).unwrap());
    g.nodes = vec![
        node("mm", "MatMul", Attributes::new(), &["x", "W"], &["h"]),
        node("bias", "Add", Attributes::new(), &["h", "b"], &["h2"]),
        node("act", "Relu", Attributes::new(), &["h2"], &["r"]),
        node("id", "Identity", Attributes::new(), &["r"], &["y"]),
        node("dead", "Sigmoid", Attributes::new(), &["x"], &["unused"]),
        node("scale", "Mul", Attributes::new(), &["s1", "s2"], &["sc"]),
        node("mul", "Mul", Attributes::new(), &["r", "sc"], &["z"]),
    ];
    g
}

/// x[1, 3, 9, 9] -> Conv(3x3, pads 1, bias) -> Relu -> Conv(grouped 1x1) -> y.
pub fn convnet() -> Graph {
    let mut g = Graph::new("convnet");
    g.inputs.push(ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape::fixed(&[1, 3, 9, 9]),
    ));
    g.outputs.push(ValueInfo::tensor(
        "y",
        DataType::F32,
        Shape::fixed(&[1, 4, 9, 9]),
    ));
    g.initializers
        .insert("w1".into(), tensor(&[4, 3, 3, 3], 21));
    g.initializers.insert("b1".into(), tensor(&[4], 22));
    g.initializers
        .insert("w2".into(), tensor(&[4, 2, 1, 1], 23));
    g.nodes = vec![
        node(
            "conv1",
            "Conv",
            Attributes::new().with("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            &["x", "w1", "b1"],
            &["c1"],
        ),
        node("relu1", "Relu", Attributes::new(), &["c1"], &["r1"]),
        node(
            "conv2",
            "Conv",
            Attributes::new().with("group", Attribute::Int(2)),
            &["r1", "w2"],
            &["y"],
        ),
    ];
    g
}

/// The reference results of `g` on `inputs`.
pub fn reference(g: &Graph, inputs: &HashMap<String, Tensor>) -> Vec<Tensor> {
    run_tensors(g, inputs.clone()).unwrap()
}

pub fn assert_close(a: &Tensor, b: &Tensor) {
    assert_eq!(a.shape(), b.shape());
    let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    for (p, q) in x.iter().zip(&y) {
        assert!((p - q).abs() <= 1e-5 + 1e-4 * q.abs(), "{p} vs {q}");
    }
}

/// A fresh path in the temp dir.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("kiln-engine-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}
