//! Whole-model import: diagnostics for every problem, decode errors, opset conversions,
//! Constant folding, subgraphs and functions.

mod common;

use common::*;
use kiln_core::{Attribute, DataType, Tensor};
use kiln_onnx::{DiagnosticCode, OnnxError, parse_model, pb};
use std::collections::HashMap;

#[test]
fn three_unsupported_nodes_are_all_reported() {
    let mut g = graph(
        vec![
            node("NoSuchOpA", "first", &["x"], &["a"], vec![]),
            node("NoSuchOpB", "", &["a"], &["b"], vec![]),
            node("Custom", "third", &["b"], &["y"], vec![]),
        ],
        vec![value_info("x", FLOAT, &[2])],
        vec![value_info("y", FLOAT, &[2])],
    );
    g.node[2].domain = Some("com.example".into());
    let mut m = model(g, 17);
    m.opset_import.push(pb::OperatorSetIdProto {
        domain: Some("com.example".into()),
        version: Some(3),
    });
    let dir = temp_dir("unsupported");
    let path = dir.join("model.onnx");
    std::fs::write(&path, bytes(&m)).unwrap();

    let loaded = kiln_onnx::load_model(&path).unwrap();
    let d = &loaded.report.diagnostics;
    assert_eq!(d.len(), 3, "{}", loaded.report);
    assert!(d.iter().all(|d| d.code == DiagnosticCode::UnsupportedNode));
    let names: Vec<&str> = d.iter().map(|d| d.node_name.as_str()).collect();
    assert_eq!(names, ["first", "NoSuchOpB_1", "third"]);
    assert_eq!(d[2].domain, "com.example");
    assert_eq!(d[2].opset, 3);
    assert_eq!(d[0].opset, 17);
    // The graph still loads, with placeholders in order.
    assert_eq!(loaded.graph.unresolved_nodes().len(), 3);
    assert_eq!(loaded.report.nodes.len(), 3);
    assert!(
        loaded
            .report
            .nodes
            .iter()
            .all(|n| !n.supported && n.reason.is_some())
    );

    match kiln_onnx::import_model(&path) {
        Err(OnnxError::Unsupported(report)) => assert_eq!(report.diagnostics.len(), 3),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let text = kiln_onnx::import_model(&path).unwrap_err().to_string();
    for needle in [
        "first",
        "NoSuchOpA",
        "NoSuchOpB_1",
        "third",
        "com.example",
        "UnsupportedNode",
        "opset 17",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert_eq!(text.lines().count(), 4, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_attribute_and_undefined_input_are_reported() {
    let g = graph(
        vec![
            node("Relu", "r", &["x"], &["a"], vec![attr_int("bogus", 1)]),
            node("Relu", "r2", &["nowhere"], &["y"], vec![]),
        ],
        vec![value_info("x", FLOAT, &[2])],
        vec![value_info("y", FLOAT, &[2])],
    );
    let m = parse_model(&bytes(&model(g, 14)), None).unwrap();
    let codes: Vec<_> = m
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code, d.node_name.as_str()))
        .collect();
    assert!(
        codes.contains(&(DiagnosticCode::UnsupportedAttribute, "r")),
        "{}",
        m.report
    );
    assert!(
        codes.contains(&(DiagnosticCode::InvalidNode, "r2")),
        "{}",
        m.report
    );
}

#[test]
fn truncated_and_garbage_bytes_are_decode_errors() {
    let g = graph(
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![value_info("x", FLOAT, &[2, 3])],
        vec![value_info("y", FLOAT, &[2, 3])],
    );
    let full = bytes(&model(g, 14));
    assert!(parse_model(&full, None).is_ok());
    for cut in [1, 5, full.len() / 2, full.len() - 1] {
        match parse_model(&full[..cut], None) {
            Err(OnnxError::Decode { .. }) => {}
            other => panic!("cut at {cut}: expected a decode error, got {other:?}"),
        }
    }
    let garbage: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(parse_model(&garbage, None).is_err());
    assert!(matches!(
        parse_model(&[], None),
        Err(OnnxError::Decode { .. })
    ));
    // A file that does not exist, and a decode error naming the file.
    let dir = temp_dir("garbage");
    assert!(matches!(
        kiln_onnx::load_model(&dir.join("none.onnx")),
        Err(OnnxError::Io { .. })
    ));
    let path = dir.join("bad.onnx");
    std::fs::write(&path, &full[..full.len() - 1]).unwrap();
    let msg = kiln_onnx::load_model(&path).unwrap_err().to_string();
    assert!(msg.contains("bad.onnx"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn squeeze_opset_11_axes_attribute_becomes_an_input() {
    let g = graph(
        vec![node(
            "Squeeze",
            "sq",
            &["x"],
            &["y"],
            vec![attr_ints("axes", &[0])],
        )],
        vec![value_info("x", FLOAT, &[1, 3])],
        vec![value_info("y", FLOAT, &[3])],
    );
    let m = parse_model(&bytes(&model(g, 11)), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    let n = &m.graph.nodes[0];
    assert_eq!(n.op_type(), "Squeeze");
    assert_eq!(n.inputs.len(), 2);
    assert!(!n.attrs.has("axes"));
    assert_eq!(
        m.graph.initializers[&n.inputs[1]],
        Tensor::from_vec(&[1], vec![0i64]).unwrap()
    );
    let x = Tensor::from_vec(&[1, 3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let out = kiln_core::run_tensors(&m.graph, HashMap::from([("x".to_string(), x)])).unwrap();
    assert_eq!(
        out[0],
        Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap()
    );
}

#[test]
fn reduce_sum_opset_11_and_topk_opset_1_convert() {
    let g = graph(
        vec![
            node(
                "ReduceSum",
                "rs",
                &["x"],
                &["s"],
                vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)],
            ),
            node("TopK", "tk", &["s"], &["v", "i"], vec![attr_int("k", 1)]),
        ],
        vec![value_info("x", FLOAT, &[2, 2])],
        vec![value_info("v", FLOAT, &[1]), value_info("i", INT64, &[1])],
    );
    let mut m = model(g, 11);
    // Old TopK in an opset-11 model is not valid ONNX: use opset 9 so both forms are old.
    m.opset_import[0].version = Some(9);
    let m = parse_model(&bytes(&m), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    let x = Tensor::from_vec(&[2, 2], vec![1.0f32, 2.0, 5.0, 6.0]).unwrap();
    let out = kiln_core::run_tensors(&m.graph, HashMap::from([("x".to_string(), x)])).unwrap();
    assert_eq!(out[0], Tensor::from_vec(&[1], vec![11.0f32]).unwrap());
    assert_eq!(out[1], Tensor::from_vec(&[1], vec![1i64]).unwrap());
}

#[test]
fn constant_nodes_become_initializers() {
    let g = graph(
        vec![
            node(
                "Constant",
                "c",
                &[],
                &["k"],
                vec![attr_floats("value_floats", &[1.0, 2.0])],
            ),
            node("Constant", "", &[], &["n"], vec![attr_int("value_int", 7)]),
            node("Add", "add", &["x", "k"], &["y"], vec![]),
        ],
        vec![value_info("x", FLOAT, &[2])],
        vec![value_info("y", FLOAT, &[2]), value_info("n", INT64, &[])],
    );
    let m = parse_model(&bytes(&model(g, 13)), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    assert_eq!(m.graph.nodes.len(), 1);
    assert_eq!(
        m.graph.initializers["k"],
        Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap()
    );
    assert_eq!(m.graph.initializers["n"], Tensor::scalar(7i64));
    assert_eq!(m.report.nodes.len(), 3);
}

#[test]
fn cast_to_float8_is_an_unsupported_data_type() {
    let g = graph(
        vec![node(
            "Cast",
            "to_f8",
            &["x"],
            &["y"],
            vec![attr_int("to", 17)],
        )],
        vec![value_info("x", FLOAT, &[2])],
        vec![value_info("y", 17, &[2])],
    );
    let m = parse_model(&bytes(&model(g, 19)), None).unwrap();
    let d: Vec<_> = m
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code, d.node_name.as_str()))
        .collect();
    assert!(
        d.contains(&(DiagnosticCode::UnsupportedDataType, "to_f8")),
        "{}",
        m.report
    );
    assert!(
        d.contains(&(DiagnosticCode::UnsupportedDataType, "y")),
        "{}",
        m.report
    );
}

#[test]
fn subgraphs_read_outer_values_and_are_sorted() {
    // then: y = Relu(x) (x from the outer graph); else: y = Neg(x). Nodes given out of order.
    let branch = |op: &str| {
        graph(
            vec![node(
                op,
                &format!("{op}_in_branch"),
                &["x"],
                &["out"],
                vec![],
            )],
            vec![],
            vec![value_info("out", FLOAT, &[2])],
        )
    };
    let g = graph(
        vec![
            node(
                "If",
                "if",
                &["c"],
                &["y"],
                vec![
                    attr_graph("then_branch", branch("Relu")),
                    attr_graph("else_branch", branch("Neg")),
                ],
            ),
            node("Identity", "make_c", &["cond"], &["c"], vec![]),
        ],
        vec![value_info("x", FLOAT, &[2]), value_info("cond", 9, &[])],
        vec![value_info("y", FLOAT, &[2])],
    );
    let m = parse_model(&bytes(&model(g, 16)), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    assert_eq!(m.graph.nodes[0].name, "make_c");
    match m.graph.nodes[1].attrs.get("then_branch") {
        Some(Attribute::Graph(b)) => assert_eq!(b.nodes[0].op_type(), "Relu"),
        other => panic!("no then_branch graph: {other:?}"),
    }
    assert_eq!(m.report.nodes.len(), 4);
    let x = Tensor::from_vec(&[2], vec![-1.0f32, 2.0]).unwrap();
    let inputs = HashMap::from([
        ("x".to_string(), x),
        ("cond".to_string(), Tensor::scalar(false)),
    ]);
    let out = kiln_core::run_tensors(&m.graph, inputs).unwrap();
    assert_eq!(out[0], Tensor::from_vec(&[2], vec![1.0f32, -2.0]).unwrap());
}

#[test]
fn model_local_functions_are_inlined() {
    let f = pb::FunctionProto {
        name: Some("AddRelu".into()),
        domain: Some("local".into()),
        input: vec!["a".into(), "b".into()],
        output: vec!["r".into()],
        node: vec![
            node("Add", "", &["a", "b"], &["t"], vec![]),
            node("Relu", "", &["t"], &["r"], vec![]),
        ],
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(14),
        }],
        ..Default::default()
    };
    let mut call = node("AddRelu", "call", &["x", "x"], &["y"], vec![]);
    call.domain = Some("local".into());
    let g = graph(
        vec![call],
        vec![value_info("x", FLOAT, &[2])],
        vec![value_info("y", FLOAT, &[2])],
    );
    let mut m = model(g, 14);
    m.functions.push(f);
    m.opset_import.push(pb::OperatorSetIdProto {
        domain: Some("local".into()),
        version: Some(1),
    });
    let m = parse_model(&bytes(&m), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type()).collect();
    assert_eq!(ops, ["Add", "Relu"]);
    assert_eq!(m.graph.nodes[0].inputs, ["x", "x"]);
    assert_eq!(m.graph.nodes[0].outputs, ["call/t"]);
    let x = Tensor::from_vec(&[2], vec![-1.0f32, 2.0]).unwrap();
    let out = kiln_core::run_tensors(&m.graph, HashMap::from([("x".to_string(), x)])).unwrap();
    assert_eq!(out[0], Tensor::from_vec(&[2], vec![0.0f32, 4.0]).unwrap());
}

#[test]
fn symbolic_dims_and_metadata() {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let mut x = value_info("x", FLOAT, &[]);
    if let Some(pb::type_proto::Value::TensorType(t)) =
        x.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.shape = Some(pb::TensorShapeProto {
            dim: vec![
                Dimension {
                    value: Some(Value::DimParam("batch".into())),
                    ..Default::default()
                },
                Dimension {
                    value: None,
                    ..Default::default()
                },
                Dimension {
                    value: Some(Value::DimValue(4)),
                    ..Default::default()
                },
            ],
        });
    }
    let g = graph(
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![x],
        vec![value_info("y", FLOAT, &[])],
    );
    let m = parse_model(&bytes(&model(g, 14)), None).unwrap();
    assert_eq!(m.opset, 14);
    assert_eq!(m.ir_version, 8);
    assert_eq!(m.producer, "kiln-tests");
    let fact = m.graph.inputs[0].ty.tensor().unwrap();
    assert_eq!(fact.dtype, Some(DataType::F32));
    assert_eq!(fact.shape.as_ref().unwrap().to_string(), "[batch,?,4]");
}

#[test]
fn corrupted_models_never_panic() {
    // A model with a subgraph, a Constant and an initializer, then many byte mutations.
    let branch = graph(
        vec![node("Neg", "neg", &["x"], &["out"], vec![])],
        vec![],
        vec![value_info("out", FLOAT, &[2])],
    );
    let mut g = graph(
        vec![
            node(
                "Constant",
                "c",
                &[],
                &["k"],
                vec![attr_ints("value_ints", &[1, 2])],
            ),
            node(
                "If",
                "if",
                &["cond"],
                &["y"],
                vec![
                    attr_graph("then_branch", branch.clone()),
                    attr_graph("else_branch", branch),
                ],
            ),
            node(
                "Squeeze",
                "sq",
                &["w"],
                &["z"],
                vec![attr_ints("axes", &[0])],
            ),
        ],
        vec![value_info("x", FLOAT, &[2]), value_info("cond", 9, &[])],
        vec![value_info("y", FLOAT, &[2]), value_info("z", FLOAT, &[2])],
    );
    g.initializer.push(float_tensor("w", &[1, 2], &[1.0, 2.0]));
    let good = bytes(&model(g, 11));
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut decoded = 0;
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..1 + next() % 3 {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        if parse_model(&b, None).is_ok() {
            decoded += 1;
        }
    }
    // Some mutations still decode (and import with diagnostics), others are decode errors.
    assert!(decoded > 0);
}
