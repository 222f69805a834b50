//! Horizontal fusion of sibling MatMuls / Convs reading the same tensor.

mod common;
use common::*;
use kiln_optimizer::{HorizontalFusion, VerticalFusion};

#[test]
fn qkv_projections_become_one_wide_matmul_and_a_split() {
    let g = graph(
        &[("x", &[2, 5, 8])],
        &["q", "k", "v"],
        vec![
            ("Wq", random(&[8, 8], 1)),
            ("Wk", random(&[8, 8], 2)),
            ("Wv", random(&[8, 8], 3)),
            ("bq", random(&[8], 4)),
            ("bk", random(&[8], 5)),
            ("bv", random(&[8], 6)),
        ],
        vec![
            n("mq", "MatMul", &["x", "Wq"], &["mq_o"]),
            n("aq", "Add", &["mq_o", "bq"], &["q"]),
            n("mk", "MatMul", &["x", "Wk"], &["mk_o"]),
            n("ak", "Add", &["mk_o", "bk"], &["k"]),
            n("mv", "MatMul", &["x", "Wv"], &["v"]),
        ],
    );
    let (g1, _) = apply(&VerticalFusion, &g, 1e-5);
    let (g2, r) = apply(&HorizontalFusion, &g1, 1e-5);
    assert_eq!(r.changes.len(), 1, "{:?}", ops(&g1));
    let wide = only(&g2, "FusedMatMul");
    assert!(sattr(wide, "fusion").starts_with("Horizontal("));
    assert_eq!(sattr(wide, "fused_nodes"), "mq,aq,mk,ak,mv");
    let split = only(&g2, "Split");
    assert_eq!(split.outputs, ["q", "k", "v"]);
}

#[test]
fn parallel_1x1_convs_merge_but_different_ones_do_not() {
    let g = graph(
        &[("x", &[1, 4, 5, 5])],
        &["a", "b", "c"],
        vec![
            ("W1", random(&[3, 4, 1, 1], 1)),
            ("W2", random(&[5, 4, 1, 1], 2)),
            ("W3", random(&[2, 4, 3, 3], 3)),
        ],
        vec![
            n("c1", "Conv", &["x", "W1"], &["a"]),
            n("c2", "Conv", &["x", "W2"], &["b"]),
            n("c3", "Conv", &["x", "W3"], &["c"]),
        ],
    );
    let (after, r) = apply(&HorizontalFusion, &g, 1e-5);
    assert_eq!(r.changes.len(), 1);
    assert_eq!(ops(&after), ["FusedConv", "Split", "Conv"]);
    // Non-constant weights never merge.
    let g = graph(
        &[("x", &[3, 4]), ("Wa", &[4, 2]), ("Wb", &[4, 2])],
        &["a", "b"],
        vec![],
        vec![
            n("ma", "MatMul", &["x", "Wa"], &["a"]),
            n("mb", "MatMul", &["x", "Wb"], &["b"]),
        ],
    );
    let (_, r) = apply(&HorizontalFusion, &g, 1e-6);
    assert!(r.changes.is_empty());
}
