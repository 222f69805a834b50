//! Eltwise: SUM (with optional coefficients), PROD and MAX over two or more bottoms.

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult};
use crate::pb::eltwise_parameter::EltwiseOp;
use kiln_core::Tensor;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Eltwise", eltwise);
}

fn eltwise(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(2, usize::MAX, Some(1))?;
    let p = ctx.param.eltwise_param.clone().unwrap_or_default();
    let first = ctx.in_shape(0)?;
    for i in 1..ctx.inputs.len() {
        let s = ctx.in_shape(i)?;
        if s != first {
            return Err(LayerError::invalid(format!(
                "bottom {i} has shape {s:?}, bottom 0 has {first:?}: Eltwise needs equal shapes"
            )));
        }
    }
    let op = p.operation();
    if !p.coeff.is_empty() && op != EltwiseOp::Sum {
        return Err(LayerError::invalid(
            "coeff is only allowed with operation SUM",
        ));
    }
    if !p.coeff.is_empty() && p.coeff.len() != ctx.inputs.len() {
        return Err(LayerError::invalid(format!(
            "{} coefficients for {} bottoms",
            p.coeff.len(),
            ctx.inputs.len()
        )));
    }
    let mut inputs = ctx.inputs.clone();
    if p.coeff.iter().any(|&c| c != 1.0) {
        for (i, &c) in p.coeff.iter().enumerate() {
            if c == 1.0 {
                continue;
            }
            let k = ctx.constant("coeff", Tensor::scalar(c));
            let v = ctx.temp("weighted");
            ctx.node(
                "Mul",
                Default::default(),
                vec![inputs[i].clone(), k],
                vec![v.clone()],
            )?;
            inputs[i] = v;
        }
    }
    let name = match op {
        EltwiseOp::Sum => "Sum",
        EltwiseOp::Prod => "Mul",
        EltwiseOp::Max => "Max",
    };
    let y = ctx.outputs[0].clone();
    if name != "Mul" {
        return ctx.node(name, Default::default(), inputs, vec![y]);
    }
    // Products left to right, as Caffe multiplies.
    let mut acc = inputs[0].clone();
    for (i, v) in inputs.iter().enumerate().skip(1) {
        let out = if i + 1 == inputs.len() {
            y.clone()
        } else {
            ctx.temp("product")
        };
        ctx.node(
            "Mul",
            Default::default(),
            vec![acc, v.clone()],
            vec![out.clone()],
        )?;
        acc = out;
    }
    Ok(())
}
