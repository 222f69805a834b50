//! Every fast tactic of the CPU backend against the core reference op of its layer, on random
//! inputs of odd sizes: fused conv/matmul (bias, residual, every activation), elementwise
//! broadcast patterns, pooling, Softmax, LayerNormalization, Gelu and Attention.

use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Attribute, Attributes, Node, Tensor, Value};
use kiln_kernels::{Backend, CpuBackend, RunContext};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn t(&mut self, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::F32(
            ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| self.next() * 2.0).collect())
                .unwrap(),
        )
    }
}

/// Run every tactic the backend offers for the layer and compare each with the reference;
/// returns the number of fast tactics checked.
fn check(op_type: &str, domain: &str, attrs: Attributes, inputs: &[Option<Tensor>]) -> usize {
    let names: Vec<String> = (0..inputs.len())
        .map(|i| {
            if inputs[i].is_some() {
                format!("in{i}")
            } else {
                String::new()
            }
        })
        .collect();
    let mut node = Node::builtin("n", op_type, attrs, names, vec!["y".into()])
        .unwrap_or_else(|e| panic!("{op_type}: {e}"));
    node.domain = domain.to_string();
    let backend = CpuBackend::new(Some(2)).unwrap();
    let tactics = backend.tactics_for(&node);
    let values: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| t.clone().map(Value::Tensor))
        .collect();
    let args: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
    let ctx = RunContext::default();
    let reference = tactics
        .iter()
        .find(|t| t.name() == "reference")
        .expect("reference tactic");
    let want = backend.execute(reference.as_ref(), &args, &ctx).unwrap();
    let want = want[0].as_tensor().unwrap().array::<f32>().unwrap().clone();
    // Every input but the first as a constant (pre-packed weights), for the second round.
    let constants: Vec<Option<&Value>> = args
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 0 { None } else { *v })
        .collect();
    let mut fast = 0;
    for t in tactics.iter().filter(|t| t.name() != "reference") {
        for round in ["plain", "prepared"] {
            if round == "prepared" {
                t.prepare(&constants);
            }
            let got = backend
                .execute(t.as_ref(), &args, &ctx)
                .unwrap_or_else(|e| panic!("{op_type} {} ({round}): {e}", t.name()));
            let got = got[0].as_tensor().unwrap().array::<f32>().unwrap().clone();
            assert_eq!(got.shape(), want.shape(), "{op_type} {}", t.name());
            for (i, (x, y)) in got.iter().zip(want.iter()).enumerate() {
                let ok = (x - y).abs() <= 2e-4 + 2e-4 * y.abs() || (x.is_nan() && y.is_nan());
                assert!(
                    ok,
                    "{op_type} tactic {} ({round}): element {i}: {x} vs {y}",
                    t.name()
                );
            }
        }
        fast += 1;
    }
    fast
}

fn ints(v: &[i64]) -> Attribute {
    Attribute::Ints(v.to_vec())
}

const ACTIVATIONS: &[(&str, Option<f32>, Option<f32>)] = &[
    ("", None, None),
    ("Relu", None, None),
    ("Clip", Some(0.0), Some(6.0)),
    ("Sigmoid", None, None),
    ("Tanh", None, None),
    ("LeakyRelu", Some(0.1), None),
    ("HardSwish", None, None),
    ("HardSigmoid", Some(0.3), Some(0.4)),
    ("Gelu", None, None),
    ("GeluTanh", None, None),
];

fn with_act(mut a: Attributes, act: &(&str, Option<f32>, Option<f32>)) -> Attributes {
    a.set("activation", Attribute::String(act.0.into()));
    if let Some(v) = act.1 {
        a.set("activation_alpha", Attribute::Float(v));
    }
    if let Some(v) = act.2 {
        a.set("activation_beta", Attribute::Float(v));
    }
    a.set("fusion", Attribute::String("Conv+Add".into()));
    a
}

#[test]
fn fused_conv_all_algorithms_and_activations() {
    let mut r = Rng(7);
    // (x, w, group, strides, pads)
    let cases = [
        (
            vec![2, 6, 9, 11],
            vec![10, 6, 3, 3],
            1,
            [1, 1],
            [1, 1, 1, 1],
        ),
        (vec![1, 8, 13, 7], vec![8, 1, 3, 3], 8, [2, 2], [1, 1, 1, 1]),
        (vec![1, 5, 6, 7], vec![9, 5, 1, 1], 1, [1, 1], [0, 0, 0, 0]),
        (vec![1, 4, 9, 9], vec![6, 4, 1, 1], 1, [2, 2], [0, 0, 0, 0]),
        (
            vec![1, 3, 15, 14],
            vec![5, 3, 7, 7],
            1,
            [2, 2],
            [3, 3, 2, 3],
        ),
    ];
    for (xs, ws, group, strides, pads) in cases {
        for act in ACTIVATIONS {
            let attrs = Attributes::new()
                .with("group", Attribute::Int(group))
                .with("strides", ints(&strides.map(|v| v as i64)))
                .with("pads", ints(&pads));
            let x = r.t(&xs);
            let w = r.t(&ws);
            let b = r.t(&[ws[0]]);
            let oh = (xs[2] + (pads[0] + pads[2]) as usize - ws[2]) / strides[0] + 1;
            let ow = (xs[3] + (pads[1] + pads[3]) as usize - ws[3]) / strides[1] + 1;
            let z = r.t(&[xs[0], ws[0], oh, ow]);
            let inputs = [Some(x.clone()), Some(w.clone()), Some(b), Some(z)];
            let n = check("FusedConv", "kiln", with_act(attrs.clone(), act), &inputs);
            assert!(n >= 2, "several conv tactics for FusedConv");
            // Without bias and residual.
            check(
                "FusedConv",
                "kiln",
                with_act(attrs.clone(), act),
                &[Some(x.clone()), Some(w.clone())],
            );
            // Plain Conv.
            if act.0.is_empty() {
                assert!(check("Conv", "", attrs, &[Some(x), Some(w)]) >= 2);
            }
        }
    }
}

#[test]
fn fused_matmul_batched_transposed_with_output_stage() {
    let mut r = Rng(11);
    for act in ACTIVATIONS {
        let mut attrs = with_act(Attributes::new(), act);
        attrs.set("alpha", Attribute::Float(0.7));
        // A batched, B shared (one tall product), bias and residual.
        let inputs = [
            Some(r.t(&[3, 5, 17])),
            Some(r.t(&[17, 13])),
            Some(r.t(&[13])),
            Some(r.t(&[3, 5, 13])),
        ];
        assert_eq!(check("FusedMatMul", "kiln", attrs.clone(), &inputs), 2);
        // B batched and transposed, residual broadcast.
        let mut t = attrs.clone();
        t.set("trans_b", Attribute::Int(1));
        let inputs = [
            Some(r.t(&[2, 3, 7, 9])),
            Some(r.t(&[2, 3, 11, 9])),
            None,
            Some(r.t(&[7, 11])),
        ];
        check("FusedMatMul", "kiln", t, &inputs);
    }
    // Plain MatMul: broadcast batch dims and vectors.
    check(
        "MatMul",
        "",
        Attributes::new(),
        &[Some(r.t(&[4, 1, 6, 5])), Some(r.t(&[3, 5, 7]))],
    );
    check(
        "MatMul",
        "",
        Attributes::new(),
        &[Some(r.t(&[5])), Some(r.t(&[2, 5, 3]))],
    );
    check(
        "MatMul",
        "",
        Attributes::new(),
        &[Some(r.t(&[2, 4, 5])), Some(r.t(&[5]))],
    );
}

#[test]
fn binary_broadcast_patterns_keep_operand_order() {
    let mut r = Rng(3);
    let shapes: &[(&[usize], &[usize])] = &[
        (&[2, 3, 5, 7], &[2, 3, 5, 7]),
        (&[2, 3, 5, 7], &[1]),
        (&[2, 3, 5, 7], &[7]),
        (&[2, 3, 5, 7], &[5, 7]),
        (&[2, 3, 5, 7], &[3, 1, 1]),
        (&[2, 3, 5, 7], &[1, 3, 1, 1]),
        (&[3, 1, 1], &[2, 3, 5, 7]),
        (&[7], &[2, 3, 5, 7]),
        (&[2, 3, 5, 7], &[3, 1, 7]),
        (&[4, 1], &[1, 6]),
    ];
    for op in ["Add", "Sub", "Mul", "Div"] {
        for (a, b) in shapes {
            let n = check(op, "", Attributes::new(), &[Some(r.t(a)), Some(r.t(b))]);
            assert_eq!(n, 1, "{op} {a:?} {b:?}");
        }
    }
}

#[test]
fn unary_activations_match() {
    let mut r = Rng(5);
    let x = r.t(&[3, 1031]);
    for op in [
        "Relu",
        "Sigmoid",
        "Tanh",
        "LeakyRelu",
        "HardSwish",
        "HardSigmoid",
        "Gelu",
        "Erf",
        "Exp",
        "Neg",
        "Abs",
    ] {
        assert_eq!(
            check(op, "", Attributes::new(), &[Some(x.clone())]),
            1,
            "{op}"
        );
    }
    let tanh = Attributes::new().with("approximate", Attribute::String("tanh".into()));
    assert_eq!(check("Gelu", "", tanh, &[Some(x)]), 1);
}

#[test]
fn pools_match() {
    let mut r = Rng(9);
    let x = r.t(&[2, 3, 13, 11]);
    let base = Attributes::new()
        .with("kernel_shape", ints(&[3, 3]))
        .with("strides", ints(&[2, 2]))
        .with("pads", ints(&[1, 1, 1, 0]));
    assert_eq!(check("MaxPool", "", base.clone(), &[Some(x.clone())]), 1);
    assert_eq!(
        check("AveragePool", "", base.clone(), &[Some(x.clone())]),
        1
    );
    let cip = base.with("count_include_pad", Attribute::Int(1));
    assert_eq!(check("AveragePool", "", cip, &[Some(x.clone())]), 1);
    let dil = Attributes::new()
        .with("kernel_shape", ints(&[2, 3]))
        .with("dilations", ints(&[2, 1]));
    assert_eq!(check("MaxPool", "", dil, &[Some(x.clone())]), 1);
    for op in ["GlobalAveragePool", "GlobalMaxPool"] {
        assert_eq!(check(op, "", Attributes::new(), &[Some(x.clone())]), 1);
    }
}

#[test]
fn softmax_and_layer_norm_match() {
    let mut r = Rng(13);
    let x = r.t(&[2, 5, 37]);
    for axis in [-1, 1, 0] {
        let a = Attributes::new().with("axis", Attribute::Int(axis));
        assert_eq!(check("Softmax", "", a.clone(), &[Some(x.clone())]), 1);
        assert_eq!(check("LogSoftmax", "", a, &[Some(x.clone())]), 1);
    }
    let a = Attributes::new().with("epsilon", Attribute::Float(1e-3));
    let inputs = [Some(x.clone()), Some(r.t(&[37])), Some(r.t(&[37]))];
    assert_eq!(check("LayerNormalization", "", a, &inputs), 1);
    let a = Attributes::new().with("axis", Attribute::Int(1));
    let inputs = [Some(x), Some(r.t(&[5, 37]))];
    assert_eq!(check("LayerNormalization", "", a, &inputs), 1);
}

#[test]
fn attention_matches() {
    let mut r = Rng(17);
    // 4-D, float mask broadcast over heads.
    let inputs = [
        Some(r.t(&[2, 3, 7, 8])),
        Some(r.t(&[2, 3, 9, 8])),
        Some(r.t(&[2, 3, 9, 5])),
        Some(r.t(&[2, 1, 7, 9])),
    ];
    assert_eq!(check("Attention", "", Attributes::new(), &inputs), 1);
    // 3-D with heads, grouped-query, causal, explicit scale.
    let a = Attributes::new()
        .with("q_num_heads", Attribute::Int(4))
        .with("kv_num_heads", Attribute::Int(2))
        .with("is_causal", Attribute::Int(1))
        .with("scale", Attribute::Float(0.3));
    let inputs = [
        Some(r.t(&[2, 6, 4 * 6])),
        Some(r.t(&[2, 6, 2 * 6])),
        Some(r.t(&[2, 6, 2 * 5])),
    ];
    assert_eq!(check("Attention", "", a, &inputs), 1);
    // Bool mask.
    let mask = ArrayD::from_shape_fn(IxDyn(&[7, 9]), |ix| (ix[0] + ix[1]) % 3 != 0);
    let inputs = [
        Some(r.t(&[1, 2, 7, 4])),
        Some(r.t(&[1, 2, 9, 4])),
        Some(r.t(&[1, 2, 9, 4])),
        Some(Tensor::Bool(mask)),
    ];
    assert_eq!(check("Attention", "", Attributes::new(), &inputs), 1);
}

#[test]
fn transpose_and_batch_norm_match() {
    let mut r = Rng(19);
    let x = r.t(&[2, 5, 3, 7]);
    for perm in [
        vec![0, 2, 3, 1],
        vec![0, 3, 1, 2],
        vec![0, 2, 1, 3],
        vec![3, 2, 1, 0],
    ] {
        let a = Attributes::new().with("perm", ints(&perm));
        assert_eq!(check("Transpose", "", a, &[Some(x.clone())]), 1, "{perm:?}");
    }
    assert_eq!(
        check("Transpose", "", Attributes::new(), &[Some(x.clone())]),
        1
    );
    let var = Tensor::F32(ArrayD::from_shape_fn(IxDyn(&[5]), |i| 0.5 + i[0] as f32));
    let inputs = [
        Some(x),
        Some(r.t(&[5])),
        Some(r.t(&[5])),
        Some(r.t(&[5])),
        Some(var),
    ];
    let a = Attributes::new().with("epsilon", Attribute::Float(1e-3));
    assert_eq!(check("BatchNormalization", "", a, &inputs), 1);
}

/// Shapes large enough for the products to split over the workers (by columns and by rows).
#[test]
fn split_products_match() {
    let mut r = Rng(23);
    let mm = Attributes::new();
    check(
        "MatMul",
        "",
        mm.clone(),
        &[Some(r.t(&[1, 300, 130])), Some(r.t(&[130, 257]))],
    );
    check(
        "MatMul",
        "",
        mm,
        &[Some(r.t(&[700, 64])), Some(r.t(&[64, 40]))],
    );
    let mut t = with_act(Attributes::new(), &("Relu", None, None));
    t.set("trans_b", Attribute::Int(1));
    let inputs = [
        Some(r.t(&[2, 150, 96])),
        Some(r.t(&[200, 96])),
        Some(r.t(&[200])),
    ];
    check("FusedMatMul", "kiln", t, &inputs);
    let conv = Attributes::new().with("pads", ints(&[1, 1, 1, 1]));
    let inputs = [Some(r.t(&[1, 64, 20, 21])), Some(r.t(&[96, 64, 3, 3]))];
    assert!(check("Conv", "", conv, &inputs) >= 2);
    let inputs = [Some(r.t(&[1, 256, 7, 7])), Some(r.t(&[512, 256, 1, 1]))];
    assert!(check("Conv", "", Attributes::new(), &inputs) >= 2);
}
