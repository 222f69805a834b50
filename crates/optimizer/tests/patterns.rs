//! GELU, LayerNormalization and attention pattern fusions.

mod common;
use common::*;
use kiln_core::{Attribute, Node};
use kiln_optimizer::{AttentionFusion, GeluFusion, LayerNormFusion};

fn erf_gelu(order: usize) -> Vec<Node> {
    let mut v = vec![
        n("div", "Div", &["x", "sqrt2"], &["d"]),
        n("erf", "Erf", &["d"], &["e"]),
        n("add", "Add", &["one", "e"], &["a"]),
    ];
    match order {
        0 => v.extend([
            n("m1", "Mul", &["x", "a"], &["m"]),
            n("m2", "Mul", &["m", "half"], &["y"]),
        ]),
        1 => v.extend([
            n("m1", "Mul", &["a", "half"], &["m"]),
            n("m2", "Mul", &["x", "m"], &["y"]),
        ]),
        _ => v.extend([
            n("h", "Mul", &["half", "x"], &["m"]),
            n("m2", "Mul", &["m", "a"], &["y"]),
        ]),
    }
    v
}

fn gelu_consts() -> Vec<(&'static str, kiln_core::Tensor)> {
    vec![
        ("sqrt2", scalar(std::f32::consts::SQRT_2)),
        ("one", scalar(1.0)),
        ("half", scalar(0.5)),
        ("c", scalar(0.797_884_6)),
        ("k", scalar(0.044715)),
        ("three", scalar(3.0)),
    ]
}

#[test]
fn erf_gelu_fuses_in_every_ordering() {
    for order in 0..3 {
        let g = graph(&[("x", &[2, 8])], &["y"], gelu_consts(), erf_gelu(order));
        let (after, r) = apply(&GeluFusion, &g, 1e-5);
        assert_eq!(r.changes.len(), 1, "ordering {order}");
        let gelu = only(&after, "Gelu");
        assert_eq!(gelu.inputs, ["x"]);
        assert_eq!(after.nodes.len(), 1);
    }
}

#[test]
fn tanh_gelu_fuses_with_pow_or_products() {
    for cube in ["pow", "mul"] {
        let mut nodes = match cube {
            "pow" => vec![n("pow", "Pow", &["x", "three"], &["x3"])],
            _ => vec![
                n("sq", "Mul", &["x", "x"], &["x2"]),
                n("cu", "Mul", &["x2", "x"], &["x3"]),
            ],
        };
        nodes.extend([
            n("k3", "Mul", &["k", "x3"], &["kx3"]),
            n("inner", "Add", &["x", "kx3"], &["s"]),
            n("sc", "Mul", &["s", "c"], &["u"]),
            n("tanh", "Tanh", &["u"], &["t"]),
            n("add", "Add", &["t", "one"], &["a"]),
            n("m1", "Mul", &["x", "a"], &["m"]),
            n("m2", "Mul", &["m", "half"], &["y"]),
        ]);
        let g = graph(&[("x", &[3, 5])], &["y"], gelu_consts(), nodes);
        let (after, _) = apply(&GeluFusion, &g, 1e-5);
        let gelu = only(&after, "Gelu");
        assert_eq!(sattr(gelu, "approximate"), "tanh");
        assert_eq!(after.nodes.len(), 1);
    }
}

#[test]
fn gelu_does_not_fuse_with_wrong_constants_or_shared_values() {
    let mut consts = gelu_consts();
    consts[2] = ("half", scalar(0.6));
    let g = graph(&[("x", &[2, 8])], &["y"], consts, erf_gelu(0));
    let (_, r) = apply(&GeluFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // The Erf result is also a graph output.
    let g = graph(&[("x", &[2, 8])], &["y", "e"], gelu_consts(), erf_gelu(1));
    let (_, r) = apply(&GeluFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
}

fn layernorm(square: &str, affine: bool) -> Vec<Node> {
    let mut v = vec![
        n("rm1", "ReduceMean", &["x", "axes"], &["mean"]),
        n("sub", "Sub", &["x", "mean"], &["d"]),
        if square == "pow" {
            n("pow", "Pow", &["d", "two"], &["p"])
        } else {
            n("sq", "Mul", &["d", "d"], &["p"])
        },
        n("rm2", "ReduceMean", &["p", "axes"], &["v"]),
        n("addeps", "Add", &["v", "eps"], &["ve"]),
        n("sqrt", "Sqrt", &["ve"], &["s"]),
    ];
    if affine {
        v.extend([
            n("div", "Div", &["d", "s"], &["nrm"]),
            n("mul", "Mul", &["nrm", "gamma"], &["g"]),
            n("addb", "Add", &["g", "beta"], &["y"]),
        ]);
    } else {
        v.push(n("div", "Div", &["d", "s"], &["y"]));
    }
    v
}

fn ln_consts(axes: &[i64]) -> Vec<(&'static str, kiln_core::Tensor)> {
    vec![
        ("axes", ints(axes)),
        ("two", scalar(2.0)),
        ("eps", scalar(1e-5)),
        ("gamma", random(&[16], 3)),
        ("beta", random(&[16], 4)),
    ]
}

#[test]
fn layernorm_pattern_fuses() {
    for (square, affine, axes) in [
        ("pow", true, vec![-1]),
        ("mul", false, vec![2]),
        ("pow", false, vec![-1]),
    ] {
        let g = graph(
            &[("x", &[2, 3, 16])],
            &["y"],
            ln_consts(&axes),
            layernorm(square, affine),
        );
        let (after, r) = apply(&LayerNormFusion, &g, 1e-4);
        assert_eq!(r.changes.len(), 1, "{square} {affine} {axes:?}");
        let ln = only(&after, "LayerNormalization");
        assert_eq!(ln.attrs.int("axis").unwrap(), Some(2));
        assert_eq!(after.nodes.len(), 1);
    }
}

#[test]
fn layernorm_does_not_fuse_over_leading_axes_or_mismatched_means() {
    let g = graph(
        &[("x", &[2, 16, 3])],
        &["y"],
        ln_consts(&[1]),
        layernorm("pow", false),
    );
    let (_, r) = apply(&LayerNormFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    let mut nodes = layernorm("pow", false);
    nodes[3] = n("rm2", "ReduceMean", &["p", "axes2"], &["v"]);
    let mut consts = ln_consts(&[-1]);
    consts.push(("axes2", ints(&[1])));
    let g = graph(&[("x", &[2, 3, 16])], &["y"], consts, nodes);
    let (_, r) = apply(&LayerNormFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
}

fn attention(scale_op: &str, mask: bool, k_layout: &str) -> Vec<Node> {
    let perm = |p: &[i64]| attrs(&[("perm", Attribute::Ints(p.to_vec()))]);
    let mut v = vec![if k_layout == "bhsd" {
        node("kt", "Transpose", perm(&[0, 1, 3, 2]), &["k"], &["kT"])
    } else {
        node("kt", "Transpose", perm(&[0, 2, 3, 1]), &["k"], &["kT"])
    }];
    v.push(n("qk", "MatMul", &["q", "kT"], &["s0"]));
    v.push(n("scale", scale_op, &["s0", "sc"], &["s1"]));
    let sm_in = if mask {
        v.push(n("mask", "Add", &["s1", "m"], &["s2"]));
        "s2"
    } else {
        "s1"
    };
    v.push(node(
        "sm",
        "Softmax",
        attrs(&[("axis", Attribute::Int(-1))]),
        &[sm_in],
        &["p"],
    ));
    v.push(n("pv", "MatMul", &["p", "v"], &["y"]));
    v
}

#[test]
fn attention_fuses_with_scale_mask_and_key_layouts() {
    for (scale_op, mask, layout) in [
        ("Div", true, "bhsd"),
        ("Mul", false, "bhsd"),
        ("Mul", true, "bshd"),
    ] {
        let k_shape: &[usize] = if layout == "bhsd" {
            &[2, 3, 6, 4]
        } else {
            &[2, 6, 3, 4]
        };
        let g = graph(
            &[
                ("q", &[2, 3, 5, 4]),
                ("k", k_shape),
                ("v", &[2, 3, 6, 4]),
                ("m", &[2, 1, 1, 6]),
            ],
            &["y"],
            vec![("sc", scalar(if scale_op == "Div" { 2.0 } else { 0.5 }))],
            attention(scale_op, mask, layout),
        );
        let (after, r) = apply(&AttentionFusion, &g, 1e-5);
        assert_eq!(r.changes.len(), 1, "{scale_op} {mask} {layout}");
        let a = only(&after, "Attention");
        assert_eq!(a.attrs.float("scale").unwrap(), Some(0.5));
        assert_eq!(a.inputs.len(), if mask { 4 } else { 3 });
    }
}

#[test]
fn attention_does_not_fuse_other_softmax_axes_or_growing_masks() {
    let mut nodes = attention("Div", false, "bhsd");
    let sm = nodes.iter().position(|x| x.name == "sm").unwrap();
    nodes[sm] = node(
        "sm",
        "Softmax",
        attrs(&[("axis", Attribute::Int(2))]),
        &["s1"],
        &["p"],
    );
    let inputs: [(&str, &[usize]); 3] = [
        ("q", &[2, 3, 6, 4]),
        ("k", &[2, 3, 6, 4]),
        ("v", &[2, 3, 6, 4]),
    ];
    let g = graph(&inputs, &["y"], vec![("sc", scalar(2.0))], nodes);
    let (_, r) = apply(&AttentionFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // A mask with a larger batch than the scores.
    let g = graph(
        &[
            ("q", &[1, 3, 5, 4]),
            ("k", &[1, 3, 6, 4]),
            ("v", &[1, 3, 6, 4]),
            ("m", &[2, 1, 5, 6]),
        ],
        &["y"],
        vec![("sc", scalar(2.0))],
        attention("Div", true, "bhsd"),
    );
    let (_, r) = apply(&AttentionFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
}
