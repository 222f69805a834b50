//! Unit tests across the control family: tricky semantics checked against hand-computed
//! values (the ONNX node tests cover the rest through kiln-onnx).

use crate::{Attribute, Attributes, EvalContext, Node, Result, Tensor, Value};

fn eval(op: &str, attrs: Attributes, inputs: &[Option<Tensor>]) -> Result<Vec<Tensor>> {
    let names: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.is_some() {
                format!("x{i}")
            } else {
                String::new()
            }
        })
        .collect();
    let node = Node::builtin("n", op, attrs, names, vec!["y".into()])?;
    let values: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| t.clone().map(Value::Tensor))
        .collect();
    let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
    node.op
        .eval_values(&refs, &EvalContext::default())?
        .into_iter()
        .map(Value::into_tensor)
        .collect()
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

fn close(t: &Tensor, want: &[f64]) {
    let got = t.to_f64_vec().unwrap();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn rnn_reverse_respects_sequence_lens() {
    // hidden 1, input 1, W = 1, R = 0: H_t = tanh(x_t); reverse over the valid prefix.
    let attrs = Attributes::new()
        .with("hidden_size", Attribute::Int(1))
        .with("direction", Attribute::String("reverse".into()));
    let x = f32s(&[3, 2, 1], &[0.1, 0.4, 0.2, 0.5, 0.3, 0.6]);
    let w = f32s(&[1, 1, 1], &[1.0]);
    let r = f32s(&[1, 1, 1], &[0.0]);
    let lens = Tensor::from_vec(&[2], vec![2i32, 3]).unwrap();
    let out = eval("RNN", attrs, &[Some(x), Some(w), Some(r), None, Some(lens)]).unwrap();
    let t = |v: f64| v.tanh();
    // Y: [seq, dirs, batch, hidden]; batch 0 has 2 valid steps, step 2 is zero.
    close(&out[0], &[t(0.1), t(0.4), t(0.2), t(0.5), 0.0, t(0.6)]);
    // Reverse direction ends at t = 0.
    close(&out[1], &[t(0.1), t(0.4)]);
}

#[test]
fn lstm_rejects_bad_attributes_and_shapes() {
    let bad = Attributes::new().with("direction", Attribute::String("sideways".into()));
    assert!(Node::builtin("n", "LSTM", bad, vec![], vec![]).is_err());
    let attrs = Attributes::new().with("hidden_size", Attribute::Int(2));
    let x = f32s(&[1, 1, 1], &[1.0]);
    let w = f32s(&[1, 4, 1], &[0.0; 4]);
    let r = f32s(&[1, 8, 2], &[0.0; 16]);
    assert!(eval("LSTM", attrs, &[Some(x), Some(w), Some(r)]).is_err());
}

#[test]
fn dft_real_signal_onesided_and_inverse() {
    let x = f32s(&[1, 4, 1], &[1.0, 2.0, 3.0, 4.0]);
    let attrs = Attributes::new().with("onesided", Attribute::Int(1));
    let axis = Tensor::scalar(1i64);
    let y = eval("DFT", attrs, &[Some(x.clone()), None, Some(axis.clone())]).unwrap();
    assert_eq!(y[0].shape(), &[1, 3, 2]);
    close(&y[0], &[10.0, 0.0, -2.0, 2.0, -2.0, 0.0]);
    let inv = Attributes::new()
        .with("onesided", Attribute::Int(1))
        .with("inverse", Attribute::Int(1));
    let back = eval("DFT", inv, &[Some(y[0].clone()), None, Some(axis)]).unwrap();
    assert_eq!(back[0].shape(), &[1, 4, 1]);
    close(&back[0], &[1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn nms_suppresses_overlaps_per_class() {
    let boxes = f32s(
        &[1, 3, 4],
        &[0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 5.0, 1.0, 6.0],
    );
    let scores = f32s(&[1, 1, 3], &[0.9, 0.8, 0.7]);
    let max = Tensor::from_vec(&[1], vec![10i64]).unwrap();
    let iou = f32s(&[1], &[0.5]);
    let out = eval(
        "NonMaxSuppression",
        Attributes::new(),
        &[Some(boxes), Some(scores), Some(max), Some(iou)],
    )
    .unwrap();
    assert_eq!(
        out[0],
        Tensor::from_vec(&[2, 3], vec![0i64, 0, 0, 0, 0, 2]).unwrap()
    );
}

#[test]
fn affine_identity_grid_samples_input_back() {
    let theta = f32s(&[1, 2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let size = Tensor::from_vec(&[4], vec![1i64, 1, 2, 3]).unwrap();
    let ac = || Attributes::new().with("align_corners", Attribute::Int(1));
    let grid = eval("AffineGrid", ac(), &[Some(theta), Some(size)]).unwrap();
    assert_eq!(grid[0].shape(), &[1, 2, 3, 2]);
    let x = f32s(&[1, 1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    for mode in ["linear", "nearest", "cubic"] {
        let attrs = ac().with("mode", Attribute::String(mode.into()));
        let y = eval(
            "GridSample",
            attrs,
            &[Some(x.clone()), Some(grid[0].clone())],
        )
        .unwrap();
        close(&y[0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}

#[test]
fn tfidf_counts_skip_grams() {
    let attrs = Attributes::new()
        .with("mode", Attribute::String("TF".into()))
        .with("min_gram_length", Attribute::Int(2))
        .with("max_gram_length", Attribute::Int(2))
        .with("max_skip_count", Attribute::Int(1))
        .with("ngram_counts", Attribute::Ints(vec![0, 0]))
        .with("ngram_indexes", Attribute::Ints(vec![0, 1]))
        .with("pool_int64s", Attribute::Ints(vec![1, 2, 1, 3]));
    let x = Tensor::from_vec(&[4], vec![1i64, 2, 3, 1]).unwrap();
    let y = eval("TfIdfVectorizer", attrs, &[Some(x)]).unwrap();
    // (1,2) adjacent once; (1,3) with one skip once.
    close(&y[0], &[1.0, 1.0]);
}

#[test]
fn unknown_attributes_are_rejected() {
    for op in [
        "DFT",
        "GridSample",
        "RoiAlign",
        "SequenceAt",
        "HannWindow",
        "Det",
        "GRU",
    ] {
        let attrs = Attributes::new().with("bogus", Attribute::Int(1));
        let err = Node::builtin("n", op, attrs, vec![], vec![]).unwrap_err();
        assert!(
            err.to_string().contains("unsupported attribute"),
            "{op}: {err}"
        );
    }
}

/// Odd inputs (wrong ranks, dtypes, empty tensors, scalars) must give errors, never panics.
#[test]
fn odd_inputs_never_panic() {
    let pool: Vec<Tensor> = vec![
        Tensor::scalar(0.5f32),
        Tensor::scalar(3i64),
        Tensor::scalar(-2i64),
        Tensor::scalar(true),
        f32s(&[0], &[]),
        f32s(&[2, 3], &[1.0, -2.0, 3.0, 0.0, f32::NAN, 6.0]),
        f32s(&[1, 2, 3], &[0.0; 6]),
        f32s(&[1, 1, 4], &[0.0, 0.0, 1.0, 1.0]),
        f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
        f32s(&[1, 2, 2, 2], &[0.5; 8]),
        Tensor::from_vec(&[3], vec![1i64, 0, 2]).unwrap(),
        Tensor::from_vec(&[1], vec![0i32]).unwrap(),
    ];
    let tfidf = Attributes::new()
        .with("mode", Attribute::String("TFIDF".into()))
        .with("min_gram_length", Attribute::Int(1))
        .with("max_gram_length", Attribute::Int(2))
        .with("max_skip_count", Attribute::Int(2))
        .with("ngram_counts", Attribute::Ints(vec![0, 2]))
        .with("ngram_indexes", Attribute::Ints(vec![0, 1, 2]))
        .with("pool_int64s", Attribute::Ints(vec![1, 2, 1, 2]));
    let ops: Vec<(&str, Attributes)> = vec![
        ("RNN", Attributes::new()),
        ("GRU", Attributes::new().with("layout", Attribute::Int(1))),
        (
            "LSTM",
            Attributes::new().with("direction", Attribute::String("bidirectional".into())),
        ),
        ("DFT", Attributes::new().with("onesided", Attribute::Int(1))),
        ("DFT", Attributes::new().with("inverse", Attribute::Int(1))),
        ("STFT", Attributes::new()),
        ("HannWindow", Attributes::new()),
        ("BlackmanWindow", Attributes::new()),
        ("MelWeightMatrix", Attributes::new()),
        ("NonMaxSuppression", Attributes::new()),
        ("RoiAlign", Attributes::new()),
        (
            "GridSample",
            Attributes::new().with("mode", Attribute::String("cubic".into())),
        ),
        (
            "GridSample",
            Attributes::new().with("padding_mode", Attribute::String("reflection".into())),
        ),
        ("AffineGrid", Attributes::new()),
        ("Det", Attributes::new()),
        ("TfIdfVectorizer", tfidf),
        ("SplitToSequence", Attributes::new()),
        ("SequenceConstruct", Attributes::new()),
    ];
    let n = pool.len();
    for (op, attrs) in &ops {
        for arity in 0..=3usize {
            let combos = n.pow(arity as u32);
            for code in 0..combos {
                let mut c = code;
                let ins: Vec<Option<Tensor>> = (0..arity)
                    .map(|_| {
                        let t = pool[c % n].clone();
                        c /= n;
                        Some(t)
                    })
                    .collect();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = eval(op, attrs.clone(), &ins);
                }));
                assert!(r.is_ok(), "{op} panicked on {ins:?}");
            }
        }
    }
}
