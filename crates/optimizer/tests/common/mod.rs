//! Helpers for pass tests: small graph builders, random inputs, and a check that a pass keeps
//! results equal on the core reference evaluator.
#![allow(dead_code)]

use kiln_core::{
    Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, TensorFact, ValueInfo, ValueType,
    run_tensors,
};
use kiln_optimizer::{Pass, PassReport};
use std::collections::HashMap;

/// A builtin node.
pub fn node(name: &str, op: &str, attrs: Attributes, ins: &[&str], outs: &[&str]) -> Node {
    Node::builtin(
        name,
        op,
        attrs,
        ins.iter().map(|s| s.to_string()).collect(),
        outs.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap_or_else(|e| panic!("node {name}: {e}"))
}

/// A node without attributes.
pub fn n(name: &str, op: &str, ins: &[&str], outs: &[&str]) -> Node {
    node(name, op, Attributes::new(), ins, outs)
}

/// Attributes from (name, value) pairs.
pub fn attrs(items: &[(&str, Attribute)]) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in items {
        a.set(k, v.clone());
    }
    a
}

/// Deterministic pseudo-random floats in [-1, 1).
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let count: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..count)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

/// A positive random tensor (variances).
pub fn positive(shape: &[usize], seed: u64) -> Tensor {
    let v: Vec<f32> = random(shape, seed)
        .to_f64_vec()
        .unwrap()
        .iter()
        .map(|x| (x.abs() + 0.5) as f32)
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

/// A scalar f32 constant.
pub fn scalar(v: f32) -> Tensor {
    Tensor::scalar(v)
}

/// An i64 vector constant.
pub fn ints(v: &[i64]) -> Tensor {
    Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
}

/// A graph with f32 inputs of fixed shapes, outputs of unknown shape, initializers and nodes.
pub fn graph(
    inputs: &[(&str, &[usize])],
    outputs: &[&str],
    inits: Vec<(&str, Tensor)>,
    nodes: Vec<Node>,
) -> Graph {
    let mut g = Graph::new("test");
    for (name, shape) in inputs {
        g.inputs
            .push(ValueInfo::tensor(*name, DataType::F32, Shape::fixed(shape)));
    }
    for o in outputs {
        g.outputs.push(ValueInfo {
            name: o.to_string(),
            ty: ValueType::Tensor(TensorFact::dtype_only(DataType::F32)),
        });
    }
    for (k, t) in inits {
        g.initializers.insert(k.to_string(), t);
    }
    g.nodes = nodes;
    g
}

/// Random values for every graph input.
pub fn random_inputs(g: &Graph, seed: u64) -> HashMap<String, Tensor> {
    g.inputs
        .iter()
        .enumerate()
        .map(|(i, vi)| {
            let shape = vi
                .ty
                .tensor()
                .and_then(|f| f.shape.as_ref())
                .and_then(Shape::as_fixed)
                .expect("test inputs have fixed shapes");
            (vi.name.clone(), random(&shape, seed + i as u64))
        })
        .collect()
}

/// Run `pass` on a copy of `g`; check results equal on random inputs (relative tolerance);
/// return the new graph and the report.
pub fn apply(pass: &dyn Pass, g: &Graph, tol: f64) -> (Graph, PassReport) {
    let mut after = g.clone();
    let report = pass.run(&mut after).expect("pass runs");
    assert_same(g, &after, tol);
    (after, report)
}

/// Both graphs give the same outputs (within `tol`, relative to the magnitude) on random
/// inputs (three seeds).
pub fn assert_same(before: &Graph, after: &Graph, tol: f64) {
    for seed in [1, 7, 42] {
        let inputs = random_inputs(before, seed);
        let a = run_tensors(before, inputs.clone()).expect("original graph runs");
        let b = run_tensors(after, inputs).expect("optimized graph runs");
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.shape(), y.shape(), "output shapes differ");
            let (xv, yv) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
            for (p, q) in xv.iter().zip(&yv) {
                assert!(
                    (p - q).abs() <= tol * (1.0 + p.abs()),
                    "results differ: {p} vs {q}"
                );
            }
        }
    }
}

/// Op types of the graph's nodes, in order.
pub fn ops(g: &Graph) -> Vec<String> {
    g.nodes.iter().map(|n| n.op_type().to_string()).collect()
}

/// The node of op type `op` (exactly one must exist).
pub fn only<'g>(g: &'g Graph, op: &str) -> &'g Node {
    let found: Vec<&Node> = g.nodes.iter().filter(|n| n.op_type() == op).collect();
    assert_eq!(found.len(), 1, "expected one {op} in {:?}", ops(g));
    found[0]
}

/// The string attribute `name` of `node`.
pub fn sattr(node: &Node, name: &str) -> String {
    node.attrs
        .string(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no attribute {name}", node.name))
}
