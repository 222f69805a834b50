//! GPU kernels per op, and [`layer_for`]: the registry (one line per op) that picks the GPU
//! implementation of a node for concrete shapes, or `None` (the layer then runs on the CPU).

mod attention;
mod conv;
mod conv_cudnn;
mod elementwise;
mod layout;
mod matmul;
mod norm;
mod pool;
mod reduce;

use super::{CudaError, DevTensor, GpuLayer};
use kiln_core::{DataType, Node, Tensor};

pub use elementwise::{act_code, launch_cast};

/// Type and shape of one input or output at build (plan) time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Element type.
    pub dtype: DataType,
    /// Concrete shape.
    pub shape: Vec<usize>,
}

impl Spec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a GPU layer constructor gets.
pub(crate) struct Ctx<'a> {
    pub node: &'a Node,
    pub inputs: &'a [Option<Spec>],
    /// Values of constant inputs (initializers), by input position.
    pub constants: &'a [Option<&'a Tensor>],
    pub outputs: &'a [Spec],
    pub opts: &'a LayerOptions,
}

/// Build options of GPU layers beyond their types and shapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// FP32 GEMMs and convolutions may use TF32 tensor cores (10-bit mantissa inputs, FP32
    /// accumulation).
    pub tf32: bool,
}

impl Ctx<'_> {
    /// Input `i` when present.
    pub fn input(&self, i: usize) -> Option<&Spec> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    /// The value of input `i` when it is a constant.
    pub fn constant(&self, i: usize) -> Option<&Tensor> {
        self.constants.get(i).copied().flatten()
    }

    /// The floating-point type (f32, f16 or bf16) of every present input and every output,
    /// or `None` when they are not all of one such type.
    pub fn float_type(&self) -> Option<DataType> {
        let dt = self.outputs.first()?.dtype;
        let same = self.inputs.iter().flatten().all(|s| s.dtype == dt)
            && self.outputs.iter().all(|s| s.dtype == dt);
        (same && super::is_gpu_float(dt)).then_some(dt)
    }
}

type Constructor = fn(&Ctx<'_>) -> Option<Box<dyn GpuLayer>>;

/// The GPU op table: (domain, op type, constructor). One line per op.
const OPS: &[(&str, &str, Constructor)] = &[
    ("", "Relu", elementwise::unary),
    ("", "Sigmoid", elementwise::unary),
    ("", "Tanh", elementwise::unary),
    ("", "LeakyRelu", elementwise::unary),
    ("", "Clip", elementwise::clip),
    ("", "HardSwish", elementwise::unary),
    ("", "HardSigmoid", elementwise::unary),
    ("", "Gelu", elementwise::unary),
    ("", "Exp", elementwise::unary),
    ("", "Log", elementwise::unary),
    ("", "Sqrt", elementwise::unary),
    ("", "Neg", elementwise::unary),
    ("", "Abs", elementwise::unary),
    ("", "Erf", elementwise::unary),
    ("", "Reciprocal", elementwise::unary),
    ("", "Floor", elementwise::unary),
    ("", "Ceil", elementwise::unary),
    ("", "Sin", elementwise::unary),
    ("", "Cos", elementwise::unary),
    ("", "Softplus", elementwise::unary),
    ("", "Elu", elementwise::unary),
    ("", "Add", elementwise::binary),
    ("", "Sub", elementwise::binary),
    ("", "Mul", elementwise::binary),
    ("", "Div", elementwise::binary),
    ("", "Pow", elementwise::binary),
    ("", "Max", elementwise::binary),
    ("", "Min", elementwise::binary),
    ("", "PRelu", elementwise::binary),
    ("", "MatMul", matmul::matmul),
    ("", "Gemm", matmul::gemm),
    ("kiln", "FusedMatMul", matmul::fused_matmul),
    ("", "Conv", conv::conv),
    ("kiln", "FusedConv", conv::conv),
    ("", "MaxPool", pool::pool),
    ("", "AveragePool", pool::pool),
    ("", "GlobalAveragePool", reduce::global_pool),
    ("", "GlobalMaxPool", reduce::global_pool),
    ("", "ReduceMean", reduce::reduce),
    ("", "ReduceSum", reduce::reduce),
    ("", "ReduceMax", reduce::reduce),
    ("", "ReduceMin", reduce::reduce),
    ("", "ReduceSumSquare", reduce::reduce),
    ("", "ReduceL2", reduce::reduce),
    ("", "Softmax", norm::softmax),
    ("", "LogSoftmax", norm::softmax),
    ("", "LayerNormalization", norm::layer_norm),
    ("", "Attention", attention::attention),
    ("", "Transpose", layout::transpose),
    ("", "Concat", layout::concat),
    ("", "Split", layout::split),
    ("", "Gather", layout::gather),
    ("", "Reshape", layout::alias),
    ("", "Flatten", layout::alias),
    ("", "Squeeze", layout::alias),
    ("", "Unsqueeze", layout::alias),
    ("", "Identity", layout::alias),
    ("", "Dropout", layout::alias),
];

/// The GPU implementation of `node` for these input/output types and shapes, or `None`
/// when there is none (the layer falls back to the CPU). `constants` holds the values of
/// inputs that are constants (initializers), by input position.
pub fn layer_for(
    node: &Node,
    inputs: &[Option<Spec>],
    constants: &[Option<&Tensor>],
    outputs: &[Spec],
) -> Option<Box<dyn GpuLayer>> {
    layer_for_with(node, inputs, constants, outputs, &LayerOptions::default())
}

/// As [`layer_for`], with build options (TF32). The input/output types select the kernels'
/// storage type: f32, f16 or bf16 (a layer whose kernels lack that type gives `None`).
pub fn layer_for_with(
    node: &Node,
    inputs: &[Option<Spec>],
    constants: &[Option<&Tensor>],
    outputs: &[Spec],
    opts: &LayerOptions,
) -> Option<Box<dyn GpuLayer>> {
    // Builtin ops only (plugin layers have their own domains); op type names are unique
    // across the default and `kiln` domains.
    if !matches!(node.domain.as_str(), "" | "ai.onnx" | "kiln") || node.op.unresolved().is_some() {
        return None;
    }
    let op = node.op_type();
    let (_, _, make) = OPS.iter().find(|(_, o, _)| *o == op)?;
    make(&Ctx {
        node,
        inputs,
        constants,
        outputs,
        opts,
    })
}

/// Op types with a GPU kernel (for reports).
pub fn gpu_op_types() -> Vec<String> {
    OPS.iter()
        .map(|(d, o, _)| {
            if d.is_empty() {
                o.to_string()
            } else {
                format!("{d}.{o}")
            }
        })
        .collect()
}

/// `Dims` of the `.cu` sources: up to 8 dims or strides.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Dims {
    pub d: [i64; 8],
}

// SAFETY: plain old data with the layout of `struct Dims` in common.cuh.
unsafe impl cudarc::driver::DeviceRepr for Dims {}

impl Dims {
    pub fn from(v: &[usize]) -> Option<Dims> {
        if v.len() > 8 {
            return None;
        }
        let mut d = Dims::default();
        for (i, &x) in v.iter().enumerate() {
            d.d[i] = x as i64;
        }
        Some(d)
    }
}

/// Row-major element strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The first input of a layer, which every single-input GPU layer requires.
pub(crate) fn first_input<'a>(ins: &[Option<&'a DevTensor>]) -> Result<&'a DevTensor, CudaError> {
    ins.first()
        .copied()
        .flatten()
        .ok_or_else(|| CudaError::Unsupported("missing input".into()))
}
