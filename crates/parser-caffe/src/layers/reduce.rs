//! Reduction (SUM, ASUM, SUMSQ, MEAN over all axes from `axis` on, times `coeff`) and
//! ArgMax (top-k indices or values, over one axis or over each item of the batch).

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs, axis};
use crate::pb::reduction_parameter::ReductionOp;
use kiln_core::{Attribute, Tensor};

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Reduction", reduction);
    r.add("ArgMax", argmax);
}

fn reduction(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.reduction_param.unwrap_or_default();
    let rank = ctx.in_shape(0)?.len();
    let start = axis(p.axis().into(), rank, "axis")?;
    let axes = ctx.const_i64("axes", (start as i64..rank as i64).collect())?;
    let (mut x, y) = ctx.io();
    let op = match p.operation() {
        ReductionOp::Sum => "ReduceSum",
        ReductionOp::Mean => "ReduceMean",
        ReductionOp::Sumsq => "ReduceSumSquare",
        ReductionOp::Asum => {
            let abs = ctx.temp("abs");
            ctx.unary("Abs", Default::default(), x, abs.clone())?;
            x = abs;
            "ReduceSum"
        }
    };
    let a = attrs(&[("keepdims", Attribute::Int(0))]);
    if p.coeff() == 1.0 {
        return ctx.node(op, a, vec![x, axes], vec![y]);
    }
    let r = ctx.temp("reduced");
    ctx.node(op, a, vec![x, axes], vec![r.clone()])?;
    let c = ctx.constant("coeff", Tensor::scalar(p.coeff()));
    ctx.node("Mul", Default::default(), vec![r, c], vec![y])
}

/// ONNX's code of float32, for Cast's `to`.
const ONNX_FLOAT: i64 = 1;

/// Caffe outputs indices as floats.
fn cast_f32(ctx: &mut LayerCtx<'_>, x: String, y: String) -> LayerResult {
    let a = attrs(&[("to", Attribute::Int(ONNX_FLOAT))]);
    ctx.unary("Cast", a, x, y)
}

fn argmax(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.argmax_param.unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    let k = p.top_k() as usize;
    let y = ctx.outputs[0].clone();
    let (vals, idx) = (ctx.temp("values"), ctx.temp("indices"));
    let kc = ctx.const_i64("k", vec![k as i64])?;
    let top = |ax: usize| attrs(&[("axis", Attribute::Int(ax as i64))]);
    if let Some(a) = p.axis {
        let a = axis(a.into(), shape.len(), "axis")?;
        if k == 0 || k > shape[a] {
            return Err(LayerError::invalid(format!(
                "top_k {k} must be in 1..={} (axis {a})",
                shape[a]
            )));
        }
        let x = ctx.inputs[0].clone();
        ctx.node("TopK", top(a), vec![x, kc], vec![vals.clone(), idx.clone()])?;
        return if p.out_max_val() {
            ctx.unary("Identity", Default::default(), vals, y)
        } else {
            cast_f32(ctx, idx, y)
        };
    }
    // Over each item: (N, 1 or 2, top_k, 1...) of rank max(rank, 3).
    let n = *shape
        .first()
        .ok_or_else(|| LayerError::invalid("rank-0 bottom"))?;
    let per: usize = shape[1..].iter().product();
    if k == 0 || k > per {
        return Err(LayerError::invalid(format!(
            "top_k {k} must be in 1..={per}"
        )));
    }
    let flat_shape = ctx.const_i64("flat_shape", vec![n as i64, per as i64])?;
    let flat = ctx.temp("flat");
    let x = ctx.inputs[0].clone();
    ctx.node(
        "Reshape",
        Default::default(),
        vec![x, flat_shape],
        vec![flat.clone()],
    )?;
    ctx.node(
        "TopK",
        top(1),
        vec![flat, kc],
        vec![vals.clone(), idx.clone()],
    )?;
    let fidx = ctx.temp("float_indices");
    cast_f32(ctx, idx, fidx.clone())?;
    let mut out_shape = vec![1i64; shape.len().max(3)];
    out_shape[0] = n as i64;
    out_shape[2] = k as i64;
    let joined = if p.out_max_val() {
        out_shape[1] = 2;
        let j = ctx.temp("joined");
        ctx.node(
            "Concat",
            attrs(&[("axis", Attribute::Int(1))]),
            vec![fidx, vals],
            vec![j.clone()],
        )?;
        j
    } else {
        fidx
    };
    let s = ctx.const_i64("out_shape", out_shape)?;
    ctx.node("Reshape", Default::default(), vec![joined, s], vec![y])
}
