//! Each pass fires where it should, not where it must not, and never changes results.

use kiln_core::{
    Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, ValueInfo, run_tensors,
};
use kiln_optimizer::{ConstantFolding, DeadNodeElimination, IdentityRemoval, Pass, optimize};
use std::collections::HashMap;
use std::sync::Arc;

fn node(name: &str, op: &str, ins: &[&str], outs: &[&str]) -> Node {
    Node::builtin(
        name,
        op,
        Attributes::new(),
        ins.iter().map(|s| s.to_string()).collect(),
        outs.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap()
}

fn vec4(v: [f32; 4]) -> Tensor {
    Tensor::from_vec(&[4], v.to_vec()).unwrap()
}

fn graph(outputs: &[&str], nodes: Vec<Node>) -> Graph {
    let mut g = Graph::new("t");
    g.inputs
        .push(ValueInfo::tensor("x", DataType::F32, Shape::fixed(&[4])));
    for o in outputs {
        g.outputs
            .push(ValueInfo::tensor(*o, DataType::F32, Shape::fixed(&[4])));
    }
    g.initializers
        .insert("c1".into(), vec4([1.0, 2.0, 3.0, 4.0]));
    g.initializers
        .insert("c2".into(), vec4([0.5, -1.0, 2.0, 0.0]));
    g.nodes = nodes;
    g
}

fn results(g: &Graph) -> Vec<Tensor> {
    let inputs: HashMap<String, Tensor> = [("x".to_string(), vec4([-1.0, 0.5, 2.0, -3.0]))].into();
    run_tensors(g, inputs).unwrap()
}

fn names(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn identity_removal_rewires_readers() {
    let before = graph(
        &["y"],
        vec![
            node("id1", "Identity", &["x"], &["a"]),
            node("relu", "Relu", &["a"], &["b"]),
            node("id2", "Identity", &["b"], &["c"]),
            node("add", "Add", &["c", "c1"], &["y"]),
        ],
    );
    let mut g = before.clone();
    let r = IdentityRemoval.run(&mut g).unwrap();
    assert_eq!(names(&g), ["relu", "add"]);
    assert_eq!(r.changes.len(), 2);
    assert_eq!(g.nodes[0].inputs, ["x"]);
    assert_eq!(g.nodes[1].inputs, ["b", "c1"]);
    assert_eq!(results(&g), results(&before));
}

#[test]
fn identity_feeding_a_graph_output_keeps_the_output_name() {
    let before = graph(
        &["y"],
        vec![
            node("relu", "Relu", &["x"], &["a"]),
            node("id", "Identity", &["a"], &["y"]),
        ],
    );
    let mut g = before.clone();
    IdentityRemoval.run(&mut g).unwrap();
    assert_eq!(names(&g), ["relu"]);
    assert_eq!(g.nodes[0].outputs, ["y"]);
    assert_eq!(results(&g), results(&before));

    // Input passed straight to an output: nothing can take the name; the node stays.
    let mut g = graph(&["y"], vec![node("id", "Identity", &["x"], &["y"])]);
    let r = IdentityRemoval.run(&mut g).unwrap();
    assert!(r.changes.is_empty());
    assert_eq!(names(&g), ["id"]);

    // Both sides are graph outputs: must stay.
    let mut g = graph(
        &["a", "y"],
        vec![
            node("relu", "Relu", &["x"], &["a"]),
            node("id", "Identity", &["a"], &["y"]),
        ],
    );
    assert!(IdentityRemoval.run(&mut g).unwrap().changes.is_empty());
}

#[test]
fn dropout_is_removed_only_in_inference_without_mask_readers() {
    let before = graph(
        &["y"],
        vec![
            node("drop", "Dropout", &["x"], &["d"]),
            node("relu", "Relu", &["d"], &["y"]),
        ],
    );
    let mut g = before.clone();
    IdentityRemoval.run(&mut g).unwrap();
    assert_eq!(names(&g), ["relu"]);
    assert_eq!(results(&g), results(&before));

    // The mask is a graph output: keep.
    let mut g = graph(
        &["y", "mask"],
        vec![
            node("drop", "Dropout", &["x"], &["d", "mask"]),
            node("relu", "Relu", &["d"], &["y"]),
        ],
    );
    assert!(IdentityRemoval.run(&mut g).unwrap().changes.is_empty());

    // Training mode fed by a graph input: keep.
    let mut g = graph(
        &["y"],
        vec![
            node("drop", "Dropout", &["x", "", "train"], &["d"]),
            node("relu", "Relu", &["d"], &["y"]),
        ],
    );
    g.inputs.push(ValueInfo::tensor(
        "train",
        DataType::Bool,
        Shape::fixed(&[]),
    ));
    assert!(IdentityRemoval.run(&mut g).unwrap().changes.is_empty());
}

#[test]
fn dead_nodes_go_recursively_and_live_ones_stay() {
    let before = graph(
        &["y"],
        vec![
            node("relu", "Relu", &["x"], &["y"]),
            node("d1", "Sigmoid", &["x"], &["t1"]),
            node("d2", "Add", &["t1", "c2"], &["t2"]),
            node("d3", "Relu", &["t2"], &["t3"]),
        ],
    );
    let mut g = before.clone();
    let r = DeadNodeElimination.run(&mut g).unwrap();
    assert_eq!(names(&g), ["relu"]);
    assert!(r.changes.iter().any(|c| c.contains("'d1'")));
    assert!(
        r.changes
            .iter()
            .any(|c| c.contains("unused initializer 'c2'"))
    );
    assert!(!g.initializers.contains_key("c1"));
    assert_eq!(results(&g), results(&before));

    // Nothing dead: nothing removed.
    let mut g = graph(&["y"], vec![node("add", "Add", &["x", "c1"], &["y"])]);
    let r = DeadNodeElimination.run(&mut g).unwrap();
    assert_eq!(
        r.changes,
        vec!["removed unused initializer 'c2'".to_string()]
    );
    assert_eq!(names(&g), ["add"]);
}

#[test]
fn constant_folding_folds_constant_chains_only() {
    let before = graph(
        &["y"],
        vec![
            node("k1", "Add", &["c1", "c2"], &["k"]),
            node("k2", "Mul", &["k", "c2"], &["kk"]),
            node("live", "Add", &["x", "kk"], &["y"]),
        ],
    );
    let mut g = before.clone();
    let r = ConstantFolding::default().run(&mut g).unwrap();
    assert_eq!(names(&g), ["live"]);
    assert_eq!(r.changes.len(), 2);
    assert_eq!(
        g.initializers["kk"],
        vec4([(1.0 + 0.5) * 0.5, -(2.0 - 1.0), (3.0 + 2.0) * 2.0, 0.0])
    );
    assert_eq!(results(&g), results(&before));
}

#[test]
fn constant_folding_respects_budget_and_overridable_initializers() {
    let mk = || {
        graph(
            &["y"],
            vec![
                node("k1", "Add", &["c1", "c2"], &["k"]),
                node("live", "Add", &["x", "k"], &["y"]),
            ],
        )
    };
    // Budget too small (16 bytes result > 8).
    let mut g = mk();
    let r = ConstantFolding {
        max_output_bytes: 8,
    }
    .run(&mut g)
    .unwrap();
    assert!(r.changes.is_empty());
    assert_eq!(names(&g), ["k1", "live"]);

    // c2 is also a graph input (callers may override it): not constant.
    let mut g = mk();
    g.inputs
        .push(ValueInfo::tensor("c2", DataType::F32, Shape::fixed(&[4])));
    assert!(
        ConstantFolding::default()
            .run(&mut g)
            .unwrap()
            .changes
            .is_empty()
    );
}

#[test]
fn ops_with_subgraphs_are_never_folded() {
    let mut then_g = Graph::new("then");
    then_g
        .outputs
        .push(ValueInfo::tensor("c1", DataType::F32, Shape::fixed(&[4])));
    let mut else_g = Graph::new("else");
    else_g
        .outputs
        .push(ValueInfo::tensor("c2", DataType::F32, Shape::fixed(&[4])));
    let attrs = Attributes::new()
        .with("then_branch", Attribute::Graph(Arc::new(then_g)))
        .with("else_branch", Attribute::Graph(Arc::new(else_g)));
    let iff = Node::builtin("if", "If", attrs, vec!["cond".into()], vec!["v".into()]).unwrap();
    let mut g = graph(&["y"], vec![iff, node("live", "Add", &["x", "v"], &["y"])]);
    g.initializers.insert("cond".into(), Tensor::scalar(true));
    let before = g.clone();
    let r = ConstantFolding::default().run(&mut g).unwrap();
    assert!(r.changes.is_empty());
    // The subgraphs read c1/c2 from the enclosing graph: dead-node elimination keeps them.
    let r = DeadNodeElimination.run(&mut g).unwrap();
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(results(&g), results(&before));
}

#[test]
fn default_pipeline_keeps_results_and_output_names() {
    let before = graph(
        &["y", "z"],
        vec![
            node("id", "Identity", &["x"], &["xi"]),
            node("k", "Mul", &["c1", "c2"], &["k"]),
            node("a", "Add", &["xi", "k"], &["a"]),
            node("relu", "Relu", &["a"], &["r"]),
            node("out", "Identity", &["r"], &["y"]),
            node("z", "Sigmoid", &["r"], &["z"]),
            node("dead", "Relu", &["k"], &["unused"]),
        ],
    );
    let mut g = before.clone();
    let reports = optimize(&mut g).unwrap();
    assert_eq!(reports.len(), kiln_optimizer::default_passes().len());
    assert_eq!(names(&g), ["a", "relu", "z"]);
    let outs: Vec<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, ["y", "z"]);
    assert_eq!(results(&g), results(&before));
}
