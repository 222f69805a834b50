//! Layers with subgraphs (If) run through their op with the enclosing scope, and their
//! nested graphs survive the plan file.

mod common;

use common::*;
use kiln_core::{Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, ValueInfo};
use kiln_engine::{Builder, BuilderConfig, Engine};
use std::collections::HashMap;
use std::sync::Arc;

fn if_graph() -> Graph {
    let f4 = |n: &str| ValueInfo::tensor(n, DataType::F32, Shape::fixed(&[4]));
    let mut then_g = Graph::new("then");
    then_g.outputs.push(f4("t"));
    then_g.initializers.insert("k".into(), tensor(&[4], 3));
    then_g.nodes.push(
        Node::builtin(
            "then_add",
            "Add",
            Attributes::new(),
            vec!["x".into(), "c".into()],
            vec!["t0".into()],
        )
        .unwrap(),
    );
    then_g.nodes.push(
        Node::builtin(
            "then_mul",
            "Mul",
            Attributes::new(),
            vec!["t0".into(), "k".into()],
            vec!["t".into()],
        )
        .unwrap(),
    );
    let mut else_g = Graph::new("else");
    else_g.outputs.push(f4("e"));
    else_g.nodes.push(
        Node::builtin(
            "else_relu",
            "Relu",
            Attributes::new(),
            vec!["x".into()],
            vec!["e".into()],
        )
        .unwrap(),
    );
    let attrs = Attributes::new()
        .with("then_branch", Attribute::Graph(Arc::new(then_g)))
        .with("else_branch", Attribute::Graph(Arc::new(else_g)));
    let mut g = Graph::new("if");
    g.inputs
        .push(ValueInfo::tensor("cond", DataType::Bool, Shape::fixed(&[])));
    g.inputs.push(f4("x"));
    g.outputs.push(f4("y"));
    g.initializers.insert("c".into(), tensor(&[4], 4));
    g.nodes
        .push(Node::builtin("if", "If", attrs, vec!["cond".into()], vec!["v".into()]).unwrap());
    g.nodes.push(
        Node::builtin(
            "neg",
            "Sub",
            Attributes::new(),
            vec!["c".into(), "v".into()],
            vec!["y".into()],
        )
        .unwrap(),
    );
    g
}

#[test]
fn if_layer_round_trips_and_matches_reference() {
    let g = if_graph();
    let cfg = BuilderConfig {
        threads: Some(2),
        ..BuilderConfig::default()
    };
    let engine = Builder::new(cfg).build(g.clone()).unwrap();
    assert_eq!(engine.layers()[0].tactic, "reference");
    let loaded = Engine::deserialize(&engine.serialize().unwrap()).unwrap();
    let mut ctx = loaded.create_context();
    for cond in [true, false] {
        let inputs: HashMap<String, Tensor> = [
            ("cond".to_string(), Tensor::scalar(cond)),
            ("x".to_string(), tensor(&[4], 8)),
        ]
        .into();
        let want = reference(&g, &inputs);
        let got = ctx.run(inputs).unwrap();
        assert_close(&got[0].1, &want[0]);
    }
}
