//! Each CUDA kernel against the CPU reference op on random inputs (several shapes, odd
//! sizes). Needs an NVIDIA GPU: without one every test prints why it skips, or fails when
//! `KILN_REQUIRE_GPU=1` (the GPU machine's runs).

mod common;

use common::{attrs, random, worst};
use kiln_core::{Attribute, Attributes, DataType, Node, Tensor};
use kiln_kernels::cuda::memory::{DeviceMemory, align_up, download, upload};
use kiln_kernels::cuda::{DevTensor, Exec, Gpu, Spec, layer_for};
use std::sync::Arc;

fn gpu() -> Option<Arc<Gpu>> {
    common::gpu("CUDA kernel test")
}

/// Deterministic pseudo-random f32 values in [lo, hi).
fn r(shape: &[usize], seed: u64) -> Option<Tensor> {
    Some(random(shape, seed, -1.0, 1.0))
}

fn ints(v: &[i64]) -> Attribute {
    Attribute::Ints(v.to_vec())
}

/// Run `op` on the GPU and on the CPU reference; assert the GPU kernel exists and agrees.
/// `consts`: input positions passed as constants (as the engine does for initializers).
fn check(op: &str, attrs: Attributes, inputs: Vec<Option<Tensor>>, consts: &[usize]) {
    check_n(op, attrs, inputs, consts, 1);
}

/// As [`check`], for an op with `n_out` outputs (all compared).
fn check_n(
    op: &str,
    attrs: Attributes,
    inputs: Vec<Option<Tensor>>,
    consts: &[usize],
    n_out: usize,
) {
    let Some(gpu) = gpu() else { return };
    let names: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.is_some() {
                format!("in{i}")
            } else {
                String::new()
            }
        })
        .collect();
    let out_names: Vec<String> = (0..n_out).map(|i| format!("out{i}")).collect();
    let mut node = Node::builtin("layer", op, attrs, names, out_names).expect("node");
    if op.starts_with("Fused") {
        node.domain = "kiln".into();
    }
    let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
    // Ops may return optional outputs the node does not ask for: compare the requested ones.
    let wants: Vec<Tensor> = node
        .op
        .eval(&refs)
        .expect("CPU reference")
        .into_iter()
        .take(n_out)
        .collect();
    let spec = |t: &Tensor| Spec {
        dtype: t.dtype(),
        shape: t.shape().to_vec(),
    };
    let specs: Vec<Option<Spec>> = inputs.iter().map(|t| t.as_ref().map(spec)).collect();
    let constants: Vec<Option<&Tensor>> = (0..inputs.len())
        .map(|i| {
            if consts.contains(&i) {
                inputs[i].as_ref()
            } else {
                None
            }
        })
        .collect();
    let out_specs: Vec<Spec> = wants.iter().map(spec).collect();
    let shapes: Vec<String> = specs
        .iter()
        .map(|s| format!("{:?}", s.as_ref().map(|s| &s.shape)))
        .collect();
    let what = format!("{op} inputs {}", shapes.join(" "));
    let layer = layer_for(&node, &specs, &constants, &out_specs)
        .unwrap_or_else(|| panic!("{what}: no GPU kernel"));
    // One device block: inputs, outputs, workspace.
    let bytes = |t: &Spec| align_up(t.len() * t.dtype.size_of().unwrap());
    let mut sizes: Vec<usize> = specs.iter().map(|s| s.as_ref().map_or(0, bytes)).collect();
    sizes.extend(out_specs.iter().map(bytes));
    sizes.push(align_up(layer.workspace_bytes()));
    let mem = DeviceMemory::alloc(gpu.context(), sizes.iter().sum()).expect("device memory");
    let stream = gpu.new_stream().expect("stream");
    let mut ptrs = Vec::new();
    let mut off = 0u64;
    for sz in &sizes {
        ptrs.push(mem.ptr() + off);
        off += *sz as u64;
    }
    let mut keep = Vec::new();
    let mut dev_in = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        dev_in.push(t.as_ref().map(|t| {
            let d = DevTensor {
                ptr: ptrs[i],
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
            };
            keep.push(upload(&stream, t, &d).expect("upload"));
            d
        }));
    }
    let outs: Vec<DevTensor> = out_specs
        .iter()
        .enumerate()
        .map(|(j, o)| DevTensor {
            ptr: ptrs[inputs.len() + j],
            dtype: o.dtype,
            shape: o.shape.clone(),
        })
        .collect();
    let ws = *ptrs.last().expect("workspace");
    let ins: Vec<Option<&DevTensor>> = dev_in.iter().map(Option::as_ref).collect();
    layer
        .enqueue(
            &Exec {
                gpu: &gpu,
                stream: &stream,
            },
            &ins,
            &outs,
            ws,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for (j, (out, want)) in outs.iter().zip(&wants).enumerate() {
        let got = download(&stream, out).expect("download");
        assert_eq!(got.shape(), want.shape(), "{what}: output {j} shape");
        let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
        let worst = worst(&g, &w, |a, b| (a - b).abs() / (1e-4 + 1e-3 * b.abs()));
        let i = worst.1;
        assert!(
            worst.0 <= 1.0,
            "{what} ({}): output {j} element {i}: GPU {} vs CPU {}",
            layer.kernel(),
            g.get(i).copied().unwrap_or(f64::NAN),
            w.get(i).copied().unwrap_or(f64::NAN)
        );
    }
    drop(keep);
    eprintln!("ok {what} via {}", layer.kernel());
}

#[test]
fn unary_ops() {
    for (i, shape) in [vec![7usize, 13], vec![3, 1, 5, 9], vec![1]]
        .iter()
        .enumerate()
    {
        let s = i as u64 * 10;
        for op in [
            "Relu",
            "Sigmoid",
            "Tanh",
            "Exp",
            "Erf",
            "Neg",
            "Abs",
            "HardSwish",
            "Softplus",
            "Floor",
            "Sin",
        ] {
            check(op, Attributes::new(), vec![r(shape, s + 1)], &[]);
        }
        check(
            "LeakyRelu",
            attrs(&[("alpha", Attribute::Float(0.1))]),
            vec![r(shape, s + 2)],
            &[],
        );
        check("Elu", Attributes::new(), vec![r(shape, s + 3)], &[]);
        check(
            "Sqrt",
            Attributes::new(),
            vec![Some(random(shape, s + 4, 0.01, 4.0))],
            &[],
        );
        check(
            "Log",
            Attributes::new(),
            vec![Some(random(shape, s + 5, 0.01, 4.0))],
            &[],
        );
        check(
            "Reciprocal",
            Attributes::new(),
            vec![Some(random(shape, s + 6, 0.5, 4.0))],
            &[],
        );
        check(
            "Clip",
            Attributes::new(),
            vec![
                r(shape, s + 7),
                Some(Tensor::scalar(-0.5f32)),
                Some(Tensor::scalar(0.25f32)),
            ],
            &[1, 2],
        );
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    let cases: [(&[usize], &[usize]); 5] = [
        (&[3, 5], &[3, 5]),
        (&[2, 3, 5], &[5]),
        (&[4, 1, 7], &[1, 6, 1]),
        (&[1], &[3, 2, 9]),
        (&[2, 3, 4, 5], &[3, 1, 1]),
    ];
    for (i, (a, b)) in cases.iter().enumerate() {
        let s = 100 + i as u64 * 10;
        for op in ["Add", "Sub", "Mul", "Max", "Min"] {
            check(op, Attributes::new(), vec![r(a, s), r(b, s + 1)], &[]);
        }
        check(
            "Div",
            Attributes::new(),
            vec![r(a, s + 2), Some(random(b, s + 3, 0.5, 2.0))],
            &[],
        );
        check(
            "Pow",
            Attributes::new(),
            vec![Some(random(a, s + 4, 0.1, 2.0)), r(b, s + 5)],
            &[],
        );
    }
    check(
        "PRelu",
        Attributes::new(),
        vec![r(&[2, 3, 4, 5], 7), r(&[3, 1, 1], 8)],
        &[],
    );
}

#[test]
fn matmul_and_gemm() {
    let mm: [(&[usize], &[usize]); 5] = [
        (&[5, 7], &[7, 3]),
        (&[2, 3, 17, 9], &[9, 11]),
        (&[4, 5, 6], &[4, 6, 3]),
        (&[5, 6], &[3, 6, 4]),
        (&[1, 33], &[33, 65]),
    ];
    for (i, (a, b)) in mm.iter().enumerate() {
        check(
            "MatMul",
            Attributes::new(),
            vec![r(a, 200 + i as u64), r(b, 300 + i as u64)],
            &[],
        );
    }
    for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let a: &[usize] = if ta == 1 { &[9, 5] } else { &[5, 9] };
        let b: &[usize] = if tb == 1 { &[7, 9] } else { &[9, 7] };
        let at = attrs(&[
            ("transA", Attribute::Int(ta)),
            ("transB", Attribute::Int(tb)),
            ("alpha", Attribute::Float(0.5)),
        ]);
        check("Gemm", at.clone(), vec![r(a, 1), r(b, 2)], &[]);
        check("Gemm", at.clone(), vec![r(a, 3), r(b, 4), r(&[7], 5)], &[]);
        let at2 = attrs(&[
            ("transA", Attribute::Int(ta)),
            ("transB", Attribute::Int(tb)),
            ("beta", Attribute::Float(0.25)),
        ]);
        check(
            "Gemm",
            at2.clone(),
            vec![r(a, 6), r(b, 7), r(&[5, 7], 8)],
            &[],
        );
        check("Gemm", at2, vec![r(a, 9), r(b, 10), r(&[1, 7], 11)], &[]);
    }
}

#[test]
fn fused_matmul_epilogues() {
    for act in ["", "Relu", "Gelu", "Sigmoid"] {
        let a = attrs(&[("activation", Attribute::String(act.into()))]);
        check(
            "FusedMatMul",
            a.clone(),
            vec![r(&[2, 9, 16], 1), r(&[16, 24], 2), r(&[24], 3)],
            &[],
        );
        check(
            "FusedMatMul",
            a.clone(),
            vec![
                r(&[2, 9, 16], 4),
                r(&[16, 24], 5),
                r(&[24], 6),
                r(&[2, 9, 24], 7),
            ],
            &[],
        );
        let t = attrs(&[
            ("activation", Attribute::String(act.into())),
            ("trans_b", Attribute::Int(1)),
            ("alpha", Attribute::Float(0.125)),
        ]);
        check(
            "FusedMatMul",
            t,
            vec![r(&[3, 2, 5, 8], 8), r(&[3, 2, 7, 8], 9)],
            &[],
        );
    }
}

#[test]
fn convolutions() {
    let plain = |extra: &[(&str, Attribute)]| attrs(extra);
    check(
        "Conv",
        plain(&[("pads", ints(&[1, 1, 1, 1]))]),
        vec![r(&[2, 3, 9, 11], 1), r(&[5, 3, 3, 3], 2), r(&[5], 3)],
        &[],
    );
    check(
        "Conv",
        plain(&[
            ("strides", ints(&[2, 2])),
            ("dilations", ints(&[2, 1])),
            ("pads", ints(&[1, 2, 0, 1])),
        ]),
        vec![r(&[3, 4, 13, 10], 4), r(&[6, 4, 3, 3], 5)],
        &[],
    );
    check(
        "Conv",
        plain(&[]),
        vec![r(&[2, 8, 7, 5], 6), r(&[12, 8, 1, 1], 7), r(&[12], 8)],
        &[],
    );
    check(
        "Conv",
        plain(&[("group", Attribute::Int(2)), ("pads", ints(&[1, 1, 1, 1]))]),
        vec![r(&[2, 4, 6, 7], 9), r(&[6, 2, 3, 3], 10), r(&[6], 11)],
        &[],
    );
    check(
        "Conv",
        plain(&[
            ("group", Attribute::Int(8)),
            ("strides", ints(&[2, 2])),
            ("pads", ints(&[1, 1, 1, 1])),
        ]),
        vec![r(&[1, 8, 9, 9], 12), r(&[8, 1, 3, 3], 13)],
        &[],
    );
    for act in ["Relu", "Clip", "HardSwish"] {
        let mut a = attrs(&[
            ("activation", Attribute::String(act.into())),
            ("pads", ints(&[1, 1, 1, 1])),
        ]);
        if act == "Clip" {
            a.set("activation_alpha", Attribute::Float(0.0));
            a.set("activation_beta", Attribute::Float(0.5));
        }
        check(
            "FusedConv",
            a.clone(),
            vec![r(&[2, 3, 8, 8], 20), r(&[4, 3, 3, 3], 21), r(&[4], 22)],
            &[],
        );
        check(
            "FusedConv",
            a,
            vec![
                r(&[2, 3, 8, 8], 23),
                r(&[4, 3, 3, 3], 24),
                r(&[4], 25),
                r(&[2, 4, 8, 8], 26),
            ],
            &[],
        );
    }
}

#[test]
fn pooling_and_reductions() {
    let a = attrs(&[
        ("kernel_shape", ints(&[3, 3])),
        ("strides", ints(&[2, 2])),
        ("pads", ints(&[1, 1, 1, 1])),
    ]);
    check("MaxPool", a.clone(), vec![r(&[2, 3, 11, 9], 1)], &[]);
    check("AveragePool", a.clone(), vec![r(&[2, 3, 11, 9], 2)], &[]);
    let mut b = a.clone();
    b.set("count_include_pad", Attribute::Int(1));
    check("AveragePool", b, vec![r(&[1, 2, 7, 7], 3)], &[]);
    check(
        "MaxPool",
        attrs(&[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))]),
        vec![r(&[1, 5, 8, 6], 4)],
        &[],
    );
    check(
        "GlobalAveragePool",
        Attributes::new(),
        vec![r(&[3, 5, 7, 9], 5)],
        &[],
    );
    check(
        "GlobalMaxPool",
        Attributes::new(),
        vec![r(&[2, 4, 3, 5], 6)],
        &[],
    );
    let axes = |v: &[i64]| Some(Tensor::from_vec(&[v.len()], v.to_vec()).unwrap());
    for op in [
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceSumSquare",
        "ReduceL2",
    ] {
        check(
            op,
            Attributes::new(),
            vec![r(&[3, 5, 7], 7), axes(&[1])],
            &[1],
        );
        check(
            op,
            attrs(&[("keepdims", Attribute::Int(0))]),
            vec![r(&[2, 3, 4, 5], 8), axes(&[2, 3])],
            &[1],
        );
        check(
            op,
            Attributes::new(),
            vec![r(&[4, 33], 9), axes(&[-1])],
            &[1],
        );
    }
}

#[test]
fn softmax_and_layer_norm() {
    for shape in [vec![3usize, 7, 33], vec![2, 1500], vec![5, 1]] {
        check(
            "Softmax",
            Attributes::new(),
            vec![Some(random(&shape, 1, -8.0, 8.0))],
            &[],
        );
        check("LogSoftmax", Attributes::new(), vec![r(&shape, 2)], &[]);
    }
    check(
        "LayerNormalization",
        Attributes::new(),
        vec![r(&[4, 9, 64], 3), r(&[64], 4), r(&[64], 5)],
        &[],
    );
    check(
        "LayerNormalization",
        Attributes::new(),
        vec![r(&[3, 37], 6), r(&[37], 7)],
        &[],
    );
    check(
        "LayerNormalization",
        attrs(&[
            ("axis", Attribute::Int(1)),
            ("epsilon", Attribute::Float(1e-3)),
        ]),
        vec![r(&[2, 3, 5], 8), r(&[3, 5], 9), r(&[3, 5], 10)],
        &[],
    );
}

#[test]
fn layout_ops() {
    check(
        "Transpose",
        attrs(&[("perm", ints(&[0, 2, 1, 3]))]),
        vec![r(&[2, 3, 5, 7], 1)],
        &[],
    );
    check("Transpose", Attributes::new(), vec![r(&[4, 9, 3], 2)], &[]);
    check(
        "Transpose",
        attrs(&[("perm", ints(&[1, 0]))]),
        vec![r(&[1, 17], 3)],
        &[],
    );
    check(
        "Concat",
        attrs(&[("axis", Attribute::Int(1))]),
        vec![r(&[2, 3, 4], 4), r(&[2, 1, 4], 5), r(&[2, 5, 4], 6)],
        &[],
    );
    check(
        "Concat",
        attrs(&[("axis", Attribute::Int(-1))]),
        vec![r(&[3, 2], 7), r(&[3, 7], 8)],
        &[],
    );
    let idx = |v: &[i64], s: &[usize]| Some(Tensor::from_vec(s, v.to_vec()).unwrap());
    check(
        "Gather",
        Attributes::new(),
        vec![r(&[10, 6], 9), idx(&[3, 0, -1, 9, 3], &[5])],
        &[],
    );
    check(
        "Gather",
        attrs(&[("axis", Attribute::Int(1))]),
        vec![r(&[2, 7, 3], 10), idx(&[6, -7, 2, 2], &[2, 2])],
        &[],
    );
    check(
        "Reshape",
        Attributes::new(),
        vec![r(&[2, 3, 4], 11), idx(&[6, -1], &[2])],
        &[1],
    );
    check(
        "Flatten",
        Attributes::new(),
        vec![r(&[2, 3, 4, 5], 12)],
        &[],
    );
}

#[test]
fn non_f32_layers_fall_back() {
    // The engine runs these on the CPU: no GPU kernel is offered.
    let node = Node::builtin(
        "l",
        "Add",
        Attributes::new(),
        vec!["a".into(), "b".into()],
        vec!["y".into()],
    )
    .unwrap();
    let spec = Some(Spec {
        dtype: DataType::I64,
        shape: vec![3],
    });
    let out = Spec {
        dtype: DataType::I64,
        shape: vec![3],
    };
    assert!(layer_for(&node, &[spec.clone(), spec], &[None, None], &[out]).is_none());
}

#[test]
fn split_and_attention() {
    let a = attrs(&[
        ("axis", Attribute::Int(1)),
        ("num_outputs", Attribute::Int(3)),
    ]);
    check_n("Split", a, vec![r(&[2, 9, 5], 1)], &[], 3);
    let sizes = Some(Tensor::from_vec(&[2], vec![3i64, 4]).unwrap());
    check_n(
        "Split",
        attrs(&[("axis", Attribute::Int(-1))]),
        vec![r(&[4, 7], 2), sizes],
        &[1],
        2,
    );
    for (b, h, s, kv, d) in [(1, 2, 5, 5, 8), (2, 3, 17, 33, 16), (1, 1, 1, 7, 64)] {
        let qkv = vec![
            r(&[b, h, s, d], 3),
            r(&[b, h, kv, d], 4),
            r(&[b, h, kv, d], 5),
        ];
        check("Attention", Attributes::new(), qkv, &[]);
    }
    let qkv = vec![
        r(&[2, 2, 9, 4], 6),
        r(&[2, 2, 11, 4], 7),
        r(&[2, 2, 11, 6], 8),
    ];
    check(
        "Attention",
        attrs(&[("scale", Attribute::Float(0.3))]),
        qkv,
        &[],
    );
}
