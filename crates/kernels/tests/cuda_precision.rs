//! The CUDA kernels in FP16, BF16 and TF32 against the CPU reference op (FP32 on the same
//! inputs rounded to the storage type), the f32 <-> f16/bf16 cast kernels, and cuDNN
//! convolutions. Needs an NVIDIA GPU: without one every test prints why it skips, or fails
//! when `KILN_REQUIRE_GPU=1` (the GPU machine's runs).

mod common;

use common::{attrs, random, worst};
use kiln_core::half::{bf16, f16};
use kiln_core::{Attribute, Attributes, DataType, Node, Tensor};
use kiln_kernels::cuda::memory::{DeviceMemory, align_up, download, upload};
use kiln_kernels::cuda::ops::launch_cast;
use kiln_kernels::cuda::{DevTensor, Exec, Gpu, LayerOptions, Spec, layer_for_with};
use std::sync::Arc;

fn gpu() -> Option<Arc<Gpu>> {
    common::gpu("CUDA precision test")
}

/// Deterministic pseudo-random f32 values in [-1, 1).
/// How a case runs: storage type, TF32, and the tolerance `|gpu - cpu| <= tol * (1 + |cpu|)`.
#[derive(Clone, Copy)]
struct Mode {
    dt: DataType,
    tf32: bool,
    tol: f64,
}

const FP16: Mode = Mode {
    dt: DataType::F16,
    tf32: false,
    tol: 8e-3,
};
const BF16: Mode = Mode {
    dt: DataType::BF16,
    tf32: false,
    tol: 3e-2,
};
const TF32: Mode = Mode {
    dt: DataType::F32,
    tf32: true,
    tol: 5e-3,
};

/// Run `op` on the GPU in `mode` and on the CPU reference in f32 (inputs rounded to the
/// storage type first); returns the GPU kernel's name, or `None` without a GPU.
fn check(
    mode: Mode,
    op: &str,
    a: Attributes,
    inputs: Vec<Option<Tensor>>,
    consts: &[usize],
) -> Option<String> {
    let gpu = gpu()?;
    let names: Vec<String> = (0..inputs.len())
        .map(|i| {
            if inputs[i].is_some() {
                format!("in{i}")
            } else {
                String::new()
            }
        })
        .collect();
    let mut node = Node::builtin("layer", op, a, names, vec!["out0".into()]).expect("node");
    if op.starts_with("Fused") {
        node.domain = "kiln".into();
    }
    // The values the GPU sees, and the same values in f32 for the reference.
    let stored: Vec<Option<Tensor>> = inputs
        .iter()
        .map(|t| {
            t.as_ref().map(|t| {
                if t.dtype() == DataType::F32 {
                    t.cast(mode.dt).expect("cast")
                } else {
                    t.clone()
                }
            })
        })
        .collect();
    let rounded: Vec<Option<Tensor>> = stored
        .iter()
        .zip(&inputs)
        .map(|(s, t)| match (s, t) {
            (Some(s), Some(t)) if t.dtype() == DataType::F32 => {
                Some(s.cast(DataType::F32).expect("cast"))
            }
            (_, t) => t.clone(),
        })
        .collect();
    let refs: Vec<Option<&Tensor>> = rounded.iter().map(Option::as_ref).collect();
    let want = node
        .op
        .eval(&refs)
        .expect("CPU reference")
        .into_iter()
        .next()
        .expect("one output");
    let spec = |t: &Tensor| Spec {
        dtype: t.dtype(),
        shape: t.shape().to_vec(),
    };
    let specs: Vec<Option<Spec>> = stored.iter().map(|t| t.as_ref().map(spec)).collect();
    let out_spec = Spec {
        dtype: if want.dtype() == DataType::F32 {
            mode.dt
        } else {
            want.dtype()
        },
        shape: want.shape().to_vec(),
    };
    let constants: Vec<Option<&Tensor>> = (0..inputs.len())
        .map(|i| {
            if consts.contains(&i) {
                rounded[i].as_ref()
            } else {
                None
            }
        })
        .collect();
    let what = format!(
        "{op} {:?} {:?}{}",
        mode.dt,
        specs
            .iter()
            .map(|s| s.as_ref().map(|s| s.shape.clone()))
            .collect::<Vec<_>>(),
        if mode.tf32 { " tf32" } else { "" }
    );
    let opts = LayerOptions { tf32: mode.tf32 };
    let layer = layer_for_with(
        &node,
        &specs,
        &constants,
        std::slice::from_ref(&out_spec),
        &opts,
    )
    .unwrap_or_else(|| panic!("{what}: no GPU kernel"));
    let bytes = |s: &Spec| align_up(s.len() * s.dtype.size_of().unwrap());
    let mut sizes: Vec<usize> = specs.iter().map(|s| s.as_ref().map_or(0, bytes)).collect();
    sizes.push(bytes(&out_spec));
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
    let dev_in: Vec<Option<DevTensor>> = stored
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.as_ref().map(|t| {
                let d = DevTensor {
                    ptr: ptrs[i],
                    dtype: t.dtype(),
                    shape: t.shape().to_vec(),
                };
                keep.push(upload(&stream, t, &d).expect("upload"));
                d
            })
        })
        .collect();
    let out = DevTensor {
        ptr: ptrs[inputs.len()],
        dtype: out_spec.dtype,
        shape: out_spec.shape.clone(),
    };
    let ins: Vec<Option<&DevTensor>> = dev_in.iter().map(Option::as_ref).collect();
    let exec = Exec {
        gpu: &gpu,
        stream: &stream,
    };
    // Twice: cuDNN layers choose their algorithm on the first run.
    for _ in 0..2 {
        layer
            .enqueue(
                &exec,
                &ins,
                std::slice::from_ref(&out),
                ptrs[inputs.len() + 1],
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    let got = download(&stream, &out).expect("download");
    assert_eq!(got.dtype(), out_spec.dtype, "{what}: output type");
    assert_eq!(got.shape(), want.shape(), "{what}: output shape");
    let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    let worst = worst(&g, &w, |a, b| (a - b).abs() / (mode.tol * (1.0 + b.abs())));
    let i = worst.1;
    assert!(
        worst.0 <= 1.0,
        "{what} ({}): element {i}: GPU {} vs CPU {}",
        layer.kernel(),
        g.get(i).copied().unwrap_or(f64::NAN),
        w.get(i).copied().unwrap_or(f64::NAN)
    );
    drop(keep);
    let kernel = layer.kernel().to_string();
    eprintln!("ok {what} via {kernel}");
    Some(kernel)
}

fn t(shape: &[usize], seed: u64) -> Option<Tensor> {
    Some(random(shape, seed, -1.0, 1.0))
}

#[test]
fn elementwise_in_16_bits() {
    for mode in [FP16, BF16] {
        for op in ["Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs"] {
            check(mode, op, Attributes::new(), vec![t(&[3, 37], 1)], &[]);
        }
        for op in ["Add", "Sub", "Mul", "Max"] {
            check(
                mode,
                op,
                Attributes::new(),
                vec![t(&[2, 3, 5], 2), t(&[3, 1], 3)],
                &[],
            );
        }
        check(mode, "Gelu", Attributes::new(), vec![t(&[4, 129], 4)], &[]);
    }
}

#[test]
fn gemms_in_16_bits_and_tf32() {
    for mode in [FP16, BF16, TF32] {
        check(
            mode,
            "MatMul",
            Attributes::new(),
            vec![t(&[7, 64], 5), t(&[64, 33], 6)],
            &[],
        );
        check(
            mode,
            "MatMul",
            Attributes::new(),
            vec![t(&[2, 3, 9, 16], 7), t(&[2, 3, 16, 10], 8)],
            &[],
        );
        check(
            mode,
            "Gemm",
            attrs(&[("transB", Attribute::Int(1))]),
            vec![t(&[5, 48], 9), t(&[24, 48], 10), t(&[24], 11)],
            &[1, 2],
        );
        check(
            mode,
            "FusedMatMul",
            attrs(&[
                ("activation", Attribute::String("Relu".into())),
                ("trans_b", Attribute::Int(0)),
            ]),
            vec![t(&[6, 32], 12), t(&[32, 40], 13), t(&[40], 14)],
            &[1, 2],
        );
    }
}

#[test]
fn convolutions_in_16_bits_and_tf32() {
    let conv = |pads: &[i64], strides: &[i64], group: i64| {
        attrs(&[
            ("pads", Attribute::Ints(pads.to_vec())),
            ("strides", Attribute::Ints(strides.to_vec())),
            ("group", Attribute::Int(group)),
        ])
    };
    for mode in [FP16, BF16, TF32] {
        check(
            mode,
            "Conv",
            conv(&[1, 1, 1, 1], &[1, 1], 1),
            vec![t(&[2, 16, 9, 11], 15), t(&[24, 16, 3, 3], 16), t(&[24], 17)],
            &[1, 2],
        );
        check(
            mode,
            "Conv",
            conv(&[0, 0, 0, 0], &[2, 2], 1),
            vec![t(&[1, 32, 8, 8], 18), t(&[16, 32, 1, 1], 19)],
            &[1],
        );
        check(
            mode,
            "Conv",
            conv(&[1, 1, 1, 1], &[1, 1], 8),
            vec![t(&[1, 8, 7, 7], 20), t(&[8, 1, 3, 3], 21), t(&[8], 22)],
            &[1, 2],
        );
        // Conv + bias + residual + ReLU: cuDNN's fused path when cuDNN is present.
        let mut fa = conv(&[1, 1, 1, 1], &[1, 1], 1);
        fa.set("activation", Attribute::String("Relu".into()));
        check(
            mode,
            "FusedConv",
            fa,
            vec![
                t(&[2, 8, 6, 6], 23),
                t(&[8, 8, 3, 3], 24),
                t(&[8], 25),
                t(&[2, 8, 6, 6], 26),
            ],
            &[1, 2],
        );
    }
}

#[test]
fn normalization_pooling_and_layout_in_16_bits() {
    for mode in [FP16, BF16] {
        check(
            mode,
            "Softmax",
            attrs(&[("axis", Attribute::Int(-1))]),
            vec![t(&[3, 1000], 27)],
            &[],
        );
        check(
            mode,
            "LayerNormalization",
            attrs(&[("axis", Attribute::Int(-1))]),
            vec![t(&[5, 768], 28), t(&[768], 29), t(&[768], 30)],
            &[1, 2],
        );
        check(
            mode,
            "MaxPool",
            attrs(&[
                ("kernel_shape", Attribute::Ints(vec![3, 3])),
                ("strides", Attribute::Ints(vec![2, 2])),
                ("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            ]),
            vec![t(&[2, 3, 9, 9], 31)],
            &[],
        );
        check(
            mode,
            "GlobalAveragePool",
            Attributes::new(),
            vec![t(&[2, 5, 7, 7], 32)],
            &[],
        );
        check(
            mode,
            "Transpose",
            attrs(&[("perm", Attribute::Ints(vec![0, 2, 1, 3]))]),
            vec![t(&[2, 3, 5, 7], 33)],
            &[],
        );
        check(
            mode,
            "Concat",
            attrs(&[("axis", Attribute::Int(1))]),
            vec![t(&[2, 3, 5], 34), t(&[2, 4, 5], 35)],
            &[],
        );
    }
}

#[test]
fn cast_kernels_round_like_the_host() {
    let Some(gpu) = gpu() else { return };
    let x = random(&[1000, 7], 36, -1.0, 1.0);
    let stream = gpu.new_stream().expect("stream");
    let exec = Exec {
        gpu: &gpu,
        stream: &stream,
    };
    for dt in [DataType::F16, DataType::BF16] {
        let n = x.len();
        let mem = DeviceMemory::alloc(gpu.context(), 3 * align_up(n * 4)).expect("memory");
        let src = DevTensor {
            ptr: mem.ptr(),
            dtype: DataType::F32,
            shape: x.shape().to_vec(),
        };
        let mid = DevTensor {
            ptr: mem.ptr() + align_up(n * 4) as u64,
            dtype: dt,
            shape: x.shape().to_vec(),
        };
        let back = DevTensor {
            ptr: mem.ptr() + 2 * align_up(n * 4) as u64,
            dtype: DataType::F32,
            shape: x.shape().to_vec(),
        };
        let keep = upload(&stream, &x, &src).expect("upload");
        launch_cast(&exec, DataType::F32, dt, src.ptr, mid.ptr, n).expect("cast down");
        launch_cast(&exec, dt, DataType::F32, mid.ptr, back.ptr, n).expect("cast up");
        let half = download(&stream, &mid).expect("download");
        // Round-to-nearest-even from f32 (half's `from_f32`; Tensor::cast goes through f64,
        // which for bf16 drops low mantissa bits before rounding).
        let xs: Vec<f32> = x.to_f64_vec().unwrap().iter().map(|&v| v as f32).collect();
        let want = match dt {
            DataType::F16 => Tensor::from_vec(
                x.shape(),
                xs.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>(),
            ),
            _ => Tensor::from_vec(
                x.shape(),
                xs.iter().map(|&v| bf16::from_f32(v)).collect::<Vec<_>>(),
            ),
        }
        .expect("tensor");
        assert_eq!(
            half.to_le_bytes().unwrap(),
            want.to_le_bytes().unwrap(),
            "{dt}: GPU rounding differs from the host's"
        );
        let f = download(&stream, &back).expect("download");
        assert_eq!(
            f.to_f64_vec().unwrap(),
            want.to_f64_vec().unwrap(),
            "{dt} -> f32"
        );
        drop(keep);
        eprintln!("ok cast f32 <-> {dt}");
    }
}

#[test]
fn convolutions_use_cudnn_when_present() {
    let Some(kernel) = check(
        Mode {
            dt: DataType::F32,
            tf32: false,
            tol: 1e-4,
        },
        "Conv",
        attrs(&[("pads", Attribute::Ints(vec![1, 1, 1, 1]))]),
        vec![t(&[1, 4, 6, 6], 37), t(&[5, 4, 3, 3], 38)],
        &[1],
    ) else {
        return;
    };
    if kiln_kernels::cuda::cudnn_usable() {
        assert!(
            kernel.starts_with("cudnn"),
            "cuDNN present but {kernel} ran"
        );
    } else {
        eprintln!("cuDNN not usable on this machine: {kernel} ran");
    }
}
