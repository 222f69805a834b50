//! GPU engines in FP16/BF16/TF32 against the FP32 CPU result, the per-layer FP32 constraint,
//! plans keeping their layers' precision, and CUDA graph replay giving the same outputs as
//! plain runs. Needs an NVIDIA GPU: without one every test prints why it skips, or fails
//! when `KILN_REQUIRE_GPU=1` (the GPU machine's runs).

mod common;

use common::tensor;
use kiln_core::{Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, ValueInfo};
use kiln_engine::cuda::Precision;
use kiln_engine::{Builder, BuilderConfig, Device, Engine};
use std::collections::HashMap;

fn gpu_present(test: &str) -> bool {
    let required = std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let present = kiln_engine::cuda::device_count() > 0;
    assert!(
        present || !required,
        "KILN_REQUIRE_GPU=1 but there is no CUDA device"
    );
    if !present {
        eprintln!("SKIPPED {test}: no CUDA device on this machine");
    }
    present
}

fn node(name: &str, op: &str, attrs: Attributes, ins: &[&str], outs: &[&str]) -> Node {
    Node::builtin(
        name,
        op,
        attrs,
        ins.iter().map(|s| s.to_string()).collect(),
        outs.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap()
}

/// x[2, 3, 16, 16] -> Conv 3x3 (+bias) -> Relu -> MaxPool -> Conv 1x1 -> Relu ->
/// GlobalAveragePool -> Flatten -> MatMul -> Add -> LayerNormalization -> Softmax -> y.
fn cnn() -> Graph {
    let mut g = Graph::new("cnn");
    g.inputs.push(ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape::fixed(&[2, 3, 16, 16]),
    ));
    g.outputs.push(ValueInfo::tensor(
        "y",
        DataType::F32,
        Shape::fixed(&[2, 10]),
    ));
    let ins = |g: &mut Graph, name: &str, t: Tensor| {
        g.initializers.insert(name.into(), t);
    };
    ins(&mut g, "w1", tensor(&[16, 3, 3, 3], 1));
    ins(&mut g, "b1", tensor(&[16], 2));
    ins(&mut g, "w2", tensor(&[32, 16, 1, 1], 3));
    ins(&mut g, "fc", tensor(&[32, 10], 4));
    ins(&mut g, "fcb", tensor(&[10], 5));
    ins(&mut g, "ln_s", tensor(&[10], 6));
    ins(&mut g, "ln_b", tensor(&[10], 7));
    g.nodes = vec![
        node(
            "conv1",
            "Conv",
            Attributes::new().with("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            &["x", "w1", "b1"],
            &["c1"],
        ),
        node("relu1", "Relu", Attributes::new(), &["c1"], &["r1"]),
        node(
            "pool",
            "MaxPool",
            Attributes::new()
                .with("kernel_shape", Attribute::Ints(vec![2, 2]))
                .with("strides", Attribute::Ints(vec![2, 2])),
            &["r1"],
            &["p1"],
        ),
        node("conv2", "Conv", Attributes::new(), &["p1", "w2"], &["c2"]),
        node("relu2", "Relu", Attributes::new(), &["c2"], &["r2"]),
        node(
            "gap",
            "GlobalAveragePool",
            Attributes::new(),
            &["r2"],
            &["g"],
        ),
        node("flat", "Flatten", Attributes::new(), &["g"], &["f"]),
        node("fc", "MatMul", Attributes::new(), &["f", "fc"], &["m"]),
        node("fc_bias", "Add", Attributes::new(), &["m", "fcb"], &["h"]),
        node(
            "ln",
            "LayerNormalization",
            Attributes::new().with("axis", Attribute::Int(-1)),
            &["h", "ln_s", "ln_b"],
            &["n"],
        ),
        node(
            "softmax",
            "Softmax",
            Attributes::new().with("axis", Attribute::Int(-1)),
            &["n"],
            &["y"],
        ),
    ];
    g
}

fn build(device: Device, precision: Precision, keep: &[&str]) -> Engine {
    let cfg = BuilderConfig {
        threads: Some(2),
        device,
        precision,
        fp32_layers: keep.iter().map(|s| s.to_string()).collect(),
        ..BuilderConfig::default()
    };
    Builder::new(cfg).build(cnn()).expect("build")
}

fn inputs() -> HashMap<String, Tensor> {
    [("x".to_string(), tensor(&[2, 3, 16, 16], 9))].into()
}

/// Largest |a - b| over the largest |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.dtype(), DataType::F32, "user-facing outputs stay f32");
    let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = x
        .iter()
        .zip(&y)
        .map(|(p, q)| (p - q).abs())
        .fold(
            0.0f64,
            |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
        );
    err / scale.max(f64::MIN_POSITIVE)
}

/// Index of the layer implementing original node `n` (itself or a fused layer).
fn layer_of(engine: &Engine, n: &str) -> usize {
    engine
        .layers()
        .iter()
        .position(|l| l.name == n || l.fused.iter().any(|f| f == n))
        .unwrap_or_else(|| panic!("no layer implements '{n}'"))
}

fn run(engine: &Engine) -> Tensor {
    let mut ctx = engine.create_context();
    ctx.run(inputs()).expect("run").remove(0).1
}

#[test]
fn reduced_precision_engines_agree_with_the_cpu() {
    if !gpu_present("reduced_precision_engines_agree_with_the_cpu") {
        return;
    }
    let want = run(&build(Device::Cpu, Precision::Fp32, &[]));
    for (p, tol) in [
        (Precision::Fp32, 1e-5),
        (Precision::Tf32, 1e-3),
        (Precision::Fp16, 1e-2),
        (Precision::Bf16, 4e-2),
    ] {
        let engine = build(Device::Cuda(0), p, &[]);
        assert!(
            engine.layers().iter().all(|l| l.precision == p.as_str()),
            "{p}: layers record their precision"
        );
        let mut ctx = engine.create_context();
        let got = ctx.run(inputs()).expect("run").remove(0).1;
        let e = rel_err(&got, &want);
        eprintln!("{p}: max error / max |reference| = {e:.3e}");
        assert!(e <= tol, "{p}: error {e:.3e} over {tol:.0e}");
        let placed = ctx.gpu_placement();
        let conv = &placed[layer_of(&engine, "conv1")];
        assert!(conv.on_gpu, "{p}: conv1 runs on the GPU");
        let want_dt = match p {
            Precision::Fp16 => "f16",
            Precision::Bf16 => "bf16",
            _ => "f32",
        };
        assert_eq!(conv.dtype, want_dt, "{p}: conv1 storage type");
    }
}

#[test]
fn fp32_layer_patterns_keep_layers_in_fp32() {
    if !gpu_present("fp32_layer_patterns_keep_layers_in_fp32") {
        return;
    }
    let engine = build(Device::Cuda(0), Precision::Fp16, &["Softmax", "ln*"]);
    let by_name = |n: &str| Some(engine.layers()[layer_of(&engine, n)].precision.clone());
    assert_eq!(by_name("softmax").as_deref(), Some("fp32"));
    assert_eq!(by_name("ln").as_deref(), Some("fp32"));
    assert_eq!(by_name("fc").as_deref(), Some("fp16"));
    // The plan keeps each layer's precision.
    let loaded = Engine::deserialize(&engine.serialize().unwrap()).unwrap();
    assert_eq!(
        loaded
            .layers()
            .iter()
            .map(|l| l.precision.as_str())
            .collect::<Vec<_>>(),
        engine
            .layers()
            .iter()
            .map(|l| l.precision.as_str())
            .collect::<Vec<_>>()
    );
    let mut ctx = loaded.create_context();
    let got = ctx.run(inputs()).expect("run").remove(0).1;
    let placed = ctx.gpu_placement();
    let dt = |n: &str| placed[layer_of(&loaded, n)].dtype.clone();
    assert_eq!(dt("softmax"), "f32");
    assert_eq!(dt("ln"), "f32");
    assert_eq!(dt("conv1"), "f16");
    let want = run(&build(Device::Cpu, Precision::Fp32, &[]));
    let e = rel_err(&got, &want);
    assert!(e <= 1e-2, "mixed fp16/fp32: error {e:.3e}");
}

#[test]
fn cuda_graph_replays_give_the_plain_results() {
    if !gpu_present("cuda_graph_replays_give_the_plain_results") {
        return;
    }
    for p in [Precision::Fp32, Precision::Fp16] {
        let engine = build(Device::Cuda(0), p, &[]);
        let plain = run(&engine);
        let mut ctx = engine.create_context();
        ctx.set_cuda_graph(true);
        let mut replayed = false;
        for i in 0..4 {
            // Different inputs each time: the graph reads the input buffers anew.
            let x = tensor(&[2, 3, 16, 16], 9 + (i % 2) as u64);
            let got = ctx.run([("x".to_string(), x.clone())].into()).expect("run");
            let times = ctx.gpu_times().expect("GPU times");
            assert!(times.compute_ms >= 0.0 && times.h2d_ms >= 0.0 && times.d2h_ms >= 0.0);
            replayed |= times.graph;
            let mut fresh = engine.create_context();
            let want = fresh.run([("x".to_string(), x)].into()).expect("run");
            assert_eq!(
                got[0].1.to_f64_vec().unwrap(),
                want[0].1.to_f64_vec().unwrap(),
                "{p}: run {i} differs from a plain run"
            );
        }
        assert!(replayed, "{p}: no run replayed a CUDA graph");
        drop(plain);
    }
}
