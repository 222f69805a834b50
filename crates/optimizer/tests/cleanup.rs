//! Identity/no-op removal (Cast to same type, Reshape to same shape, identity Transpose),
//! Reshape chains, and Transpose composition / sinking (tf2onnx NHWC graphs).

mod common;
use common::*;
use kiln_core::{Attribute, Attributes};
use kiln_optimizer::{
    DeadNodeElimination, IdentityRemoval, ReshapeChains, TransposeOptimization, optimize,
};

fn perm(p: &[i64]) -> Attributes {
    attrs(&[("perm", Attribute::Ints(p.to_vec()))])
}

#[test]
fn noop_cast_reshape_transpose_are_removed_but_real_ones_stay() {
    let g = graph(
        &[("x", &[2, 3])],
        &["y", "z"],
        vec![("shape", ints(&[2, 3])), ("shape2", ints(&[3, 2]))],
        vec![
            node(
                "c1",
                "Cast",
                attrs(&[("to", Attribute::Int(1))]),
                &["x"],
                &["a"],
            ),
            n("r1", "Reshape", &["a", "shape"], &["b"]),
            node("t1", "Transpose", perm(&[0, 1]), &["b"], &["c"]),
            n("relu", "Relu", &["c"], &["y"]),
            node(
                "c2",
                "Cast",
                attrs(&[("to", Attribute::Int(11))]),
                &["x"],
                &["d"],
            ),
            n("r2", "Reshape", &["d", "shape2"], &["z"]),
        ],
    );
    let (after, r) = apply(&IdentityRemoval, &g, 0.0);
    assert_eq!(r.changes.len(), 3, "{:?}", r.changes);
    assert_eq!(ops(&after), ["Relu", "Cast", "Reshape"]);
}

#[test]
fn reshape_chains_collapse_unless_the_last_copies_dims() {
    let g = graph(
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![("s1", ints(&[6, 4])), ("s2", ints(&[4, -1]))],
        vec![
            n("r1", "Reshape", &["x", "s1"], &["a"]),
            n("r2", "Reshape", &["a", "s2"], &["y"]),
        ],
    );
    let (after, r) = apply(&ReshapeChains, &g, 0.0);
    assert_eq!(r.changes.len(), 1);
    assert_eq!(after.nodes[1].inputs[0], "x");
    let g = graph(
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![("s1", ints(&[6, 4])), ("s2", ints(&[0, 2, 2]))],
        vec![
            n("r1", "Reshape", &["x", "s1"], &["a"]),
            n("r2", "Reshape", &["a", "s2"], &["y"]),
        ],
    );
    let (_, r) = apply(&ReshapeChains, &g, 0.0);
    assert!(r.changes.is_empty());
}

#[test]
fn nhwc_transposes_cancel_around_elementwise_ops() {
    // tf2onnx style: NHWC input, to NCHW for a conv, back to NHWC for Relu and a bias Add,
    // to NCHW for the next conv, back to NHWC at the end.
    let g = graph(
        &[("x", &[1, 5, 5, 3])],
        &["y"],
        vec![
            ("W1", random(&[4, 3, 1, 1], 1)),
            ("W2", random(&[2, 4, 1, 1], 2)),
            ("bias", random(&[4], 3)),
        ],
        vec![
            node("t0", "Transpose", perm(&[0, 3, 1, 2]), &["x"], &["x_nchw"]),
            n("conv1", "Conv", &["x_nchw", "W1"], &["c1"]),
            node(
                "t1",
                "Transpose",
                perm(&[0, 2, 3, 1]),
                &["c1"],
                &["c1_nhwc"],
            ),
            n("relu", "Relu", &["c1_nhwc"], &["r"]),
            n("add", "Add", &["r", "bias"], &["a"]),
            node("t2", "Transpose", perm(&[0, 3, 1, 2]), &["a"], &["a_nchw"]),
            n("conv2", "Conv", &["a_nchw", "W2"], &["c2"]),
            node("t3", "Transpose", perm(&[0, 2, 3, 1]), &["c2"], &["y"]),
        ],
    );
    let (g1, r) = apply(&TransposeOptimization, &g, 1e-6);
    assert!(!r.changes.is_empty());

    let (g2, _) = apply(&IdentityRemoval, &g1, 1e-6);
    let (g2, _) = apply(&DeadNodeElimination, &g2, 1e-6);
    let transposes = ops(&g2).iter().filter(|o| *o == "Transpose").count();
    assert_eq!(transposes, 2, "{:?}", ops(&g2));
    // The whole pipeline keeps the output name and the results.
    let mut full = g.clone();
    optimize(&mut full).unwrap();
    assert_same(&g, &full, 1e-5);
    assert_eq!(full.outputs[0].name, "y");
}

#[test]
fn transposes_with_other_readers_or_mixed_perms_stay() {
    let g = graph(
        &[("x", &[1, 2, 3, 4]), ("w", &[1, 2, 4, 3])],
        &["y", "t"],
        vec![],
        vec![
            node("t0", "Transpose", perm(&[0, 2, 3, 1]), &["x"], &["t"]),
            n("relu", "Relu", &["t"], &["r"]),
            node("t1", "Transpose", perm(&[0, 3, 2, 1]), &["w"], &["u"]),
            n("add", "Add", &["r", "u"], &["y"]),
        ],
    );
    let (_, r) = apply(&TransposeOptimization, &g, 0.0);
    assert!(r.changes.is_empty(), "{:?}", r.changes);
}
