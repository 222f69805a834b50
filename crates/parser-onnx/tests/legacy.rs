//! Older opset forms are converted to the latest op semantics: each case imports a one-node
//! model of an old opset and runs it with the reference evaluator.

mod common;

use common::*;
use kiln_core::{Tensor, run_tensors};
use kiln_onnx::{parse_model, pb};
use std::collections::HashMap;

/// Import `nodes` at `opset` and run them on `inputs` (name, dims, data).
fn run(
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inputs: &[(&str, &[i64], &[f32])],
    initializers: Vec<pb::TensorProto>,
    outputs: &[&str],
) -> Vec<Tensor> {
    let mut g = graph(
        nodes,
        inputs
            .iter()
            .map(|(n, d, _)| value_info(n, FLOAT, d))
            .collect(),
        outputs.iter().map(|n| value_info(n, 0, &[])).collect(),
    );
    g.initializer = initializers;
    let m = parse_model(&bytes(&model(g, opset)), None).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    let feed = inputs
        .iter()
        .map(|(n, d, v)| {
            let dims: Vec<usize> = d.iter().map(|&x| x as usize).collect();
            (n.to_string(), Tensor::from_vec(&dims, v.to_vec()).unwrap())
        })
        .collect::<HashMap<_, _>>();
    run_tensors(&m.graph, feed).unwrap()
}

fn f32s(dims: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(dims, v.to_vec()).unwrap()
}

fn close(a: &Tensor, b: &Tensor) {
    assert_eq!(a.shape(), b.shape(), "{a:?} vs {b:?}");
    for (x, y) in a.to_f64_vec().unwrap().iter().zip(b.to_f64_vec().unwrap()) {
        assert!((x - y).abs() <= 1e-6 + 1e-4 * y.abs(), "{a:?} vs {b:?}");
    }
}

#[test]
fn clip_6_min_max_attributes() {
    let n = node(
        "Clip",
        "c",
        &["x"],
        &["y"],
        vec![attr_float("min", -1.0), attr_float("max", 1.0)],
    );
    let out = run(
        6,
        vec![n],
        &[("x", &[3], &[-2.0, 0.5, 3.0])],
        vec![],
        &["y"],
    );
    close(&out[0], &f32s(&[3], &[-1.0, 0.5, 1.0]));
}

#[test]
fn pad_2_pads_and_value_attributes() {
    let n = node(
        "Pad",
        "p",
        &["x"],
        &["y"],
        vec![attr_ints("pads", &[0, 1, 0, 1]), attr_float("value", 9.0)],
    );
    let out = run(2, vec![n], &[("x", &[1, 2], &[1.0, 2.0])], vec![], &["y"]);
    close(&out[0], &f32s(&[1, 4], &[9.0, 1.0, 2.0, 9.0]));
}

#[test]
fn slice_1_attributes() {
    let n = node(
        "Slice",
        "s",
        &["x"],
        &["y"],
        vec![
            attr_ints("starts", &[1]),
            attr_ints("ends", &[3]),
            attr_ints("axes", &[1]),
        ],
    );
    let x: Vec<f32> = (0..8).map(|i| i as f32).collect();
    let out = run(1, vec![n], &[("x", &[2, 4], &x)], vec![], &["y"]);
    close(&out[0], &f32s(&[2, 2], &[1.0, 2.0, 5.0, 6.0]));
}

#[test]
fn split_2_split_attribute() {
    let n = node(
        "Split",
        "s",
        &["x"],
        &["a", "b"],
        vec![attr_ints("split", &[1, 3]), attr_int("axis", 0)],
    );
    let out = run(
        2,
        vec![n],
        &[("x", &[4], &[1.0, 2.0, 3.0, 4.0])],
        vec![],
        &["a", "b"],
    );
    close(&out[0], &f32s(&[1], &[1.0]));
    close(&out[1], &f32s(&[3], &[2.0, 3.0, 4.0]));
}

#[test]
fn unsqueeze_11_and_reduce_mean_11_axes_attributes() {
    let nodes = vec![
        node(
            "Unsqueeze",
            "u",
            &["x"],
            &["u"],
            vec![attr_ints("axes", &[0])],
        ),
        node(
            "ReduceMean",
            "m",
            &["x"],
            &["m"],
            vec![attr_ints("axes", &[0]), attr_int("keepdims", 0)],
        ),
    ];
    let out = run(
        11,
        nodes,
        &[("x", &[2, 2], &[1.0, 2.0, 3.0, 6.0])],
        vec![],
        &["u", "m"],
    );
    close(&out[0], &f32s(&[1, 2, 2], &[1.0, 2.0, 3.0, 6.0]));
    close(&out[1], &f32s(&[2], &[2.0, 4.0]));
}

#[test]
fn upsample_9_becomes_resize() {
    let scales = float_tensor("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    let n = node(
        "Upsample",
        "up",
        &["x", "scales"],
        &["y"],
        vec![attr_string("mode", "nearest")],
    );
    let out = run(
        9,
        vec![n],
        &[("x", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0])],
        vec![scales],
        &["y"],
    );
    #[rustfmt::skip]
    let want = [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0];
    close(&out[0], &f32s(&[1, 1, 4, 4], &want));
}

#[test]
fn upsample_7_scales_attribute_becomes_resize() {
    let n = node(
        "Upsample",
        "up",
        &["x"],
        &["y"],
        vec![
            attr_floats("scales", &[1.0, 3.0]),
            attr_string("mode", "nearest"),
        ],
    );
    let out = run(7, vec![n], &[("x", &[1, 2], &[1.0, 2.0])], vec![], &["y"]);
    close(&out[0], &f32s(&[1, 6], &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]));
}

#[test]
fn scatter_10_becomes_scatter_elements() {
    let idx = int64_tensor("idx", &[1, 2], &[1, 3]);
    let n = node(
        "Scatter",
        "s",
        &["x", "idx", "upd"],
        &["y"],
        vec![attr_int("axis", 1)],
    );
    let out = run(
        10,
        vec![n],
        &[("x", &[1, 5], &[0.0; 5]), ("upd", &[1, 2], &[1.5, 2.5])],
        vec![idx],
        &["y"],
    );
    close(&out[0], &f32s(&[1, 5], &[0.0, 1.5, 0.0, 2.5, 0.0]));
}

#[test]
fn softmax_11_flattens_at_axis() {
    let x: Vec<f32> = (0..8).map(|i| i as f32 * 0.5).collect();
    // axis=1 of a rank-3 input: normalized over the last 4 elements of each batch row.
    let n = node("Softmax", "sm", &["x"], &["y"], vec![attr_int("axis", 1)]);
    let out = run(11, vec![n], &[("x", &[2, 2, 2], &x)], vec![], &["y"]);
    let mut want = Vec::new();
    for row in x.chunks(4) {
        let s: f32 = row.iter().map(|v| v.exp()).sum();
        want.extend(row.iter().map(|v| v.exp() / s));
    }
    close(&out[0], &f32s(&[2, 2, 2], &want));
    // The last axis is the latest form: one node.
    let n = node(
        "LogSoftmax",
        "lsm",
        &["x"],
        &["y"],
        vec![attr_int("axis", 2)],
    );
    let out = run(11, vec![n], &[("x", &[2, 2, 2], &x)], vec![], &["y"]);
    let want: Vec<f32> = x
        .chunks(2)
        .flat_map(|p| {
            let l = (p[0].exp() + p[1].exp()).ln();
            [p[0] - l, p[1] - l]
        })
        .collect();
    close(&out[0], &f32s(&[2, 2, 2], &want));
}

#[test]
fn add_6_broadcast_with_axis() {
    let n = node(
        "Add",
        "add",
        &["a", "b"],
        &["y"],
        vec![attr_int("broadcast", 1), attr_int("axis", 1)],
    );
    let a = [0.0f32; 6];
    let out = run(
        6,
        vec![n],
        &[("a", &[1, 3, 2], &a), ("b", &[3], &[1.0, 2.0, 3.0])],
        vec![],
        &["y"],
    );
    close(&out[0], &f32s(&[1, 3, 2], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]));
}

#[test]
fn concat_1_default_axis_reshape_1_and_dropout_7() {
    let nodes = vec![
        node("Concat", "c", &["x", "x"], &["c"], vec![]),
        node(
            "Reshape",
            "r",
            &["c"],
            &["r"],
            vec![
                attr_ints("shape", &[2, 1]),
                attr_ints("consumed_inputs", &[0]),
            ],
        ),
        node(
            "Dropout",
            "d",
            &["r"],
            &["d"],
            vec![attr_float("ratio", 0.5)],
        ),
    ];
    let out = run(
        1,
        nodes,
        &[("x", &[1, 1], &[7.0])],
        vec![],
        &["c", "r", "d"],
    );
    close(&out[0], &f32s(&[1, 2], &[7.0, 7.0]));
    close(&out[1], &f32s(&[2, 1], &[7.0, 7.0]));
    close(&out[2], &f32s(&[2, 1], &[7.0, 7.0]));
}

#[test]
fn cast_1_type_name_and_batchnorm_6_legacy_attributes() {
    let params = vec![
        float_tensor("s", &[1], &[2.0]),
        float_tensor("b", &[1], &[1.0]),
        float_tensor("mean", &[1], &[0.0]),
        float_tensor("var", &[1], &[1.0]),
    ];
    let cast = node(
        "Cast",
        "c",
        &["x"],
        &["c"],
        vec![attr_string("to", "INT32")],
    );
    let out = run(5, vec![cast], &[("x", &[2], &[1.7, -3.0])], vec![], &["c"]);
    assert_eq!(out[0], Tensor::from_vec(&[2], vec![1i32, -3]).unwrap());
    let bn = node(
        "BatchNormalization",
        "bn",
        &["x", "s", "b", "mean", "var"],
        &["bn"],
        vec![
            attr_int("is_test", 1),
            attr_int("spatial", 1),
            attr_float("epsilon", 0.0),
        ],
    );
    let out = run(
        6,
        vec![bn],
        &[("x", &[1, 1, 1, 2], &[1.7, -3.0])],
        params,
        &["bn"],
    );
    close(&out[0], &f32s(&[1, 1, 1, 2], &[4.4, -5.0]));
}
