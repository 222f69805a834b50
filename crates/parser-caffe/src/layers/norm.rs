//! Normalizations: LRN (across channels and within a channel) and BatchNorm (global
//! statistics with Caffe's moving-average scale factor).

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs};
use crate::pb::lrn_parameter::NormRegion;
use kiln_core::{Attribute, Tensor};

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("LRN", lrn);
    r.add("BatchNorm", batch_norm);
}

fn lrn(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.lrn_param.unwrap_or_default();
    let size = p.local_size() as usize;
    if size % 2 == 0 {
        return Err(LayerError::invalid(format!(
            "local_size {size} must be odd"
        )));
    }
    let shape = ctx.in_shape(0)?;
    if shape.len() != 4 {
        return Err(LayerError::invalid(format!(
            "needs an (N, C, H, W) bottom, got shape {shape:?}"
        )));
    }
    let (x, y) = ctx.io();
    if p.norm_region() == NormRegion::AcrossChannels {
        // y = x / (k + alpha/size * sum of squares over `size` channels)^beta: ONNX's LRN.
        let a = attrs(&[
            ("size", Attribute::Int(size as i64)),
            ("alpha", Attribute::Float(p.alpha())),
            ("beta", Attribute::Float(p.beta())),
            ("bias", Attribute::Float(p.k())),
        ]);
        return ctx.unary("LRN", a, x, y);
    }
    // WITHIN_CHANNEL: y = x * (1 + alpha * avg_{size x size}(x^2))^(-beta), where the average
    // divides by size^2 (zero padding counts), as Caffe's pooling-based implementation does.
    let pad = (size - 1) / 2;
    let sq = ctx.temp("square");
    ctx.node(
        "Mul",
        Default::default(),
        vec![x.clone(), x.clone()],
        vec![sq.clone()],
    )?;
    let pooled = ctx.temp("pooled");
    let ints = |v: &[usize]| Attribute::Ints(v.iter().map(|&d| d as i64).collect());
    let pa = attrs(&[
        ("kernel_shape", ints(&[size, size])),
        ("pads", ints(&[pad, pad, pad, pad])),
        ("count_include_pad", Attribute::Int(1)),
    ]);
    ctx.unary("AveragePool", pa, sq, pooled.clone())?;
    let alpha = ctx.constant("alpha", Tensor::scalar(p.alpha()));
    let scaled = ctx.temp("scaled");
    ctx.node(
        "Mul",
        Default::default(),
        vec![pooled, alpha],
        vec![scaled.clone()],
    )?;
    let one = ctx.constant("one", Tensor::scalar(1.0f32));
    let shifted = ctx.temp("shifted");
    ctx.node(
        "Add",
        Default::default(),
        vec![scaled, one],
        vec![shifted.clone()],
    )?;
    let nb = ctx.constant("neg_beta", Tensor::scalar(-p.beta()));
    let factor = ctx.temp("factor");
    ctx.node(
        "Pow",
        Default::default(),
        vec![shifted, nb],
        vec![factor.clone()],
    )?;
    ctx.node("Mul", Default::default(), vec![x, factor], vec![y])
}

/// BatchNorm: blobs mean, variance and a one-element scale factor `s`; the statistics are
/// `mean / s` and `variance / s` (0 when `s` is 0).
fn batch_norm(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.batch_norm_param.unwrap_or_default();
    if p.use_global_stats == Some(false) {
        return Err(LayerError::param(
            "use_global_stats: false (statistics of the batch at inference) is not supported",
        ));
    }
    let shape = ctx.in_shape(0)?;
    if shape.len() < 2 {
        return Err(LayerError::invalid(format!(
            "needs a bottom with a channel axis, got shape {shape:?}"
        )));
    }
    let c = shape[1];
    let mean = ctx.blob(0, "mean", &[c])?.to_f64_vec()?;
    let var = ctx.blob(1, "variance", &[c])?.to_f64_vec()?;
    let s = ctx.blob(2, "scale factor", &[1])?.to_f64_vec()?[0];
    let f = if s == 0.0 { 0.0 } else { 1.0 / s };
    let mean: Vec<f32> = mean.iter().map(|m| (m * f) as f32).collect();
    let var: Vec<f32> = var.iter().map(|v| (v * f) as f32).collect();
    let scale = ctx.const_f32("scale", &[c], vec![1.0; c])?;
    let bias = ctx.const_f32("bias", &[c], vec![0.0; c])?;
    let mean = ctx.const_f32("mean", &[c], mean)?;
    let var = ctx.const_f32("variance", &[c], var)?;
    let (x, y) = ctx.io();
    let a = attrs(&[("epsilon", Attribute::Float(p.eps()))]);
    ctx.node(
        "BatchNormalization",
        a,
        vec![x, scale, bias, mean, var],
        vec![y],
    )
}
