//! `simd` tactics of f32 elementwise layers: binary Add/Sub/Mul/Div with fast paths for
//! equal shapes, scalars, trailing-dims broadcast (biases) and per-channel broadcast, and
//! unary activations (Relu, Sigmoid, Tanh, LeakyRelu, HardSwish, HardSigmoid, Gelu, Erf,
//! Exp, Sqrt, Neg, Abs, Reciprocal). Anything else goes to the reference evaluator.

use super::activation::Activation;
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::ops::util::broadcast_shapes;
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Elements per parallel task.
const GRAIN: usize = 1 << 14;

/// A binary arithmetic op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinKind {
    #[inline(always)]
    fn f(self, a: f32, b: f32) -> f32 {
        match self {
            BinKind::Add => a + b,
            BinKind::Sub => a - b,
            BinKind::Mul => a * b,
            BinKind::Div => a / b,
        }
    }
}

/// Add/Sub/Mul/Div on f32 tensors.
#[derive(Debug, Clone)]
pub struct BinaryTactic {
    op: Arc<dyn Op>,
    kind: BinKind,
}

impl BinaryTactic {
    /// The tactic for an Add/Sub/Mul/Div node.
    pub fn from_node(node: &Node) -> Option<BinaryTactic> {
        let kind = match node.op_type() {
            "Add" => BinKind::Add,
            "Sub" => BinKind::Sub,
            "Mul" => BinKind::Mul,
            "Div" => BinKind::Div,
            _ => return None,
        };
        Some(BinaryTactic {
            op: node.op.clone(),
            kind,
        })
    }
}

/// How the smaller operand repeats over the output.
enum Pattern {
    /// Same shape.
    Same,
    /// One value.
    Scalar,
    /// Repeats every `len` elements (trailing dims).
    Inner(usize),
    /// Constant over runs of `run` elements, cycling through `len` values (channels).
    Channel { len: usize, run: usize },
}

/// How `small` (right-aligned) repeats over `out`, when it is one of the fast patterns.
fn pattern(small: &[usize], out: &[usize]) -> Option<Pattern> {
    if small == out {
        return Some(Pattern::Same);
    }
    let n: usize = small.iter().product();
    if n == 1 {
        return Some(Pattern::Scalar);
    }
    let shift = out.len() - small.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, shift)
        .chain(small.iter().copied())
        .collect();
    // Dims of `small` that are not 1 must form one contiguous range equal to `out`'s dims.
    let first = padded.iter().position(|&d| d != 1)?;
    let last = padded.iter().rposition(|&d| d != 1)?;
    if (first..=last).any(|i| padded[i] != out[i]) {
        return None;
    }
    let run: usize = out[last + 1..].iter().product();
    if run == 1 {
        Some(Pattern::Inner(n))
    } else {
        Some(Pattern::Channel { len: n, run })
    }
}

fn binary(kind: BinKind, a: &[f32], b: &[f32], pat: &Pattern, b_is_small: bool, out: &mut [f32]) {
    // `big` is the operand with the output's shape; keep the operand order for Sub/Div.
    let (big, small) = if b_is_small { (a, b) } else { (b, a) };
    let f = move |x: f32, y: f32| {
        if b_is_small {
            kind.f(x, y)
        } else {
            kind.f(y, x)
        }
    };
    out.par_chunks_mut(GRAIN).enumerate().for_each(|(ci, dst)| {
        let start = ci * GRAIN;
        let src = &big[start..start + dst.len()];
        match pat {
            Pattern::Same => {
                let s = &small[start..start + dst.len()];
                for ((o, &x), &y) in dst.iter_mut().zip(src).zip(s) {
                    *o = f(x, y);
                }
            }
            Pattern::Scalar => {
                let y = small[0];
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o = f(x, y);
                }
            }
            Pattern::Inner(len) => {
                for (i, (o, &x)) in dst.iter_mut().zip(src).enumerate() {
                    *o = f(x, small[(start + i) % len]);
                }
            }
            Pattern::Channel { len, run } => {
                let mut i = 0;
                while i < dst.len() {
                    let g = start + i;
                    let y = small[(g / run) % len];
                    let end = (i + run - g % run).min(dst.len());
                    for (o, &x) in dst[i..end].iter_mut().zip(&src[i..end]) {
                        *o = f(x, y);
                    }
                    i = end;
                }
            }
        }
    });
}

impl Tactic for BinaryTactic {
    fn name(&self) -> &str {
        "simd"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [
            Some(Value::Tensor(Tensor::F32(a))),
            Some(Value::Tensor(Tensor::F32(b))),
        ] = inputs
            && let Ok(out_shape) = broadcast_shapes(a.shape(), b.shape())
        {
            let (a_std, b_std) = (a.as_standard_layout(), b.as_standard_layout());
            let fast = if b.shape().len() <= out_shape.len() && a.shape() == out_shape.as_slice() {
                pattern(b.shape(), &out_shape).map(|p| (p, true))
            } else if b.shape() == out_shape.as_slice() {
                pattern(a.shape(), &out_shape).map(|p| (p, false))
            } else {
                None
            };
            if let (Some((pat, b_small)), Some(ad), Some(bd)) =
                (fast, a_std.as_slice(), b_std.as_slice())
            {
                let n: usize = out_shape.iter().product();
                let mut out = ctx.alloc_f32(n);
                if n > 0 {
                    binary(self.kind, ad, bd, &pat, b_small, &mut out);
                }
                if let Ok(y) = ArrayD::from_shape_vec(IxDyn(&out_shape), out) {
                    return Ok(vec![Value::Tensor(Tensor::F32(y))]);
                }
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

/// A unary f32 function.
#[derive(Clone, Copy, Debug, PartialEq)]
enum UnKind {
    Act(Activation),
    Erf,
    Exp,
    Sqrt,
    Neg,
    Abs,
    Reciprocal,
}

/// A unary elementwise layer on f32.
#[derive(Debug, Clone)]
pub struct UnaryTactic {
    op: Arc<dyn Op>,
    kind: UnKind,
}

impl UnaryTactic {
    /// The tactic for a unary node this kernel knows (with its attributes).
    pub fn from_node(node: &Node) -> Option<UnaryTactic> {
        let a = &node.attrs;
        let act = |x| Some(UnKind::Act(x));
        let kind = match node.op_type() {
            "Relu" => act(Activation::Relu),
            "Sigmoid" => act(Activation::Sigmoid),
            "Tanh" => act(Activation::Tanh),
            "LeakyRelu" => act(Activation::LeakyRelu(a.float_or("alpha", 0.01).ok()?)),
            "HardSwish" => act(Activation::HardSwish),
            "HardSigmoid" => act(Activation::HardSigmoid(
                a.float_or("alpha", 0.2).ok()?,
                a.float_or("beta", 0.5).ok()?,
            )),
            "Gelu" => match a.string_or("approximate", "none".into()).ok()?.as_str() {
                "none" => act(Activation::Gelu),
                "tanh" => act(Activation::GeluTanh),
                _ => None,
            },
            "Erf" => Some(UnKind::Erf),
            "Exp" => Some(UnKind::Exp),
            "Sqrt" => Some(UnKind::Sqrt),
            "Neg" => Some(UnKind::Neg),
            "Abs" => Some(UnKind::Abs),
            "Reciprocal" => Some(UnKind::Reciprocal),
            _ => None,
        }?;
        Some(UnaryTactic {
            op: node.op.clone(),
            kind,
        })
    }
}

/// A standard-layout copy of `x` in a buffer from the context's arena.
pub(crate) fn owned_copy(x: &ArrayD<f32>, ctx: &RunContext<'_>) -> ArrayD<f32> {
    if let Some(src) = x.as_slice() {
        let mut buf = ctx.alloc_f32(src.len());
        buf.par_chunks_mut(GRAIN)
            .zip(src.par_chunks(GRAIN))
            .for_each(|(d, s)| d.copy_from_slice(s));
        if let Ok(y) = ArrayD::from_shape_vec(IxDyn(x.shape()), buf) {
            return y;
        }
    }
    x.as_standard_layout().into_owned()
}

fn unary(kind: UnKind, xs: &mut [f32]) {
    match kind {
        UnKind::Act(a) => a.apply_slice(xs),
        UnKind::Erf => xs.iter_mut().for_each(|x| *x = libm::erff(*x)),
        UnKind::Exp => xs.iter_mut().for_each(|x| *x = x.exp()),
        UnKind::Sqrt => xs.iter_mut().for_each(|x| *x = x.sqrt()),
        UnKind::Neg => xs.iter_mut().for_each(|x| *x = -*x),
        UnKind::Abs => xs.iter_mut().for_each(|x| *x = x.abs()),
        UnKind::Reciprocal => xs.iter_mut().for_each(|x| *x = 1.0 / *x),
    }
}

impl Tactic for UnaryTactic {
    fn name(&self) -> &str {
        "simd"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [Some(Value::Tensor(Tensor::F32(x)))] = inputs {
            let mut y = owned_copy(x, ctx);
            if let Some(data) = y.as_slice_mut() {
                let kind = self.kind;
                data.par_chunks_mut(GRAIN).for_each(|c| unary(kind, c));
                return Ok(vec![Value::Tensor(Tensor::F32(y))]);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
