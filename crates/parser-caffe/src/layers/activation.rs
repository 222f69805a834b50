//! Element-wise activations (ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, BNLL), Softmax, and the
//! identity layers of inference (Dropout).

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs, axis, broadcast_shape};
use kiln_core::Attribute;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("ReLU", relu);
    r.add("PReLU", prelu);
    r.add("ELU", elu);
    r.add("Sigmoid", sigmoid);
    r.add("TanH", tanh);
    r.add("AbsVal", absval);
    r.add("BNLL", bnll);
    r.add("Softmax", softmax);
    r.add("Dropout", dropout);
}

fn simple(ctx: &mut LayerCtx<'_>, op: &str, a: kiln_core::Attributes) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let (x, y) = ctx.io();
    ctx.unary(op, a, x, y)
}

/// ReLU, leaky when `negative_slope` is set.
fn relu(ctx: &mut LayerCtx<'_>) -> LayerResult {
    let slope = ctx
        .param
        .relu_param
        .as_ref()
        .map_or(0.0, |p| p.negative_slope());
    if slope == 0.0 {
        simple(ctx, "Relu", Default::default())
    } else {
        simple(
            ctx,
            "LeakyRelu",
            attrs(&[("alpha", Attribute::Float(slope))]),
        )
    }
}

/// PReLU: one learned slope per channel (axis 1), or one shared.
fn prelu(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let shared = ctx
        .param
        .prelu_param
        .as_ref()
        .is_some_and(|p| p.channel_shared());
    let shape = ctx.in_shape(0)?;
    if shape.len() < 2 && !shared {
        return Err(LayerError::invalid(format!(
            "needs a bottom with a channel axis, got shape {shape:?}"
        )));
    }
    let slope = if shared {
        ctx.blob(0, "slope", &[1])?
    } else {
        let c = shape[1];
        let s = ctx.blob(0, "slope", &[c])?;
        s.reshape(&broadcast_shape(&[c], 0, shape.len() - 1))?
    };
    let slope = ctx.constant("slope", slope);
    let (x, y) = ctx.io();
    ctx.node("PRelu", Default::default(), vec![x, slope], vec![y])
}

fn elu(ctx: &mut LayerCtx<'_>) -> LayerResult {
    let alpha = ctx.param.elu_param.as_ref().map_or(1.0, |p| p.alpha());
    simple(ctx, "Elu", attrs(&[("alpha", Attribute::Float(alpha))]))
}

fn sigmoid(ctx: &mut LayerCtx<'_>) -> LayerResult {
    simple(ctx, "Sigmoid", Default::default())
}

fn tanh(ctx: &mut LayerCtx<'_>) -> LayerResult {
    simple(ctx, "Tanh", Default::default())
}

fn absval(ctx: &mut LayerCtx<'_>) -> LayerResult {
    simple(ctx, "Abs", Default::default())
}

/// BNLL: log(1 + exp(x)).
fn bnll(ctx: &mut LayerCtx<'_>) -> LayerResult {
    simple(ctx, "Softplus", Default::default())
}

fn softmax(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let rank = ctx.in_shape(0)?.len();
    let a = ctx.param.softmax_param.as_ref().map_or(1, |p| p.axis());
    let a = axis(a.into(), rank, "axis")?;
    simple(ctx, "Softmax", attrs(&[("axis", Attribute::Int(a as i64))]))
}

/// Dropout is the identity at inference (Caffe scales during training only).
fn dropout(ctx: &mut LayerCtx<'_>) -> LayerResult {
    simple(ctx, "Identity", Default::default())
}
