//! Power, Exp and Log: `(shift + scale x)^power`, `base^(shift + scale x)` and
//! `log_base(shift + scale x)`, with base -1 meaning e.

use super::{LayerCtx, LayerRegistry, LayerResult};
use kiln_core::Tensor;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Power", power);
    r.add("Exp", exp);
    r.add("Log", log);
}

/// Apply `op(value, constant c)` unless it would be the identity; returns the new value.
fn binary_const(ctx: &mut LayerCtx<'_>, op: &str, x: String, c: f32) -> LayerResult<String> {
    let k = ctx.constant(&op.to_lowercase(), Tensor::scalar(c));
    let y = ctx.temp(&op.to_lowercase());
    ctx.node(op, Default::default(), vec![x, k], vec![y.clone()])?;
    Ok(y)
}

/// `scale x + shift`, skipping factors of 1 and terms of 0.
fn affine(ctx: &mut LayerCtx<'_>, x: String, scale: f32, shift: f32) -> LayerResult<String> {
    let mut v = x;
    if scale != 1.0 {
        v = binary_const(ctx, "Mul", v, scale)?;
    }
    if shift != 0.0 {
        v = binary_const(ctx, "Add", v, shift)?;
    }
    Ok(v)
}

/// Rename the last value to the top (an Identity when the layer did nothing else).
fn finish(ctx: &mut LayerCtx<'_>, v: String) -> LayerResult {
    let y = ctx.outputs[0].clone();
    match ctx.nodes.last_mut() {
        Some(n) if n.outputs.first() == Some(&v) => {
            n.outputs[0] = y;
            Ok(())
        }
        _ => ctx.unary("Identity", Default::default(), v, y),
    }
}

fn power(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.power_param.unwrap_or_default();
    let x = ctx.inputs[0].clone();
    let mut v = affine(ctx, x, p.scale(), p.shift())?;
    if p.power() != 1.0 {
        v = binary_const(ctx, "Pow", v, p.power())?;
    }
    finish(ctx, v)
}

fn exp(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.exp_param.unwrap_or_default();
    let (base, scale, shift) = (
        f64::from(p.base()),
        f64::from(p.scale()),
        f64::from(p.shift()),
    );
    if base != -1.0 && base <= 0.0 {
        return Err(super::LayerError::invalid(format!(
            "base {base} must be positive (or -1 for e)"
        )));
    }
    let log_base = if base == -1.0 { 1.0 } else { base.ln() };
    let x = ctx.inputs[0].clone();
    let v = affine(ctx, x, (log_base * scale) as f32, 0.0)?;
    let e = ctx.temp("exp");
    ctx.unary("Exp", Default::default(), v, e.clone())?;
    let outer = (log_base * shift).exp() as f32;
    let v = affine(ctx, e, outer, 0.0)?;
    finish(ctx, v)
}

fn log(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.log_param.unwrap_or_default();
    let base = f64::from(p.base());
    if base != -1.0 && (base <= 0.0 || base == 1.0) {
        return Err(super::LayerError::invalid(format!(
            "base {base} must be positive and not 1 (or -1 for e)"
        )));
    }
    let x = ctx.inputs[0].clone();
    let v = affine(ctx, x, p.scale(), p.shift())?;
    let l = ctx.temp("log");
    ctx.unary("Log", Default::default(), v, l.clone())?;
    let base_scale = if base == -1.0 { 1.0 } else { 1.0 / base.ln() };
    let v = affine(ctx, l, base_scale as f32, 0.0)?;
    finish(ctx, v)
}
