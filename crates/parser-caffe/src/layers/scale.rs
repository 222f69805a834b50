//! Scale and Bias: a per-slice multiplier / offset over `num_axes` axes starting at `axis`,
//! from a learned blob or a second bottom.

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, axis, broadcast_shape};

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Scale", scale);
    r.add("Bias", bias);
}

/// The axes the parameter covers: `[axis, axis + num_axes)` of the bottom.
fn param_dims(shape: &[usize], ax: i64, num_axes: i64) -> LayerResult<(usize, Vec<usize>)> {
    let start = axis(ax, shape.len().max(1), "axis")?;
    let end = if num_axes == -1 {
        shape.len()
    } else if num_axes < -1 {
        return Err(LayerError::invalid(format!(
            "num_axes {num_axes} must be -1 or non-negative"
        )));
    } else {
        start + num_axes as usize
    };
    if end > shape.len() {
        return Err(LayerError::invalid(format!(
            "axis {start} + num_axes {num_axes} exceed the bottom's rank {}",
            shape.len()
        )));
    }
    Ok((start, shape[start..end].to_vec()))
}

/// Broadcast a second bottom of `dims` at `start` by reshaping it.
fn reshape_operand(
    ctx: &mut LayerCtx<'_>,
    v: String,
    dims: &[usize],
    start: usize,
    rank: usize,
) -> LayerResult<String> {
    let target: Vec<i64> = broadcast_shape(dims, start, rank)
        .iter()
        .map(|&d| d as i64)
        .collect();
    let s = ctx.const_i64("shape", target)?;
    let out = ctx.temp("operand");
    ctx.node("Reshape", Default::default(), vec![v, s], vec![out.clone()])?;
    Ok(out)
}

/// Either the second bottom (checked against the bottom's shape) or a learned blob; returns
/// the operand value and the index of the next blob.
fn operand(
    ctx: &mut LayerCtx<'_>,
    role: &str,
    ax: i64,
    num_axes: i64,
) -> LayerResult<(String, usize, Vec<usize>, usize)> {
    let shape = ctx.in_shape(0)?;
    let rank = shape.len();
    if ctx.inputs.len() == 2 {
        let other = ctx.in_shape(1)?;
        let start = axis(ax, rank.max(1), "axis")?;
        if start + other.len() > rank || shape[start..start + other.len()] != other[..] {
            return Err(LayerError::invalid(format!(
                "the second bottom's shape {other:?} does not match the first bottom's \
                 shape {shape:?} from axis {start}"
            )));
        }
        let v = ctx.inputs[1].clone();
        let v = reshape_operand(ctx, v, &other, start, rank)?;
        return Ok((v, 0, other, start));
    }
    let (start, dims) = param_dims(&shape, ax, num_axes)?;
    let t = ctx.blob(0, role, &dims)?;
    let t = t.reshape(&broadcast_shape(&dims, start, rank))?;
    Ok((ctx.constant(role, t), 1, dims, start))
}

fn scale(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 2, Some(1))?;
    let p = ctx.param.scale_param.clone().unwrap_or_default();
    let (s, next, dims, start) = operand(ctx, "scale", p.axis().into(), p.num_axes().into())?;
    let rank = ctx.in_shape(0)?.len();
    let (x, y) = ctx.io();
    if !p.bias_term() {
        return ctx.node("Mul", Default::default(), vec![x, s], vec![y]);
    }
    let m = ctx.temp("scaled");
    ctx.node("Mul", Default::default(), vec![x, s], vec![m.clone()])?;
    let b = ctx.blob(next, "bias", &dims)?;
    let b = b.reshape(&broadcast_shape(&dims, start, rank))?;
    let b = ctx.constant("bias", b);
    ctx.node("Add", Default::default(), vec![m, b], vec![y])
}

fn bias(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 2, Some(1))?;
    let p = ctx.param.bias_param.clone().unwrap_or_default();
    let (b, _, _, _) = operand(ctx, "bias", p.axis().into(), p.num_axes().into())?;
    let (x, y) = ctx.io();
    ctx.node("Add", Default::default(), vec![x, b], vec![y])
}
