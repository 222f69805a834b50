//! The layer kinds of the Network Definition API and the methods that add them.

use super::kinds::{
    ActivationType, ElementWiseOp, GemmOptions, PoolingType, ReduceOp, Shuffle, UnaryOp,
};
use super::{LayerHandle, NetworkDefinition, TensorRef, ints};
use crate::ops::util::broadcast_shapes;
use crate::{Attribute, Attributes, DataType, Error, Graph, Result, Tensor, TensorFact};
use std::collections::HashMap;

fn check_same_dtype(
    net: &NetworkDefinition,
    a: &TensorRef,
    b: &TensorRef,
) -> Result<(TensorFact, TensorFact)> {
    let (fa, fb) = (net.tensor_fact(a)?, net.tensor_fact(b)?);
    if let (Some(x), Some(y)) = (fa.dtype, fb.dtype)
        && x != y
    {
        return Err(Error::dtype(format!(
            "'{}' is {x} but '{}' is {y}",
            a.name(),
            b.name()
        )));
    }
    Ok((fa, fb))
}

impl NetworkDefinition {
    /// Add a convolution with `out_channels` filters of size `kernel`. `weights` has shape
    /// `[out_channels, in_channels / groups, kernel...]`; `bias` has `out_channels` values.
    /// Use [`set_stride`](Self::set_stride), [`set_padding`](Self::set_padding),
    /// [`set_dilation`](Self::set_dilation) and [`set_groups`](Self::set_groups) to adjust it;
    /// input channels are checked against the weights and groups by [`finish`](Self::finish).
    pub fn add_convolution(
        &mut self,
        input: &TensorRef,
        out_channels: usize,
        kernel: &[usize],
        weights: Tensor,
        bias: Option<Tensor>,
    ) -> Result<LayerHandle> {
        self.check(input)?;
        let ws = weights.shape().to_vec();
        if kernel.is_empty()
            || ws.len() != kernel.len() + 2
            || ws[0] != out_channels
            || ws[2..] != *kernel
        {
            return Err(Error::shape(format!(
                "convolution weights {ws:?} do not match {out_channels} filters of size {kernel:?}"
            )));
        }
        if let Some(r) = self.rank(input)?
            && r != kernel.len() + 2
        {
            return Err(Error::shape(format!(
                "a {}-d convolution needs an input of rank {}, '{}' has rank {r}",
                kernel.len(),
                kernel.len() + 2,
                input.name()
            )));
        }
        if let Some(b) = &bias
            && (b.shape() != [out_channels] || b.dtype() != weights.dtype())
        {
            return Err(Error::shape(format!(
                "bias must be {} of shape [{out_channels}], got {} {:?}",
                weights.dtype(),
                b.dtype(),
                b.shape()
            )));
        }
        let layer = self.fresh("conv");
        let mut ins = vec![
            input.name().to_string(),
            self.layer_constant(&layer, "weight", weights)?,
        ];
        if let Some(b) = bias {
            ins.push(self.layer_constant(&layer, "bias", b)?);
        }
        let attrs = Attributes::new().with("kernel_shape", ints(kernel));
        self.push_named(layer, "Conv", attrs, ins, 1)
    }

    /// Add a pooling layer over `window` (adjust with `set_stride` / `set_padding`).
    pub fn add_pooling(
        &mut self,
        input: &TensorRef,
        kind: PoolingType,
        window: &[usize],
    ) -> Result<LayerHandle> {
        self.check(input)?;
        if window.is_empty() || window.contains(&0) {
            return Err(Error::shape(format!("bad pooling window {window:?}")));
        }
        if let Some(r) = self.rank(input)?
            && r != window.len() + 2
        {
            return Err(Error::shape(format!(
                "a {}-d pooling needs an input of rank {}, got rank {r}",
                window.len(),
                window.len() + 2
            )));
        }
        let (stem, op) = match kind {
            PoolingType::Max => ("maxpool", "MaxPool"),
            PoolingType::Average => ("avgpool", "AveragePool"),
        };
        let attrs = Attributes::new().with("kernel_shape", ints(window));
        self.push_node(stem, op, attrs, vec![input.name().to_string()], 1)
    }

    /// Add a pooling layer over all spatial axes (output `[N, C, 1, ...]`).
    pub fn add_global_pooling(
        &mut self,
        input: &TensorRef,
        kind: PoolingType,
    ) -> Result<LayerHandle> {
        self.check(input)?;
        if let Some(r) = self.rank(input)?
            && r < 3
        {
            return Err(Error::shape(format!(
                "global pooling needs rank >= 3, got {r}"
            )));
        }
        let (stem, op) = match kind {
            PoolingType::Max => ("global_maxpool", "GlobalMaxPool"),
            PoolingType::Average => ("global_avgpool", "GlobalAveragePool"),
        };
        self.push_node(
            stem,
            op,
            Attributes::new(),
            vec![input.name().to_string()],
            1,
        )
    }

    /// Add an activation.
    pub fn add_activation(
        &mut self,
        input: &TensorRef,
        kind: ActivationType,
    ) -> Result<LayerHandle> {
        self.check(input)?;
        let x = vec![input.name().to_string()];
        let a = Attributes::new();
        let f = |v: f32| Attribute::Float(v);
        let (stem, op, attrs, ins) = match kind {
            ActivationType::Relu => ("relu", "Relu", a, x),
            ActivationType::Sigmoid => ("sigmoid", "Sigmoid", a, x),
            ActivationType::Tanh => ("tanh", "Tanh", a, x),
            ActivationType::LeakyRelu(alpha) => {
                ("leaky_relu", "LeakyRelu", a.with("alpha", f(alpha)), x)
            }
            ActivationType::Elu(alpha) => ("elu", "Elu", a.with("alpha", f(alpha)), x),
            ActivationType::Selu => ("selu", "Selu", a, x),
            ActivationType::Softplus => ("softplus", "Softplus", a, x),
            ActivationType::Softsign => ("softsign", "Softsign", a, x),
            ActivationType::HardSigmoid { alpha, beta } => (
                "hard_sigmoid",
                "HardSigmoid",
                a.with("alpha", f(alpha)).with("beta", f(beta)),
                x,
            ),
            ActivationType::Gelu => ("gelu", "Gelu", a, x),
            ActivationType::GeluTanh => (
                "gelu",
                "Gelu",
                a.with("approximate", Attribute::String("tanh".into())),
                x,
            ),
            ActivationType::HardSwish => ("hard_swish", "HardSwish", a, x),
            ActivationType::Clip(lo, hi) => {
                if lo > hi {
                    return Err(Error::attr("clip", format!("min {lo} exceeds max {hi}")));
                }
                let dt = self
                    .tensor_fact(input)?
                    .dtype
                    .ok_or_else(|| Error::dtype("clip needs an input of known type"))?;
                let (lo_t, hi_t) = (float_scalar(dt, lo)?, float_scalar(dt, hi)?);
                let layer = self.fresh("clip");
                let mut ins = x;
                ins.push(self.layer_constant(&layer, "min", lo_t)?);
                ins.push(self.layer_constant(&layer, "max", hi_t)?);
                return self.push_named(layer, "Clip", a, ins, 1);
            }
        };
        self.push_node(stem, op, attrs, ins, 1)
    }

    /// Add a unary element-wise operation.
    pub fn add_unary(&mut self, input: &TensorRef, op: UnaryOp) -> Result<LayerHandle> {
        self.check(input)?;
        let name = match op {
            UnaryOp::Exp => "Exp",
            UnaryOp::Log => "Log",
            UnaryOp::Sqrt => "Sqrt",
            UnaryOp::Reciprocal => "Reciprocal",
            UnaryOp::Abs => "Abs",
            UnaryOp::Neg => "Neg",
            UnaryOp::Floor => "Floor",
            UnaryOp::Ceil => "Ceil",
            UnaryOp::Erf => "Erf",
            UnaryOp::Sin => "Sin",
            UnaryOp::Cos => "Cos",
        };
        self.push_node(
            &name.to_ascii_lowercase(),
            name,
            Attributes::new(),
            vec![input.name().to_string()],
            1,
        )
    }

    /// Add a binary element-wise operation; both operands must have the same type and
    /// broadcastable shapes.
    pub fn add_elementwise(
        &mut self,
        a: &TensorRef,
        b: &TensorRef,
        op: ElementWiseOp,
    ) -> Result<LayerHandle> {
        self.check(a)?;
        self.check(b)?;
        let (fa, fb) = check_same_dtype(self, a, b)?;
        if let (Some(x), Some(y)) = (
            fa.shape.and_then(|s| s.as_fixed()),
            fb.shape.and_then(|s| s.as_fixed()),
        ) {
            broadcast_shapes(&x, &y)?;
        }
        let (stem, name) = match op {
            ElementWiseOp::Sum => ("add", "Add"),
            ElementWiseOp::Sub => ("sub", "Sub"),
            ElementWiseOp::Prod => ("mul", "Mul"),
            ElementWiseOp::Div => ("div", "Div"),
            ElementWiseOp::Max => ("max", "Max"),
            ElementWiseOp::Min => ("min", "Min"),
            ElementWiseOp::Pow => ("pow", "Pow"),
        };
        let ins = vec![a.name().to_string(), b.name().to_string()];
        self.push_node(stem, name, Attributes::new(), ins, 1)
    }

    /// Add a (batched, broadcasting) matrix product `a @ b`.
    pub fn add_matmul(&mut self, a: &TensorRef, b: &TensorRef) -> Result<LayerHandle> {
        self.check(a)?;
        self.check(b)?;
        let (fa, fb) = check_same_dtype(self, a, b)?;
        if let (Some(x), Some(y)) = (fa.shape, fb.shape) {
            let k_a = x.0.last().and_then(|d| d.fixed());
            let k_b = if y.rank() >= 2 {
                y.0[y.rank() - 2].fixed()
            } else {
                y.0.first().and_then(|d| d.fixed())
            };
            if let (Some(p), Some(q)) = (k_a, k_b)
                && p != q
            {
                return Err(Error::shape(format!(
                    "matmul: '{}' {x} and '{}' {y} do not fit",
                    a.name(),
                    b.name()
                )));
            }
        }
        let ins = vec![a.name().to_string(), b.name().to_string()];
        self.push_node("matmul", "MatMul", Attributes::new(), ins, 1)
    }

    /// Add a general matrix multiply of 2-D operands.
    pub fn add_gemm(
        &mut self,
        a: &TensorRef,
        b: &TensorRef,
        c: Option<&TensorRef>,
        opts: GemmOptions,
    ) -> Result<LayerHandle> {
        self.check(a)?;
        self.check(b)?;
        check_same_dtype(self, a, b)?;
        for t in [a, b] {
            if let Some(r) = self.rank(t)?
                && r != 2
            {
                return Err(Error::shape(format!(
                    "gemm operand '{}' must be 2-D, has rank {r}",
                    t.name()
                )));
            }
        }
        let mut ins = vec![a.name().to_string(), b.name().to_string()];
        if let Some(c) = c {
            self.check(c)?;
            ins.push(c.name().to_string());
        }
        let attrs = Attributes::new()
            .with("alpha", Attribute::Float(opts.alpha))
            .with("beta", Attribute::Float(opts.beta))
            .with("transA", Attribute::Int(opts.trans_a as i64))
            .with("transB", Attribute::Int(opts.trans_b as i64));
        self.push_node("gemm", "Gemm", attrs, ins, 1)
    }

    /// Add a fully connected layer: `input [N, in] @ weights[out, in]^T + bias`.
    pub fn add_fully_connected(
        &mut self,
        input: &TensorRef,
        out_features: usize,
        weights: Tensor,
        bias: Option<Tensor>,
    ) -> Result<LayerHandle> {
        self.check(input)?;
        let ws = weights.shape().to_vec();
        if ws.len() != 2 || ws[0] != out_features {
            return Err(Error::shape(format!(
                "fully connected weights must be [{out_features}, in_features], got {ws:?}"
            )));
        }
        if let Some(s) = self.tensor_fact(input)?.shape {
            if s.rank() != 2 {
                return Err(Error::shape(format!(
                    "fully connected input must be 2-D, got {s}"
                )));
            }
            if let Some(k) = s.0[1].fixed()
                && k != ws[1]
            {
                return Err(Error::shape(format!(
                    "input has {k} features, weights expect {}",
                    ws[1]
                )));
            }
        }
        if let Some(b) = &bias
            && b.len() != out_features
        {
            return Err(Error::shape(format!(
                "bias has {} values for {out_features} outputs",
                b.len()
            )));
        }
        let layer = self.fresh("fc");
        let mut ins = vec![
            input.name().to_string(),
            self.layer_constant(&layer, "weight", weights)?,
        ];
        if let Some(b) = bias {
            ins.push(self.layer_constant(&layer, "bias", b)?);
        }
        let attrs = Attributes::new().with("transB", Attribute::Int(1));
        self.push_named(layer, "Gemm", attrs, ins, 1)
    }

    /// Add a softmax along `axis`.
    pub fn add_softmax(&mut self, input: &TensorRef, axis: i64) -> Result<LayerHandle> {
        self.check(input)?;
        let attrs = Attributes::new().with("axis", Attribute::Int(axis));
        self.push_node(
            "softmax",
            "Softmax",
            attrs,
            vec![input.name().to_string()],
            1,
        )
    }

    /// Add a layer normalization over the axes from `axis` on, with scale and bias tensors.
    pub fn add_normalization(
        &mut self,
        input: &TensorRef,
        scale: &TensorRef,
        bias: &TensorRef,
        axis: i64,
        epsilon: f32,
    ) -> Result<LayerHandle> {
        for t in [input, scale, bias] {
            self.check(t)?;
        }
        let attrs = Attributes::new()
            .with("axis", Attribute::Int(axis))
            .with("epsilon", Attribute::Float(epsilon));
        let ins = vec![
            input.name().to_string(),
            scale.name().to_string(),
            bias.name().to_string(),
        ];
        self.push_node("layernorm", "LayerNormalization", attrs, ins, 1)
    }

    /// Add a reshape (`0` copies the input dim, `-1` is inferred).
    pub fn add_reshape(&mut self, input: &TensorRef, dims: &[i64]) -> Result<LayerHandle> {
        self.check(input)?;
        let layer = self.fresh("reshape");
        let shape = self.layer_constant(
            &layer,
            "shape",
            Tensor::from_vec(&[dims.len()], dims.to_vec())?,
        )?;
        self.push_named(
            layer,
            "Reshape",
            Attributes::new(),
            vec![input.name().to_string(), shape],
            1,
        )
    }

    /// Add a transpose by `perm`.
    pub fn add_transpose(&mut self, input: &TensorRef, perm: &[usize]) -> Result<LayerHandle> {
        self.check(input)?;
        if let Some(r) = self.rank(input)? {
            let mut seen = vec![false; r];
            if perm.len() != r
                || perm
                    .iter()
                    .any(|&p| p >= r || std::mem::replace(&mut seen[p], true))
            {
                return Err(Error::shape(format!(
                    "{perm:?} is not a permutation of rank {r}"
                )));
            }
        }
        let attrs = Attributes::new().with("perm", ints(perm));
        self.push_node(
            "transpose",
            "Transpose",
            attrs,
            vec![input.name().to_string()],
            1,
        )
    }

    /// Add a flatten to 2-D around `axis`.
    pub fn add_flatten(&mut self, input: &TensorRef, axis: i64) -> Result<LayerHandle> {
        self.check(input)?;
        let attrs = Attributes::new().with("axis", Attribute::Int(axis));
        self.push_node(
            "flatten",
            "Flatten",
            attrs,
            vec![input.name().to_string()],
            1,
        )
    }

    /// Add a shuffle (transpose, reshape, transpose; each optional).
    pub fn add_shuffle(&mut self, input: &TensorRef, shuffle: &Shuffle) -> Result<LayerHandle> {
        self.check(input)?;
        let mut cur: Option<LayerHandle> = None;
        let src =
            |c: &Option<LayerHandle>| c.as_ref().map(|l| l.out()).unwrap_or_else(|| input.clone());
        if let Some(p) = &shuffle.first_transpose {
            cur = Some(self.add_transpose(&src(&cur), p)?);
        }
        if let Some(d) = &shuffle.reshape {
            cur = Some(self.add_reshape(&src(&cur), d)?);
        }
        if let Some(p) = &shuffle.second_transpose {
            cur = Some(self.add_transpose(&src(&cur), p)?);
        }
        match cur {
            Some(l) => Ok(l),
            None => self.push_node(
                "shuffle",
                "Identity",
                Attributes::new(),
                vec![input.name().to_string()],
                1,
            ),
        }
    }

    /// Add a concatenation along `axis`.
    pub fn add_concatenation(&mut self, inputs: &[&TensorRef], axis: i64) -> Result<LayerHandle> {
        let Some(first) = inputs.first() else {
            return Err(Error::input("concatenation needs at least one input"));
        };
        for t in inputs {
            self.check(t)?;
            check_same_dtype(self, first, t)?;
        }
        let attrs = Attributes::new().with("axis", Attribute::Int(axis));
        let ins = inputs.iter().map(|t| t.name().to_string()).collect();
        self.push_node("concat", "Concat", attrs, ins, 1)
    }

    /// Add a reduction over `axes`.
    pub fn add_reduce(
        &mut self,
        input: &TensorRef,
        op: ReduceOp,
        axes: &[i64],
        keep_dims: bool,
    ) -> Result<LayerHandle> {
        self.check(input)?;
        if let Some(r) = self.rank(input)? {
            for &a in axes {
                crate::ops::util::normalize_axis(a, r)?;
            }
        }
        let (stem, name) = match op {
            ReduceOp::Sum => ("reduce_sum", "ReduceSum"),
            ReduceOp::Mean => ("reduce_mean", "ReduceMean"),
            ReduceOp::Max => ("reduce_max", "ReduceMax"),
            ReduceOp::Min => ("reduce_min", "ReduceMin"),
            ReduceOp::Prod => ("reduce_prod", "ReduceProd"),
        };
        let layer = self.fresh(stem);
        let axes_t = self.layer_constant(
            &layer,
            "axes",
            Tensor::from_vec(&[axes.len()], axes.to_vec())?,
        )?;
        let attrs = Attributes::new().with("keepdims", Attribute::Int(keep_dims as i64));
        self.push_named(
            layer,
            name,
            attrs,
            vec![input.name().to_string(), axes_t],
            1,
        )
    }
}

/// A scalar of float type `dt`.
fn float_scalar(dt: DataType, v: f32) -> Result<Tensor> {
    Ok(match dt {
        DataType::F32 => Tensor::scalar(v),
        DataType::F64 => Tensor::scalar(v as f64),
        DataType::F16 => Tensor::scalar(half::f16::from_f32(v)),
        DataType::BF16 => Tensor::scalar(half::bf16::from_f32(v)),
        other => {
            return Err(Error::dtype(format!(
                "clip needs a float input, got {other}"
            )));
        }
    })
}

/// Check every Conv node: input channels must equal weight channels times groups.
pub(super) fn check_convolutions(graph: &Graph, facts: &HashMap<String, TensorFact>) -> Result<()> {
    for n in graph.nodes.iter().filter(|n| n.op_type() == "Conv") {
        let group = n.attrs.int_or("group", 1)?.max(1) as usize;
        let c = n
            .inputs
            .first()
            .and_then(|x| facts.get(x))
            .and_then(|f| f.shape.as_ref())
            .and_then(|s| s.0.get(1))
            .and_then(|d| d.fixed());
        let w = n
            .inputs
            .get(1)
            .and_then(|w| facts.get(w))
            .and_then(|f| f.shape.as_ref())
            .and_then(|s| s.as_fixed());
        if let (Some(c), Some(w)) = (c, w)
            && (w.len() < 2 || w[1] * group != c || w[0] % group != 0)
        {
            return Err(Error::shape(format!(
                "input has {c} channels but weights {w:?} with {group} group(s) expect {}",
                w.get(1).copied().unwrap_or(0) * group
            ))
            .at_node(&n.name, "Conv"));
        }
    }
    Ok(())
}
