//! Networks built by hand with the Network Definition API, run by the reference evaluator
//! and checked against independent computations.

use kiln_core::{
    ActivationType, Attributes, DataType, Dim, ElementWiseOp, Error, NetworkDefinition,
    PoolingType, ReduceOp, Shape, Shuffle, Tensor, UnaryOp, ValueType, run_tensors,
};
use std::collections::HashMap;

/// Deterministic pseudo-random values in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// Direct 2-D convolution (no groups), stride 1, symmetric padding `pad`.
#[allow(clippy::too_many_arguments)]
fn conv2d(
    x: &[f64],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    wt: &[f32],
    m: usize,
    k: usize,
    bias: &[f32],
    pad: usize,
) -> (Vec<f64>, usize, usize) {
    let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
    let mut y = vec![0.0; n * m * oh * ow];
    for b in 0..n {
        for o in 0..m {
            for i in 0..oh {
                for j in 0..ow {
                    let mut s = bias[o] as f64;
                    for ci in 0..c {
                        for ki in 0..k {
                            for kj in 0..k {
                                let (yy, xx) = (i + ki, j + kj);
                                if yy < pad || xx < pad || yy - pad >= h || xx - pad >= w {
                                    continue;
                                }
                                s += x[((b * c + ci) * h + yy - pad) * w + xx - pad]
                                    * wt[((o * c + ci) * k + ki) * k + kj] as f64;
                            }
                        }
                    }
                    y[((b * m + o) * oh + i) * ow + j] = s;
                }
            }
        }
    }
    (y, oh, ow)
}

fn reference_cnn(
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    fc_w: &[f32],
    fc_b: &[f32],
) -> Vec<f64> {
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let (mut y, h, w) = conv2d(&x, 2, 3, 8, 8, w1, 4, 3, b1, 1);
    y.iter_mut().for_each(|v| *v = v.max(0.0));
    // 2x2 max pool, stride 2.
    let (ph, pw) = (h / 2, w / 2);
    let mut p = vec![0.0; 2 * 4 * ph * pw];
    for bc in 0..8 {
        for i in 0..ph {
            for j in 0..pw {
                let at = |a: usize, b: usize| y[(bc * h + a) * w + b];
                p[(bc * ph + i) * pw + j] = at(2 * i, 2 * j)
                    .max(at(2 * i + 1, 2 * j))
                    .max(at(2 * i, 2 * j + 1))
                    .max(at(2 * i + 1, 2 * j + 1));
            }
        }
    }
    let (mut z, zh, zw) = conv2d(&p, 2, 4, ph, pw, w2, 6, 3, b2, 0);
    z.iter_mut().for_each(|v| *v = v.max(0.0));
    let area = (zh * zw) as f64;
    let gap: Vec<f64> = (0..12)
        .map(|bc| z[bc * zh * zw..][..zh * zw].iter().sum::<f64>() / area)
        .collect();
    let mut out = vec![0.0; 2 * 5];
    for b in 0..2 {
        let logits: Vec<f64> = (0..5)
            .map(|o| {
                fc_b[o] as f64
                    + (0..6)
                        .map(|i| gap[b * 6 + i] * fc_w[o * 6 + i] as f64)
                        .sum::<f64>()
            })
            .collect();
        let mx = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
        let s: f64 = e.iter().sum();
        for o in 0..5 {
            out[b * 5 + o] = e[o] / s;
        }
    }
    out
}

#[test]
fn small_cnn_matches_direct_computation() -> Result<(), Error> {
    let mut rng = Lcg(42);
    let (w1, b1) = (rng.vec(4 * 3 * 9, 0.5), rng.vec(4, 0.1));
    let (w2, b2) = (rng.vec(6 * 4 * 9, 0.5), rng.vec(6, 0.1));
    let (fc_w, fc_b) = (rng.vec(5 * 6, 1.0), rng.vec(5, 0.1));
    let x = rng.vec(2 * 3 * 8 * 8, 1.0);

    let mut net = NetworkDefinition::new("cnn");
    let input = net.add_input("image", DataType::F32, Shape::fixed(&[2, 3, 8, 8]))?;
    let c1 = net.add_convolution(
        &input,
        4,
        &[3, 3],
        Tensor::from_vec(&[4, 3, 3, 3], w1.clone())?,
        Some(Tensor::from_vec(&[4], b1.clone())?),
    )?;
    net.set_padding(&c1, &[1, 1])?;
    let r1 = net.add_activation(&c1.out(), ActivationType::Relu)?;
    let p1 = net.add_pooling(&r1.out(), PoolingType::Max, &[2, 2])?;
    net.set_stride(&p1, &[2, 2])?;
    let c2 = net.add_convolution(
        &p1.out(),
        6,
        &[3, 3],
        Tensor::from_vec(&[6, 4, 3, 3], w2.clone())?,
        Some(Tensor::from_vec(&[6], b2.clone())?),
    )?;
    let r2 = net.add_activation(&c2.out(), ActivationType::Relu)?;
    let gap = net.add_global_pooling(&r2.out(), PoolingType::Average)?;
    let flat = net.add_flatten(&gap.out(), 1)?;
    let fc = net.add_fully_connected(
        &flat.out(),
        5,
        Tensor::from_vec(&[5, 6], fc_w.clone())?,
        Some(Tensor::from_vec(&[5], fc_b.clone())?),
    )?;
    let sm = net.add_softmax(&fc.out(), 1)?;
    // Shapes are known while building.
    assert_eq!(
        net.tensor_fact(&p1.out())?.shape,
        Some(Shape::fixed(&[2, 4, 4, 4]))
    );
    net.mark_output(&sm.out(), "probs")?;
    let graph = net.finish()?;
    assert_eq!(graph.outputs[0].name, "probs");
    match &graph.outputs[0].ty {
        ValueType::Tensor(f) => assert_eq!(f.shape, Some(Shape::fixed(&[2, 5]))),
        other => panic!("unexpected output type {other:?}"),
    }
    let names: std::collections::HashSet<_> = graph.nodes.iter().map(|n| n.name.clone()).collect();
    assert_eq!(names.len(), graph.nodes.len(), "layer names are unique");

    let y = run_tensors(
        &graph,
        HashMap::from([(
            "image".to_string(),
            Tensor::from_vec(&[2, 3, 8, 8], x.clone())?,
        )]),
    )?;
    assert_eq!(y[0].shape(), &[2, 5]);
    assert_eq!(y[0].dtype(), DataType::F32);
    let got = y[0].to_f64_vec()?;
    let want = reference_cnn(&x, &w1, &b1, &w2, &b2, &fc_w, &fc_b);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "got {got:?}\nwant {want:?}");
    }
    for row in got.chunks(5) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
    // The probabilities are not degenerate (the weights matter).
    assert!(got.iter().any(|&p| (p - 0.2).abs() > 1e-3));
    Ok(())
}

#[test]
fn transformer_encoder_block_runs() -> Result<(), Error> {
    const T: usize = 4;
    const D: usize = 8;
    const F: usize = 16;
    let mut rng = Lcg(7);
    let mut net = NetworkDefinition::new("encoder");
    let x = net.add_input(
        "x",
        DataType::F32,
        Shape(vec![Dim::Fixed(1), Dim::Fixed(T), Dim::Fixed(D)]),
    )?;
    let mut weight = |net: &mut NetworkDefinition, name: &str, shape: &[usize]| {
        let n = shape.iter().product();
        net.add_constant(name, Tensor::from_vec(shape, rng.vec(n, 0.4))?)
    };
    let wq = weight(&mut net, "wq", &[D, D])?;
    let wk = weight(&mut net, "wk", &[D, D])?;
    let wv = weight(&mut net, "wv", &[D, D])?;
    let wo = weight(&mut net, "wo", &[D, D])?;
    let w1 = weight(&mut net, "w1", &[D, F])?;
    let b1 = weight(&mut net, "b1", &[F])?;
    let w2 = weight(&mut net, "w2", &[F, D])?;
    let b2 = weight(&mut net, "b2", &[D])?;
    let scale = net.add_constant("inv_sqrt_d", Tensor::scalar(1.0f32 / (D as f32).sqrt()))?;
    let gamma = net.add_constant("gamma", Tensor::from_vec(&[D], vec![1.0f32; D])?)?;
    let beta = net.add_constant("beta", Tensor::from_vec(&[D], vec![0.0f32; D])?)?;
    let eps = net.add_constant("eps", Tensor::scalar(1e-5f32))?;

    let q = net.add_matmul(&x, &wq)?.out();
    let k = net.add_matmul(&x, &wk)?.out();
    let v = net.add_matmul(&x, &wv)?.out();
    let kt = net
        .add_shuffle(
            &k,
            &Shuffle {
                first_transpose: Some(vec![0, 2, 1]),
                ..Shuffle::default()
            },
        )?
        .out();
    let scores = net.add_matmul(&q, &kt)?.out();
    let scaled = net
        .add_elementwise(&scores, &scale, ElementWiseOp::Prod)?
        .out();
    let attn = net.add_softmax(&scaled, -1)?.out();
    let ctx = net.add_matmul(&attn, &v)?.out();
    let proj = net.add_matmul(&ctx, &wo)?.out();
    let res1 = net.add_elementwise(&x, &proj, ElementWiseOp::Sum)?.out();
    let ln1 = net.add_normalization(&res1, &gamma, &beta, -1, 1e-5)?.out();
    let h = net.add_matmul(&ln1, &w1)?.out();
    let h = net.add_elementwise(&h, &b1, ElementWiseOp::Sum)?.out();
    let h = net.add_activation(&h, ActivationType::Gelu)?.out();
    let h = net.add_matmul(&h, &w2)?.out();
    let h = net.add_elementwise(&h, &b2, ElementWiseOp::Sum)?.out();
    let res2 = net.add_elementwise(&ln1, &h, ElementWiseOp::Sum)?.out();
    // Layer norm from primitives: (x - mean) / sqrt(var + eps).
    let mean = net.add_reduce(&res2, ReduceOp::Mean, &[-1], true)?.out();
    let centered = net.add_elementwise(&res2, &mean, ElementWiseOp::Sub)?.out();
    let sq = net
        .add_elementwise(&centered, &centered, ElementWiseOp::Prod)?
        .out();
    let var = net.add_reduce(&sq, ReduceOp::Mean, &[-1], true)?.out();
    let var_eps = net.add_elementwise(&var, &eps, ElementWiseOp::Sum)?.out();
    let std = net.add_unary(&var_eps, UnaryOp::Sqrt)?.out();
    let manual = net
        .add_elementwise(&centered, &std, ElementWiseOp::Div)?
        .out();
    // The builtin layer norm of the same tensor, to compare.
    let builtin = net.add_normalization(&res2, &gamma, &beta, -1, 1e-5)?.out();
    net.mark_output(&manual, "y")?;
    net.mark_output(&builtin, "y_builtin")?;
    net.mark_output(&attn, "attention")?;
    let graph = net.finish()?;

    let xin = Tensor::from_vec(&[1, T, D], Lcg(99).vec(T * D, 1.0))?;
    let out = run_tensors(&graph, HashMap::from([("x".to_string(), xin)]))?;
    assert_eq!(out[0].shape(), &[1, T, D]);
    let y = out[0].to_f64_vec()?;
    let yb = out[1].to_f64_vec()?;
    for (a, b) in y.iter().zip(&yb) {
        assert!(
            a.is_finite() && (a - b).abs() < 1e-4,
            "manual {a} vs builtin {b}"
        );
    }
    for row in y.chunks(D) {
        let m = row.iter().sum::<f64>() / D as f64;
        let v = row.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / D as f64;
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3, "mean {m} var {v}");
    }
    assert_eq!(out[2].shape(), &[1, T, T]);
    for row in out[2].to_f64_vec()?.chunks(T) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
    Ok(())
}

#[test]
fn builder_rejects_bad_operands() -> Result<(), Error> {
    let mut net = NetworkDefinition::new("bad");
    let x = net.add_input("x", DataType::F32, Shape::fixed(&[1, 3, 8, 8]))?;
    assert!(
        net.add_input("x", DataType::F32, Shape::fixed(&[1]))
            .is_err(),
        "duplicate name"
    );
    // Weights that do not match the declared filters.
    let w = Tensor::zeros(DataType::F32, &[4, 3, 3, 3]);
    assert!(
        net.add_convolution(&x, 5, &[3, 3], w.clone(), None)
            .is_err()
    );
    assert!(
        net.add_convolution(&x, 4, &[5, 5], w.clone(), None)
            .is_err()
    );
    // A tensor of another network.
    let mut other = NetworkDefinition::new("other");
    let y = other.add_input("y", DataType::F32, Shape::fixed(&[3, 3]))?;
    assert!(net.add_activation(&y, ActivationType::Relu).is_err());
    // Matmul with inner dims that do not fit; element-wise shapes that do not broadcast.
    let a = net.add_input("a", DataType::F32, Shape::fixed(&[2, 3]))?;
    let b = net.add_input("b", DataType::F32, Shape::fixed(&[4, 5]))?;
    assert!(net.add_matmul(&a, &b).is_err());
    assert!(net.add_elementwise(&a, &b, ElementWiseOp::Sum).is_err());
    let i = net.add_input("i", DataType::I64, Shape::fixed(&[2, 3]))?;
    assert!(
        net.add_elementwise(&a, &i, ElementWiseOp::Sum).is_err(),
        "mixed dtypes"
    );
    assert!(net.add_transpose(&a, &[0, 0]).is_err());
    assert!(net.add_reduce(&a, ReduceOp::Sum, &[5], false).is_err());
    // A stride the layer rejects leaves it unchanged.
    let c = net.add_convolution(&x, 4, &[3, 3], w, None)?;
    assert!(net.set_stride(&c, &[0, 1]).is_err());
    assert_eq!(
        net.tensor_fact(&c.out())?.shape,
        Some(Shape::fixed(&[1, 4, 6, 6]))
    );
    net.set_stride(&c, &[2, 2])?;
    assert_eq!(
        net.tensor_fact(&c.out())?.shape,
        Some(Shape::fixed(&[1, 4, 3, 3]))
    );
    // Groups that do not fit the channels are caught by finish.
    net.set_groups(&c, 2)?;
    net.mark_output(&c.out(), "")?;
    let err = net.finish().unwrap_err();
    assert!(err.to_string().contains("channels"), "{err}");
    // No outputs.
    assert!(NetworkDefinition::new("empty").finish().is_err());
    Ok(())
}

#[test]
fn plugin_layers_stay_unresolved_and_symbolic_batch_is_kept() -> Result<(), Error> {
    let mut net = NetworkDefinition::new("plugin");
    let x = net.add_input(
        "x",
        DataType::F32,
        Shape(vec![
            Dim::Sym("N".into()),
            Dim::Fixed(3),
            Dim::Fixed(8),
            Dim::Fixed(8),
        ]),
    )?;
    let c = net.add_convolution(
        &x,
        2,
        &[3, 3],
        Tensor::zeros(DataType::F32, &[2, 3, 3, 3]),
        None,
    )?;
    assert_eq!(
        net.tensor_fact(&c.out())?.shape,
        Some(Shape(vec![
            Dim::Sym("N".into()),
            Dim::Fixed(2),
            Dim::Fixed(6),
            Dim::Fixed(6)
        ]))
    );
    let attrs = Attributes::new().with("scale", kiln_core::Attribute::Float(2.0));
    let p = net.add_plugin("MyScale", "1", "com.example", &[&c.out()], attrs, 2)?;
    assert_eq!(p.outputs().len(), 2);
    net.mark_output(&p.out(), "out")?;
    let g = net.finish()?;
    let unresolved = g.unresolved_nodes();
    assert_eq!(unresolved.len(), 1);
    let op = unresolved[0].op.unresolved().expect("plugin op");
    assert_eq!(
        (op.name.as_str(), op.version.as_str(), op.namespace.as_str()),
        ("MyScale", "1", "com.example")
    );
    assert_eq!(unresolved[0].domain, "com.example");
    let x = Tensor::zeros(DataType::F32, &[1, 3, 8, 8]);
    let err = run_tensors(&g, HashMap::from([("x".to_string(), x)])).unwrap_err();
    assert!(err.to_string().contains("MyScale"), "{err}");
    Ok(())
}
