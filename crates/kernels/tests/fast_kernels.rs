//! Fast CPU kernels against straightforward loops (and against the builtin reference ops
//! where core registers them), on random inputs of odd sizes.

use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Attribute, Attributes, Node, Tensor, UnresolvedOp, Value, builtin_ops};
use kiln_kernels::cpu::{ConvAlgo, ConvTactic, GemmTactic, MatMulGemm};
use kiln_kernels::{Backend, CpuBackend, RunContext, Tactic};
use std::sync::Arc;

/// Small deterministic generator (xorshift) for test data in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn array(&mut self, shape: &[usize]) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| self.next()).collect()).unwrap()
    }
}

/// A node of `op_type`: the builtin op when core has it, else a placeholder of that name.
fn node(op_type: &str, attrs: Attributes, n_in: usize) -> Node {
    let inputs: Vec<String> = (0..n_in).map(|i| format!("in{i}")).collect();
    if builtin_ops().contains(op_type) {
        return Node::builtin("n", op_type, attrs, inputs, vec!["out".into()]).unwrap();
    }
    Node {
        name: "n".into(),
        domain: String::new(),
        op: Arc::new(UnresolvedOp {
            name: op_type.into(),
            namespace: String::new(),
            version: String::new(),
            reason: "not registered yet".into(),
        }),
        attrs,
        inputs,
        outputs: vec!["out".into()],
    }
}

fn run(t: &dyn Tactic, inputs: &[Option<ArrayD<f32>>]) -> ArrayD<f32> {
    let vals: Vec<Option<Value>> = inputs
        .iter()
        .map(|a| a.clone().map(|a| Value::Tensor(Tensor::F32(a))))
        .collect();
    let refs: Vec<Option<&Value>> = vals.iter().map(Option::as_ref).collect();
    let out = t.run(&refs, &RunContext::default()).unwrap();
    match out.into_iter().next() {
        Some(Value::Tensor(Tensor::F32(a))) => a,
        other => panic!("unexpected output {other:?}"),
    }
}

fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{x} vs {y}");
    }
}

/// Also compare with the builtin reference op when core registers it.
fn check_reference(n: &Node, inputs: &[Option<ArrayD<f32>>], fast: &ArrayD<f32>) {
    if n.op.unresolved().is_none() {
        let backend = CpuBackend::new(Some(2)).unwrap();
        let tactics = backend.tactics_for(n);
        assert!(tactics.len() >= 2, "fast tactic offered");
        let reference = tactics.iter().find(|t| t.name() == "reference").unwrap();
        assert_close(fast, &run(reference.as_ref(), inputs));
    }
}

fn naive_matmul(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    // a: [B?, M, K], b: [K, N] or [B, K, N] (batch equal or absent on b).
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let n = b.shape()[b.ndim() - 1];
    let batch = if a.ndim() == 3 { a.shape()[0] } else { 1 };
    let ad: Vec<f32> = a.iter().copied().collect();
    let bd: Vec<f32> = b.iter().copied().collect();
    let mut out = vec![0f32; batch * m * n];
    for bi in 0..batch {
        let boff = if b.ndim() == 3 { bi * k * n } else { 0 };
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for l in 0..k {
                    s += ad[bi * m * k + i * k + l] * bd[boff + l * n + j];
                }
                out[bi * m * n + i * n + j] = s;
            }
        }
    }
    let mut shape = a.shape()[..a.ndim() - 1].to_vec();
    shape.push(n);
    ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap()
}

#[test]
fn matmul_matches_loops() {
    let mut rng = Rng(0x1234_5678);
    for (ash, bsh) in [
        (vec![7, 13], vec![13, 5]),
        (vec![3, 17, 9], vec![9, 11]),
        (vec![2, 5, 33], vec![2, 33, 1]),
        (vec![1, 1], vec![1, 129]),
    ] {
        let a = rng.array(&ash);
        let b = rng.array(&bsh);
        let n = node("MatMul", Attributes::new(), 2);
        let t = MatMulGemm::new(n.op.clone());
        let inputs = [Some(a.clone()), Some(b.clone())];
        let got = run(&t, &inputs);
        assert_close(&got, &naive_matmul(&a, &b));
        check_reference(&n, &inputs, &got);
    }
}

#[test]
fn matmul_broadcasts_and_promotes_vectors() {
    let mut rng = Rng(99);
    let a = rng.array(&[4, 1, 3, 6]);
    let b = rng.array(&[5, 6, 2]);
    let t = MatMulGemm::new(node("MatMul", Attributes::new(), 2).op);
    let got = run(&t, &[Some(a.clone()), Some(b.clone())]);
    assert_eq!(got.shape(), &[4, 5, 3, 2]);
    // Check one broadcast slice against the loop version.
    let a_slice = a
        .index_axis(kiln_core::ndarray::Axis(0), 2)
        .index_axis(kiln_core::ndarray::Axis(0), 0)
        .to_owned()
        .into_dyn();
    let b_slice = b
        .index_axis(kiln_core::ndarray::Axis(0), 3)
        .to_owned()
        .into_dyn();
    let want = naive_matmul(&a_slice, &b_slice);
    let got_slice = got
        .index_axis(kiln_core::ndarray::Axis(0), 2)
        .index_axis(kiln_core::ndarray::Axis(0), 3)
        .to_owned()
        .into_dyn();
    assert_close(&got_slice, &want);
    // 1-D operands drop their promoted dims.
    let v = rng.array(&[6]);
    let m = rng.array(&[6, 3]);
    assert_eq!(run(&t, &[Some(v.clone()), Some(m)]).shape(), &[3]);
    let m2 = rng.array(&[2, 6]);
    assert_eq!(run(&t, &[Some(m2), Some(v)]).shape(), &[2]);
    // Mismatched inner dims are an error, not a panic.
    let bad = [Some(rng.array(&[2, 3])), Some(rng.array(&[4, 2]))];
    let vals: Vec<Option<Value>> = bad
        .iter()
        .map(|a| a.clone().map(|a| Value::Tensor(Tensor::F32(a))))
        .collect();
    let refs: Vec<Option<&Value>> = vals.iter().map(Option::as_ref).collect();
    assert!(t.run(&refs, &RunContext::default()).is_err());
}

#[test]
fn gemm_matches_loops_with_transposes_and_bias() {
    let mut rng = Rng(7);
    let (m, k, n) = (9, 14, 5);
    for (ta, tb, c_shape) in [
        (0, 0, vec![n]),
        (1, 0, vec![m, n]),
        (0, 1, vec![1]),
        (1, 1, vec![m, 1]),
    ] {
        let a = rng.array(&if ta == 1 { vec![k, m] } else { vec![m, k] });
        let b = rng.array(&if tb == 1 { vec![n, k] } else { vec![k, n] });
        let c = rng.array(&c_shape);
        let attrs = Attributes::new()
            .with("alpha", Attribute::Float(0.5))
            .with("beta", Attribute::Float(2.0))
            .with("transA", Attribute::Int(ta))
            .with("transB", Attribute::Int(tb));
        let nd = node("Gemm", attrs, 3);
        let t = GemmTactic::from_node(&nd).unwrap();
        let inputs = [Some(a.clone()), Some(b.clone()), Some(c.clone())];
        let got = run(&t, &inputs);
        let at = if ta == 1 { a.t().to_owned() } else { a.clone() };
        let bt = if tb == 1 { b.t().to_owned() } else { b.clone() };
        let prod = naive_matmul(
            &at.as_standard_layout().to_owned(),
            &bt.as_standard_layout().to_owned(),
        );
        let cb = c.broadcast(IxDyn(&[m, n])).unwrap();
        let want = prod.mapv(|x| 0.5 * x) + cb.mapv(|x| 2.0 * x);
        assert_close(&got, &want);
        check_reference(&nd, &inputs, &got);
    }
}

/// Direct convolution loops (2-D, NCHW, explicit pads).
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    group: usize,
    stride: [usize; 2],
    dil: [usize; 2],
    pads: [usize; 4],
) -> ArrayD<f32> {
    let (n, c, h, wi) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (m, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    assert_eq!(c, cg * group);
    let oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / stride[0] + 1;
    let ow = (wi + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / stride[1] + 1;
    let mg = m / group;
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[n, m, oh, ow]));
    for ni in 0..n {
        for mi in 0..m {
            let g = mi / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[[mi]]);
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let y = (oy * stride[0] + i * dil[0]) as isize - pads[0] as isize;
                                let xx = (ox * stride[1] + j * dil[1]) as isize - pads[1] as isize;
                                if y >= 0 && (y as usize) < h && xx >= 0 && (xx as usize) < wi {
                                    s += x[[ni, g * cg + ci, y as usize, xx as usize]]
                                        * w[[mi, ci, i, j]];
                                }
                            }
                        }
                    }
                    out[[ni, mi, oy, ox]] = s;
                }
            }
        }
    }
    out
}

#[test]
fn conv_matches_direct_loops() {
    let mut rng = Rng(42);
    // (x shape, w shape, group, strides, dilations, pads, bias)
    let cases: Vec<(
        Vec<usize>,
        Vec<usize>,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 4],
        bool,
    )> = vec![
        (
            vec![2, 3, 11, 9],
            vec![5, 3, 3, 3],
            1,
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            true,
        ),
        (
            vec![1, 4, 13, 7],
            vec![6, 2, 3, 2],
            2,
            [2, 1],
            [1, 2],
            [0, 1, 2, 0],
            false,
        ),
        (
            vec![1, 6, 5, 5],
            vec![6, 1, 3, 3],
            6,
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            true,
        ),
        (
            vec![3, 5, 7, 6],
            vec![7, 5, 1, 1],
            1,
            [1, 1],
            [1, 1],
            [0, 0, 0, 0],
            true,
        ),
        (
            vec![1, 3, 8, 8],
            vec![4, 3, 5, 5],
            1,
            [3, 3],
            [1, 1],
            [2, 2, 2, 2],
            false,
        ),
    ];
    for (xs, ws, group, stride, dil, pads, bias) in cases {
        let x = rng.array(&xs);
        let w = rng.array(&ws);
        let b = bias.then(|| rng.array(&[ws[0]]));
        let attrs = Attributes::new()
            .with("group", Attribute::Int(group as i64))
            .with(
                "strides",
                Attribute::Ints(stride.iter().map(|&v| v as i64).collect()),
            )
            .with(
                "dilations",
                Attribute::Ints(dil.iter().map(|&v| v as i64).collect()),
            )
            .with(
                "pads",
                Attribute::Ints(pads.iter().map(|&v| v as i64).collect()),
            );
        let nd = node("Conv", attrs, 3);
        let inputs = [Some(x.clone()), Some(w.clone()), b.clone()];
        let want = naive_conv(&x, &w, b.as_ref(), group, stride, dil, pads);
        let tactics = ConvTactic::candidates(&nd);
        assert!(tactics.len() >= 2, "several conv algorithms offered");
        for t in tactics {
            let got = run(&t, &inputs);
            assert_close(&got, &want);
            check_reference(&nd, &inputs, &got);
        }
    }
}

#[test]
fn conv_same_upper_and_1d() {
    let mut rng = Rng(5);
    let x = rng.array(&[1, 2, 7, 9]);
    let w = rng.array(&[3, 2, 4, 3]);
    let attrs = Attributes::new()
        .with("auto_pad", Attribute::String("SAME_UPPER".into()))
        .with("strides", Attribute::Ints(vec![2, 2]));
    let nd = node("Conv", attrs, 2);
    for algo in [
        ConvAlgo::Gemm,
        ConvAlgo::Tiled(7),
        ConvAlgo::Direct,
        ConvAlgo::DirectSmall,
    ] {
        let t = ConvTactic::from_node(&nd, algo).unwrap();
        let got = run(&t, &[Some(x.clone()), Some(w.clone())]);
        // out = ceil(in / stride); total pad (rows) = (4-1)*2+4-7 = 3 -> begin 1, end 2;
        // cols: (5-1)*2+3-9 = 2 -> begin 1, end 1.
        assert_eq!(got.shape(), &[1, 3, 4, 5]);
        assert_close(
            &got,
            &naive_conv(&x, &w, None, 1, [2, 2], [1, 1], [1, 1, 2, 1]),
        );
    }

    // 1-D: same as 2-D with a height of 1.
    let x1 = rng.array(&[2, 3, 10]);
    let w1 = rng.array(&[4, 3, 3]);
    let attrs = Attributes::new().with("pads", Attribute::Ints(vec![1, 0]));
    let t1 = ConvTactic::from_node(&node("Conv", attrs, 2), ConvAlgo::Tiled(4)).unwrap();
    let got1 = run(&t1, &[Some(x1.clone()), Some(w1.clone())]);
    assert_eq!(got1.shape(), &[2, 4, 9]);
    let x2 = x1
        .clone()
        .into_shape_with_order(IxDyn(&[2, 3, 1, 10]))
        .unwrap();
    let w2 = w1
        .clone()
        .into_shape_with_order(IxDyn(&[4, 3, 1, 3]))
        .unwrap();
    let want = naive_conv(&x2, &w2, None, 1, [1, 1], [1, 1], [0, 1, 0, 0]);
    assert_close(
        &got1,
        &want.into_shape_with_order(IxDyn(&[2, 4, 9])).unwrap(),
    );
}

#[test]
fn fingerprint_names_backend_arch_and_features() {
    let b = CpuBackend::new(Some(3)).unwrap();
    assert_eq!(b.threads(), 3);
    let fp = b.fingerprint();
    assert_eq!(fp.backend, "cpu");
    assert_eq!(fp.arch, std::env::consts::ARCH);
    let s = fp.to_string();
    assert!(s.starts_with(&format!("cpu/{}", std::env::consts::ARCH)));
    for f in &fp.features {
        assert!(s.contains(&format!("+{f}")));
    }
    let mut other = fp.clone();
    other.features.push("zz-imaginary".into());
    assert!(!other.runs_on(fp));
    assert_eq!(other.missing_on(fp), vec!["zz-imaginary".to_string()]);
    assert!(fp.runs_on(fp));
}
