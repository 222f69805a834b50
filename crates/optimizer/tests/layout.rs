//! NHWC layout selection for CPU convolutions, with the transpose clean-up after it.

mod common;
use common::*;
use kiln_core::{Attribute, Graph};
use kiln_optimizer::{NhwcLayout, cpu_layout_passes};

/// Run the CPU layout passes one by one, checking results after each.
fn layout(g: &Graph) -> Graph {
    let mut g = g.clone();
    for p in cpu_layout_passes() {
        g = apply(p.as_ref(), &g, 1e-4).0;
    }
    g
}

fn count(g: &Graph, op: &str) -> usize {
    g.nodes.iter().filter(|n| n.op_type() == op).count()
}

fn pads1() -> kiln_core::Attributes {
    attrs(&[("pads", Attribute::Ints(vec![1, 1, 1, 1]))])
}

#[test]
fn conv_chain_converts_once_on_entry_and_once_on_exit() {
    // conv 3x3 -> Relu -> conv 1x1 -> Add(relu) -> conv 3x3 stride 2: three NHWC convs, the
    // Transposes between them cancel (Relu and Add run on NHWC tensors).
    let g = graph(
        &[("x", &[2, 8, 6, 6])],
        &["y"],
        vec![
            ("W1", random(&[64, 8, 3, 3], 1)),
            ("B1", random(&[64], 2)),
            ("W2", random(&[64, 64, 1, 1], 3)),
            ("W3", random(&[4, 64, 3, 3], 4)),
        ],
        vec![
            node("c1", "Conv", pads1(), &["x", "W1", "B1"], &["a"]),
            n("r", "Relu", &["a"], &["ra"]),
            node("c2", "Conv", attrs(&[]), &["ra", "W2"], &["b"]),
            n("add", "Add", &["b", "ra"], &["s"]),
            node(
                "c3",
                "Conv",
                attrs(&[
                    ("pads", Attribute::Ints(vec![1, 1, 1, 1])),
                    ("strides", Attribute::Ints(vec![2, 2])),
                ]),
                &["s", "W3"],
                &["y"],
            ),
        ],
    );
    let (_, report) = apply(&NhwcLayout, &g, 1e-4);
    assert_eq!(report.changes.len(), 3, "{:?}", report.changes);
    let after = layout(&g);
    assert_eq!(count(&after, "FusedConv"), 3);
    for n in after.nodes.iter().filter(|n| n.op_type() == "FusedConv") {
        assert_eq!(sattr(n, "layout"), "NHWC");
    }
    assert_eq!(count(&after, "Transpose"), 2, "{:?}", ops(&after));
    // Provenance survives: the first conv still says it was the Conv 'c1'.
    let c1 = after.nodes.iter().find(|n| n.name == "c1").unwrap();
    assert_eq!(sattr(c1, "fused_nodes"), "c1");
}

#[test]
fn fused_conv_with_residual_and_depthwise_convert() {
    // FusedConv (bias + residual + Relu6 clip) and a depthwise conv (group = channels).
    let fused = attrs(&[
        ("pads", Attribute::Ints(vec![1, 1, 1, 1])),
        ("activation", Attribute::String("Clip".into())),
        ("activation_alpha", Attribute::Float(0.0)),
        ("activation_beta", Attribute::Float(6.0)),
        ("fusion", Attribute::String("Conv+Add+Clip".into())),
        ("fused_nodes", Attribute::String("c,a,clip".into())),
    ]);
    let mut fc = node("fc", "FusedConv", fused, &["x", "W", "B", "x"], &["f"]);
    fc.domain = "kiln".into();
    let dw = attrs(&[
        ("pads", Attribute::Ints(vec![1, 1, 1, 1])),
        ("group", Attribute::Int(64)),
    ]);
    let g = graph(
        &[("x", &[1, 64, 5, 7])],
        &["y"],
        vec![
            ("W", random(&[64, 64, 3, 3], 5)),
            ("B", random(&[64], 6)),
            ("Wd", random(&[64, 1, 3, 3], 7)),
        ],
        vec![fc, node("dw", "Conv", dw, &["f", "Wd"], &["y"])],
    );
    let after = layout(&g);
    assert_eq!(count(&after, "FusedConv"), 2);
    assert_eq!(count(&after, "Transpose"), 2, "{:?}", ops(&after));
    let fc = after.nodes.iter().find(|n| n.name == "fc").unwrap();
    assert_eq!(sattr(fc, "fusion"), "Conv+Add+Clip");
    // X and the residual Z read the same NHWC Transpose.
    assert_eq!(fc.inputs[0], fc.inputs[3]);
}

#[test]
fn leaves_grouped_1d_and_dynamic_weight_convs_alone() {
    let grouped = attrs(&[("group", Attribute::Int(2))]);
    let g = graph(
        &[
            ("x", &[1, 4, 5, 5]),
            ("x1", &[1, 4, 9]),
            ("wdyn", &[64, 4, 1, 1]),
        ],
        &["y1", "y2", "y3"],
        vec![
            ("Wg", random(&[64, 2, 1, 1], 8)),
            ("W1d", random(&[64, 4, 3], 9)),
        ],
        vec![
            node("g", "Conv", grouped, &["x", "Wg"], &["y1"]),
            node("c1d", "Conv", attrs(&[]), &["x1", "W1d"], &["y2"]),
            node("dyn", "Conv", attrs(&[]), &["x", "wdyn"], &["y3"]),
        ],
    );
    let (after, report) = apply(&NhwcLayout, &g, 1e-5);
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(ops(&after), ["Conv", "Conv", "Conv"]);
}

#[test]
fn nhwc_model_transposes_cancel_with_the_layout() {
    // What tf2onnx writes: NHWC input, Transpose to NCHW, Conv, Transpose back to NHWC.
    let g = graph(
        &[("x", &[1, 6, 6, 8])],
        &["y"],
        vec![("W", random(&[64, 8, 3, 3], 10))],
        vec![
            node(
                "t0",
                "Transpose",
                attrs(&[("perm", Attribute::Ints(vec![0, 3, 1, 2]))]),
                &["x"],
                &["xc"],
            ),
            node("c", "Conv", pads1(), &["xc", "W"], &["yc"]),
            node(
                "t1",
                "Transpose",
                attrs(&[("perm", Attribute::Ints(vec![0, 2, 3, 1]))]),
                &["yc"],
                &["y"],
            ),
        ],
    );
    let after = layout(&g);
    assert_eq!(ops(&after), ["FusedConv"], "{:?}", ops(&after));
}

#[test]
fn narrow_networks_stay_nchw() {
    // The widest conv has 16 output channels (< WIDE): nothing moves.
    let g = graph(
        &[("x", &[1, 3, 8, 8])],
        &["y"],
        vec![
            ("W1", random(&[8, 3, 3, 3], 11)),
            ("W2", random(&[16, 8, 3, 3], 12)),
        ],
        vec![
            node("c1", "Conv", pads1(), &["x", "W1"], &["a"]),
            node("c2", "Conv", pads1(), &["a", "W2"], &["y"]),
        ],
    );
    let (after, report) = apply(&NhwcLayout, &g, 1e-5);
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(ops(&after), ["Conv", "Conv"]);
}
