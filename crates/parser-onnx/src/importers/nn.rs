//! Neural-network ops: convolution, pooling, normalization, GEMM/MatMul, softmax, recurrent,
//! quantization, attention, signal processing, random generators, losses.

use super::legacy::unsupported_form;
use super::{ImportCtx, ImporterRegistry, OnnxNode, direct, drop_consumed_inputs};
use kiln_core::{Attribute, Attributes, Error, Node, Result, Tensor};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    r.add("Conv", 1, direct);
    r.add("ConvTranspose", 1, direct);
    r.add("ConvInteger", 10, direct);
    r.add("DeformConv", 19, direct);
    r.add("AveragePool", 1, direct);
    r.add("MaxPool", 1, direct);
    r.add("LpPool", 1, p_float_to_int);
    r.add("LpPool", 2, direct);
    r.add("GlobalAveragePool", 1, direct);
    r.add("GlobalMaxPool", 1, direct);
    r.add("GlobalLpPool", 1, p_float_to_int);
    r.add("GlobalLpPool", 2, direct);
    r.add("MaxRoiPool", 1, direct);
    r.add("MaxUnpool", 9, direct);
    r.add("RoiAlign", 10, direct);
    r.add("BatchNormalization", 1, batchnorm_v1);
    r.add("BatchNormalization", 14, direct);
    r.add("InstanceNormalization", 1, drop_consumed_inputs);
    r.add("InstanceNormalization", 6, direct);
    r.add("LayerNormalization", 17, direct);
    r.add("GroupNormalization", 18, direct);
    r.add("RMSNormalization", 23, direct);
    r.add("LpNormalization", 1, direct);
    r.add("LRN", 1, direct);
    r.add("MeanVarianceNormalization", 1, unsupported_form);
    r.add("MeanVarianceNormalization", 9, direct);
    r.add("Dropout", 1, dropout_v1);
    r.add("Dropout", 12, direct);
    r.add("Gemm", 1, gemm_v1);
    r.add("Gemm", 7, direct);
    r.add("MatMul", 1, direct);
    r.add("MatMulInteger", 10, direct);
    r.add("Einsum", 12, direct);
    r.add("Softmax", 1, softmax_v1);
    r.add("Softmax", 13, direct);
    r.add("LogSoftmax", 1, softmax_v1);
    r.add("LogSoftmax", 13, direct);
    r.add("Hardmax", 1, softmax_v1);
    r.add("Hardmax", 13, direct);
    r.add("RNN", 1, direct);
    r.add("GRU", 1, direct);
    r.add("LSTM", 1, direct);
    r.add("Attention", 23, direct);
    r.add("RotaryEmbedding", 23, direct);
    r.add("LinearAttention", 27, direct);
    r.add("CausalConvWithState", 27, direct);
    r.add("QuantizeLinear", 10, direct);
    r.add("DequantizeLinear", 10, direct);
    r.add("DynamicQuantizeLinear", 11, direct);
    r.add("QLinearConv", 10, direct);
    r.add("QLinearMatMul", 10, direct);
    r.add("GridSample", 16, direct);
    r.add("AffineGrid", 20, direct);
    r.add("NonMaxSuppression", 10, direct);
    r.add("SoftmaxCrossEntropyLoss", 12, direct);
    r.add("NegativeLogLikelihoodLoss", 12, direct);
    r.add("DFT", 17, direct);
    r.add("STFT", 17, direct);
    r.add("BlackmanWindow", 17, direct);
    r.add("HammingWindow", 17, direct);
    r.add("HannWindow", 17, direct);
    r.add("MelWeightMatrix", 17, direct);
    r.add("RandomNormal", 1, direct);
    r.add("RandomNormalLike", 1, direct);
    r.add("RandomUniform", 1, direct);
    r.add("RandomUniformLike", 1, direct);
    r.add("Bernoulli", 15, direct);
    r.add("Multinomial", 7, direct);
    r.add("TfIdfVectorizer", 9, direct);
    r.add("ImageDecoder", 20, direct);
}

/// LpPool-1/GlobalLpPool-1: `p` was a float; later an int.
pub fn p_float_to_int(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    if let Some(Attribute::Float(p)) = node.attrs.get("p").cloned() {
        if p.fract() != 0.0 {
            return Err(Error::attr(
                "p",
                format!("non-integer p = {p} is not supported"),
            ));
        }
        node.attrs.set("p", Attribute::Int(p as i64));
    }
    direct(ctx, node)
}

/// BatchNormalization before 14: drop `consumed_inputs`, `is_test` and `spatial=1`; the
/// training outputs of those opsets (mean, var, saved mean/var) are not supported.
pub fn batchnorm_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    node.take_attr("is_test");
    if node.attrs.int_or("spatial", 1)? != 1 {
        return Err(Error::attr("spatial", "spatial=0 is not supported"));
    }
    node.take_attr("spatial");
    if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(Error::unsupported(format!(
            "training outputs of BatchNormalization before opset 14 (opset {})",
            node.opset
        )));
    }
    node.outputs.truncate(1);
    direct(ctx, node)
}

/// Dropout before 12: `ratio` attribute -> input; `is_test`/`consumed_inputs` dropped
/// (inference semantics: the output equals the input).
pub fn dropout_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    node.take_attr("is_test");
    node.inputs.truncate(1);
    if let Some(ratio) = node.take_attr("ratio") {
        let Attribute::Float(v) = ratio else {
            return Err(Error::attr("ratio", "expected float"));
        };
        let name = ctx.add_const(&format!("{}_ratio", node.name), Tensor::scalar(v));
        node.set_input(1, name);
    }
    direct(ctx, node)
}

/// Gemm before 7: `broadcast` is implied by the later unidirectional broadcasting of C.
pub fn gemm_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("broadcast");
    direct(ctx, node)
}

/// Softmax/LogSoftmax/Hardmax before 13: the input was flattened to 2-D at `axis`
/// (default one) and normalized over the second dimension. When `axis` is the last axis
/// that is the latest form; otherwise it becomes `Shape`, `Flatten`, the op on axis 1,
/// and `Reshape`.
pub fn softmax_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let axis = node.attrs.int_or("axis", 1)?;
    let x = node
        .input(0)
        .ok_or_else(|| Error::input("missing input 0"))?
        .to_string();
    if let Some(rank) = ctx.rank_of(&x) {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        if a == rank as i64 - 1 {
            node.attrs.set("axis", Attribute::Int(-1));
            return direct(ctx, node);
        }
    }
    let y = node
        .outputs
        .first()
        .cloned()
        .ok_or_else(|| Error::input("missing output 0"))?;
    let base = node.name.clone();
    let shape = ctx.unique_name(&format!("{base}_shape"));
    let flat = ctx.unique_name(&format!("{base}_flat"));
    let norm = ctx.unique_name(&format!("{base}_2d"));
    let op = node.op_type.clone();
    let shape_node = Node::builtin(
        format!("{base}_shape"),
        "Shape",
        Attributes::new(),
        vec![x.clone()],
        vec![shape.clone()],
    )?;
    let flatten = Node::builtin(
        format!("{base}_flatten"),
        "Flatten",
        Attributes::new().with("axis", Attribute::Int(axis)),
        vec![x],
        vec![flat.clone()],
    )?;
    let core = Node::builtin(
        format!("{base}_2d"),
        &op,
        Attributes::new().with("axis", Attribute::Int(1)),
        vec![flat],
        vec![norm.clone()],
    )?;
    let reshape = Node::builtin(
        base,
        "Reshape",
        Attributes::new(),
        vec![norm, shape],
        vec![y],
    )?;
    Ok(vec![shape_node, flatten, core, reshape])
}
