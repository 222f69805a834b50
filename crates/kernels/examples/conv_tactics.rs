//! Times every fast tactic of one convolution or MatMul shape (best of N runs, on
//! `--threads` workers), constant weights prepared as the engine does. A tool for tuning the
//! kernels (`bench/` measures whole models):
//!
//!   cargo run --release -p kiln-kernels --example conv_tactics -- conv N C H W M K STRIDE [THREADS]
//!   cargo run --release -p kiln-kernels --example conv_tactics -- matmul ROWS K N [THREADS]

use kiln_core::{Attribute, Attributes, Node, Tensor, Value};
use kiln_kernels::{Backend, CpuBackend, RunContext};
use std::time::Instant;

fn tensor(shape: &[usize], seed: &mut u64) -> Value {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Value::Tensor(Tensor::from_vec(shape, data).expect("shape"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("argument {i} missing or not a number: {args:?}"))
    };
    let mut seed = 42u64;
    let (node, inputs, flops, threads) = match args.first().map(String::as_str) {
        Some("conv") => {
            let (n, c, h, w, m, k, s) = (num(1), num(2), num(3), num(4), num(5), num(6), num(7));
            let pad = (k / 2) as i64;
            let attrs = Attributes::new()
                .with("pads", Attribute::Ints(vec![pad; 4]))
                .with("strides", Attribute::Ints(vec![s as i64; 2]));
            let node = Node::builtin(
                "conv",
                "Conv",
                attrs,
                vec!["x".into(), "w".into(), "b".into()],
                vec!["y".into()],
            )
            .expect("conv node");
            let (oh, ow) = (
                (h + 2 * pad as usize - k) / s + 1,
                (w + 2 * pad as usize - k) / s + 1,
            );
            let flops = 2.0 * (n * m * oh * ow * c * k * k) as f64;
            let inputs = vec![
                tensor(&[n, c, h, w], &mut seed),
                tensor(&[m, c, k, k], &mut seed),
                tensor(&[m], &mut seed),
            ];
            (
                node,
                inputs,
                flops,
                args.get(8).and_then(|s| s.parse().ok()),
            )
        }
        Some("matmul") => {
            let (rows, k, n) = (num(1), num(2), num(3));
            let node = Node::builtin(
                "mm",
                "MatMul",
                Attributes::new(),
                vec!["a".into(), "b".into()],
                vec!["y".into()],
            )
            .expect("matmul node");
            let inputs = vec![tensor(&[rows, k], &mut seed), tensor(&[k, n], &mut seed)];
            let flops = 2.0 * (rows * k * n) as f64;
            (
                node,
                inputs,
                flops,
                args.get(4).and_then(|s| s.parse().ok()),
            )
        }
        _ => panic!("usage: conv N C H W M K STRIDE [THREADS] | matmul ROWS K N [THREADS]"),
    };
    let backend = CpuBackend::new(Some(threads.unwrap_or(2))).expect("backend");
    let args: Vec<Option<&Value>> = inputs.iter().map(Some).collect();
    let constants: Vec<Option<&Value>> = args
        .iter()
        .enumerate()
        .map(|(i, v)| if i == 0 { None } else { *v })
        .collect();
    let ctx = RunContext::default();
    for t in backend.tactics_for(&node) {
        if t.name() == "reference" {
            continue;
        }
        t.prepare(&constants);
        backend.execute(t.as_ref(), &args, &ctx).expect("run");
        let mut best = f64::INFINITY;
        let start = Instant::now();
        let mut runs = 0;
        while runs < 5 || (start.elapsed().as_secs_f64() < 2.0 && runs < 200) {
            let t0 = Instant::now();
            backend.execute(t.as_ref(), &args, &ctx).expect("run");
            best = best.min(t0.elapsed().as_secs_f64());
            runs += 1;
        }
        println!(
            "{:>18}  {:>9.3} ms  {:>7.1} GFLOP/s",
            t.name(),
            best * 1e3,
            flops / best / 1e9
        );
    }
}
