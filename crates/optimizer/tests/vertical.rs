//! Vertical fusion (bias, residual, activation into Conv / MatMul) and Gemm -> FusedMatMul.

mod common;
use common::*;
use kiln_core::{Attribute, Tensor};
use kiln_optimizer::{GemmToFusedMatMul, Pass, VerticalFusion};

#[test]
fn conv_bias_relu_fuses() {
    let g = graph(
        &[("x", &[1, 3, 6, 6])],
        &["y"],
        vec![
            ("W", random(&[8, 3, 1, 1], 1)),
            ("b", random(&[8, 1, 1], 2)),
        ],
        vec![
            n("conv", "Conv", &["x", "W"], &["c"]),
            n("add", "Add", &["c", "b"], &["a"]),
            n("relu", "Relu", &["a"], &["y"]),
        ],
    );
    let (after, r) = apply(&VerticalFusion, &g, 1e-5);
    assert_eq!(r.changes.len(), 1);
    let f = only(&after, "FusedConv");
    assert_eq!(sattr(f, "activation"), "Relu");
    assert_eq!(sattr(f, "fusion"), "Conv+Add+Relu");
    assert_eq!(sattr(f, "fused_nodes"), "conv,add,relu");
    assert_eq!(after.nodes.len(), 1);
}

#[test]
fn resnet_residual_add_relu_fuses_with_z() {
    // Conv -> Add(skip) -> Relu, the skip being the block input.
    let pads = attrs(&[("pads", Attribute::Ints(vec![1, 1, 1, 1]))]);
    let g = graph(
        &[("x", &[1, 4, 5, 5])],
        &["y"],
        vec![("W", random(&[4, 4, 3, 3], 3)), ("B", random(&[4], 4))],
        vec![
            node("conv", "Conv", pads, &["x", "W", "B"], &["c"]),
            n("add", "Add", &["x", "c"], &["a"]),
            n("relu", "Relu", &["a"], &["y"]),
        ],
    );
    let (after, _) = apply(&VerticalFusion, &g, 1e-5);
    let f = only(&after, "FusedConv");
    assert_eq!(f.inputs.len(), 4);
    assert_eq!(f.inputs[3], "x");
    assert_eq!(sattr(f, "fusion"), "Conv+Add+Relu");
}

#[test]
fn matmul_bias_and_every_activation_fuse() {
    let acts: Vec<(&str, kiln_core::Attributes, Vec<&str>)> = vec![
        ("Relu", attrs(&[]), vec![]),
        ("Sigmoid", attrs(&[]), vec![]),
        ("Tanh", attrs(&[]), vec![]),
        ("HardSwish", attrs(&[]), vec![]),
        (
            "LeakyRelu",
            attrs(&[("alpha", Attribute::Float(0.2))]),
            vec![],
        ),
        (
            "HardSigmoid",
            attrs(&[
                ("alpha", Attribute::Float(0.3)),
                ("beta", Attribute::Float(0.6)),
            ]),
            vec![],
        ),
        ("Gelu", attrs(&[]), vec![]),
        (
            "Gelu",
            attrs(&[("approximate", Attribute::String("tanh".into()))]),
            vec![],
        ),
        ("Clip", attrs(&[]), vec!["lo", "hi"]),
    ];
    for (op, a, extra) in acts {
        let mut ins = vec!["a"];
        ins.extend(extra);
        let g = graph(
            &[("x", &[2, 3, 4])],
            &["y"],
            vec![
                ("W", random(&[4, 5], 5)),
                ("bias", random(&[5], 6)),
                ("lo", scalar(-0.2)),
                ("hi", scalar(0.3)),
            ],
            vec![
                n("mm", "MatMul", &["x", "W"], &["m"]),
                n("add", "Add", &["bias", "m"], &["a"]),
                node("act", op, a, &ins, &["y"]),
            ],
        );
        let (after, _) = apply(&VerticalFusion, &g, 1e-5);
        let f = only(&after, "FusedMatMul");
        assert_eq!(f.inputs.len(), 3, "{op}");
        assert_eq!(after.nodes.len(), 1, "{op}");
    }
}

#[test]
fn does_not_fuse_shared_outputs_or_growing_broadcasts() {
    // The conv output is read twice.
    let g = graph(
        &[("x", &[1, 3, 4, 4])],
        &["y", "z"],
        vec![("W", random(&[2, 3, 1, 1], 1))],
        vec![
            n("conv", "Conv", &["x", "W"], &["c"]),
            n("relu", "Relu", &["c"], &["y"]),
            n("sig", "Sigmoid", &["c"], &["z"]),
        ],
    );
    let (_, r) = apply(&VerticalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // A 1-D constant of M values added to a conv output broadcasts along the last axis.
    let g = graph(
        &[("x", &[1, 3, 3, 2])],
        &["y"],
        vec![("W", random(&[2, 3, 1, 1], 1)), ("c", random(&[2], 2))],
        vec![
            n("conv", "Conv", &["x", "W"], &["m"]),
            n("add", "Add", &["m", "c"], &["y"]),
        ],
    );
    let (_, r) = apply(&VerticalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // A constant [M, 1] on a [M, N] product is not a bias along the last dim.
    let g = graph(
        &[("x", &[3, 4])],
        &["y"],
        vec![("W", random(&[4, 5], 1)), ("c", random(&[3, 1], 2))],
        vec![
            n("mm", "MatMul", &["x", "W"], &["m"]),
            n("add", "Add", &["m", "c"], &["y"]),
        ],
    );
    let (_, r) = apply(&VerticalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // A bias that broadcasts the output larger.
    let g = graph(
        &[("x", &[3, 4])],
        &["y"],
        vec![("W", random(&[4, 5], 1)), ("c", random(&[2, 1, 5], 2))],
        vec![
            n("mm", "MatMul", &["x", "W"], &["m"]),
            n("add", "Add", &["m", "c"], &["y"]),
        ],
    );
    let (_, r) = apply(&VerticalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // A residual of another shape (broadcast) on a conv.
    let g = graph(
        &[("x", &[1, 3, 4, 4]), ("s", &[1, 2, 1, 4])],
        &["y"],
        vec![("W", random(&[2, 3, 1, 1], 1))],
        vec![
            n("conv", "Conv", &["x", "W"], &["c"]),
            n("add", "Add", &["c", "s"], &["y"]),
        ],
    );
    let (_, r) = apply(&VerticalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
    // Integer MatMuls are left alone.
    let mut g = graph(
        &[],
        &["y"],
        vec![
            ("a", Tensor::from_vec(&[2, 2], vec![1i32, 2, 3, 4]).unwrap()),
            ("b", Tensor::from_vec(&[2, 2], vec![1i32, 0, 0, 1]).unwrap()),
            ("c", Tensor::from_vec(&[2], vec![1i32, 1]).unwrap()),
        ],
        vec![
            n("mm", "MatMul", &["a", "b"], &["m"]),
            n("add", "Add", &["m", "c"], &["y"]),
        ],
    );
    assert!(VerticalFusion.run(&mut g).unwrap().changes.is_empty());
}

#[test]
fn gemm_becomes_fused_matmul_unless_trans_a() {
    let gemm = |ta: i64, c: &str| {
        node(
            "gemm",
            "Gemm",
            attrs(&[
                ("alpha", Attribute::Float(0.5)),
                ("beta", Attribute::Float(2.0)),
                ("transA", Attribute::Int(ta)),
                ("transB", Attribute::Int(1)),
            ]),
            &["x", "W", c],
            &["g"],
        )
    };
    let inits = || {
        vec![
            ("W", random(&[5, 4], 1)),
            ("C", random(&[5], 2)),
            ("C2", random(&[1, 5], 3)),
        ]
    };
    for c in ["C", "C2"] {
        let g = graph(
            &[("x", &[3, 4])],
            &["y"],
            inits(),
            vec![gemm(0, c), n("relu", "Relu", &["g"], &["y"])],
        );
        let (g1, r) = apply(&GemmToFusedMatMul, &g, 1e-5);
        assert_eq!(r.changes.len(), 1);
        let (g2, _) = apply(&VerticalFusion, &g1, 1e-5);
        let f = only(&g2, "FusedMatMul");
        assert_eq!(sattr(f, "fusion"), "Gemm+Relu");
        assert_eq!(f.attrs.int("trans_b").unwrap(), Some(1));
    }
    // A full [M, N] C with beta = 2 is neither a bias nor a residual.
    let g = graph(
        &[("x", &[3, 4]), ("full", &[3, 5])],
        &["y"],
        inits(),
        vec![gemm(0, "full"), n("relu", "Relu", &["g"], &["y"])],
    );
    let (_, r) = apply(&GemmToFusedMatMul, &g, 1e-6);
    assert!(r.changes.is_empty());
    let g = graph(
        &[("x", &[4, 3])],
        &["y"],
        inits(),
        vec![gemm(1, "C"), n("relu", "Relu", &["g"], &["y"])],
    );
    let (_, r) = apply(&GemmToFusedMatMul, &g, 1e-6);
    assert!(r.changes.is_empty());
}

/// A transformer-like chain of attention blocks on a symbolic batch: the facts of the
/// Attention outputs (which core inference leaves to the optimizer's fallback) must become
/// complete in every block, not only the first, so every projection fuses its bias and
/// residual.
#[test]
fn projections_fuse_after_every_attention_block_of_a_symbolic_batch() {
    use kiln_core::{DataType, Dim, Shape, ValueInfo};
    const BLOCKS: usize = 12;
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut x = "x".to_string();
    for i in 0..BLOCKS {
        let (a, y, z, out) = (
            format!("a{i}"),
            format!("y{i}"),
            format!("z{i}"),
            format!("x{}", i + 1),
        );
        let (w, b) = (format!("w{i}"), format!("b{i}"));
        nodes.push(n(&format!("att{i}"), "Attention", &[&x, &x, &x], &[&a]));
        nodes.push(n(&format!("mm{i}"), "MatMul", &[&a, &w], &[&y]));
        nodes.push(n(&format!("bias{i}"), "Add", &[&y, &b], &[&z]));
        nodes.push(n(&format!("res{i}"), "Add", &[&z, &x], &[&out]));
        inits.push((w, random(&[8, 8], 10 + i as u64)));
        inits.push((b, random(&[8], 50 + i as u64)));
        x = out;
    }
    let inits: Vec<(&str, Tensor)> = inits.iter().map(|(k, t)| (k.as_str(), t.clone())).collect();
    let mut g = graph(&[("x", &[2, 2, 4, 8])], &[&x], inits, nodes);
    let symbolic = Shape(vec![
        Dim::Sym("N".into()),
        Dim::Fixed(2),
        Dim::Fixed(4),
        Dim::Fixed(8),
    ]);
    g.inputs = vec![ValueInfo::tensor("x", DataType::F32, symbolic)];
    let mut after = g.clone();
    let report = VerticalFusion.run(&mut after).unwrap();
    assert_eq!(report.changes.len(), BLOCKS, "{:?}", report.changes);
    let fused = after
        .nodes
        .iter()
        .filter(|n| n.op_type() == "FusedMatMul" && n.inputs.len() == 4)
        .count();
    assert_eq!(fused, BLOCKS, "every block takes bias and residual");
    // Same results (on a concrete batch).
    let fixed = vec![ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape::fixed(&[2, 2, 4, 8]),
    )];
    g.inputs = fixed.clone();
    after.inputs = fixed;
    assert_same(&g, &after, 1e-5);
}
