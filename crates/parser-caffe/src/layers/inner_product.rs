//! InnerProduct: a fully connected layer over the axes from `axis` on, with the weight
//! stored (num_output, K) or, with `transpose`, (K, num_output).

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs, axis};
use kiln_core::Attribute;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("InnerProduct", inner_product);
}

fn inner_product(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.inner_product_param.clone().unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    let ax = axis(p.axis().into(), shape.len(), "axis")?;
    let n = p.num_output() as usize;
    if n == 0 {
        return Err(LayerError::invalid("num_output must be positive"));
    }
    let m: usize = shape[..ax].iter().product();
    let k: usize = shape[ax..].iter().product();
    let (wshape, trans_b) = if p.transpose() {
        (vec![k, n], 0)
    } else {
        (vec![n, k], 1)
    };
    let w = ctx.blob(0, "weights", &wshape)?;
    let w = ctx.constant("weights", w);
    let (x, y) = ctx.io();
    let flat_shape = ctx.const_i64("flat_shape", vec![m as i64, k as i64])?;
    let flat = ctx.temp("flat");
    ctx.node(
        "Reshape",
        Default::default(),
        vec![x, flat_shape],
        vec![flat.clone()],
    )?;
    let mut inputs = vec![flat, w];
    if p.bias_term() {
        let b = ctx.blob(1, "bias", &[n])?;
        inputs.push(ctx.constant("bias", b));
    }
    let a = attrs(&[("transB", Attribute::Int(trans_b))]);
    if ax == 1 {
        return ctx.node("Gemm", a, inputs, vec![y]);
    }
    let g = ctx.temp("gemm");
    ctx.node("Gemm", a, inputs, vec![g.clone()])?;
    let mut out: Vec<i64> = shape[..ax].iter().map(|&d| d as i64).collect();
    out.push(n as i64);
    let out_shape = ctx.const_i64("out_shape", out)?;
    ctx.node("Reshape", Default::default(), vec![g, out_shape], vec![y])
}
