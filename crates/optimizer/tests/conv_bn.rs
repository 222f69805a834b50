//! Conv + BatchNormalization folding.

mod common;
use common::*;
use kiln_core::Attribute;
use kiln_optimizer::{ConvBnFolding, Pass, VerticalFusion};

fn bn_inits() -> Vec<(&'static str, kiln_core::Tensor)> {
    vec![
        ("W", random(&[4, 3, 3, 3], 11)),
        ("B", random(&[4], 12)),
        ("s", random(&[4], 13)),
        ("b", random(&[4], 14)),
        ("mean", random(&[4], 15)),
        ("var", positive(&[4], 16)),
    ]
}

fn pads() -> kiln_core::Attributes {
    attrs(&[("pads", Attribute::Ints(vec![1, 1, 1, 1]))])
}

#[test]
fn folds_bn_into_conv_with_and_without_bias() {
    for bias in [true, false] {
        let conv_ins: &[&str] = if bias { &["x", "W", "B"] } else { &["x", "W"] };
        let g = graph(
            &[("x", &[2, 3, 5, 5])],
            &["y"],
            bn_inits(),
            vec![
                node("conv", "Conv", pads(), conv_ins, &["c"]),
                node(
                    "bn",
                    "BatchNormalization",
                    attrs(&[("epsilon", Attribute::Float(1e-3))]),
                    &["c", "s", "b", "mean", "var"],
                    &["y"],
                ),
            ],
        );
        let (after, report) = apply(&ConvBnFolding, &g, 1e-4);
        assert_eq!(report.changes.len(), 1);
        let f = only(&after, "FusedConv");
        assert_eq!(f.domain, "kiln");
        assert_eq!(sattr(f, "fusion"), "Conv+BatchNormalization");
        assert_eq!(sattr(f, "fused_nodes"), "conv,bn");
        assert_eq!(after.nodes.len(), 1);
    }
}

#[test]
fn folds_bn_after_fused_conv_without_activation_only() {
    // Conv + bias Add -> FusedConv (no activation); BN then folds into it.
    let mut inits = bn_inits();
    inits.push(("bias4", random(&[1, 4, 1, 1], 17)));
    let g = graph(
        &[("x", &[1, 3, 5, 5])],
        &["y"],
        inits,
        vec![
            node("conv", "Conv", pads(), &["x", "W"], &["c"]),
            n("add", "Add", &["c", "bias4"], &["a"]),
            n(
                "bn",
                "BatchNormalization",
                &["a", "s", "b", "mean", "var"],
                &["y"],
            ),
        ],
    );
    let (g1, _) = apply(&VerticalFusion, &g, 1e-5);
    assert_eq!(ops(&g1), ["FusedConv", "BatchNormalization"]);
    let (g2, r) = apply(&ConvBnFolding, &g1, 1e-4);
    assert_eq!(r.changes.len(), 1);
    assert_eq!(
        sattr(only(&g2, "FusedConv"), "fusion"),
        "Conv+Add+BatchNormalization"
    );
    // With a Relu between them nothing folds.
    let g = graph(
        &[("x", &[1, 3, 5, 5])],
        &["y"],
        bn_inits(),
        vec![
            node("conv", "Conv", pads(), &["x", "W"], &["c"]),
            n("relu", "Relu", &["c"], &["r"]),
            n(
                "bn",
                "BatchNormalization",
                &["r", "s", "b", "mean", "var"],
                &["y"],
            ),
        ],
    );
    let (g1, _) = apply(&VerticalFusion, &g, 1e-5);
    let (_, r) = apply(&ConvBnFolding, &g1, 1e-5);
    assert!(r.changes.is_empty());
}

#[test]
fn does_not_fold_shared_conv_output_or_variable_params() {
    // The conv output is also a graph output.
    let g = graph(
        &[("x", &[1, 3, 5, 5])],
        &["y", "c"],
        bn_inits(),
        vec![
            node("conv", "Conv", pads(), &["x", "W"], &["c"]),
            n(
                "bn",
                "BatchNormalization",
                &["c", "s", "b", "mean", "var"],
                &["y"],
            ),
        ],
    );
    assert!(
        ConvBnFolding
            .run(&mut g.clone())
            .unwrap()
            .changes
            .is_empty()
    );
    // The conv output is read twice.
    let g = graph(
        &[("x", &[1, 3, 5, 5])],
        &["y", "z"],
        bn_inits(),
        vec![
            node("conv", "Conv", pads(), &["x", "W"], &["c"]),
            n(
                "bn",
                "BatchNormalization",
                &["c", "s", "b", "mean", "var"],
                &["y"],
            ),
            n("relu", "Relu", &["c"], &["z"]),
        ],
    );
    let (_, r) = apply(&ConvBnFolding, &g, 1e-6);
    assert!(r.changes.is_empty());
    // The BN scale is a graph input, not a constant.
    let mut inits = bn_inits();
    inits.retain(|(k, _)| *k != "s");
    let g = graph(
        &[("x", &[1, 3, 5, 5]), ("s", &[4])],
        &["y"],
        inits,
        vec![
            node("conv", "Conv", pads(), &["x", "W"], &["c"]),
            n(
                "bn",
                "BatchNormalization",
                &["c", "s", "b", "mean", "var"],
                &["y"],
            ),
        ],
    );
    let (_, r) = apply(&ConvBnFolding, &g, 1e-6);
    assert!(r.changes.is_empty());
}
