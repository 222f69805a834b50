//! Pooling: MAX, AVE and global, with Caffe's output size (rounded up by default, the last
//! window clipped to the padded input) and Caffe's AVE divisor (the window clipped to the
//! padded input, so padding counts but the rounding overhang does not).

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs};
use crate::pb::pooling_parameter::{PoolMethod, RoundMode};
use kiln_core::Attribute;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Pooling", pooling);
}

/// Caffe's pooled size of one axis.
fn caffe_pooled(input: usize, k: usize, s: usize, p: usize, ceil: bool) -> Option<usize> {
    let span = (input + 2 * p).checked_sub(k)?;
    let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if p > 0 && (o - 1) * s >= input + p {
        o -= 1;
    }
    Some(o)
}

/// The pooled size the core ops compute for the same attributes (ceil_mode clips the last
/// window even without padding).
fn core_pooled(input: usize, k: usize, s: usize, p: usize, ceil: bool) -> Option<usize> {
    let span = (input + 2 * p).checked_sub(k)?;
    let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if ceil && (o - 1) * s >= input + p {
        o -= 1;
    }
    Some(o)
}

fn pair(one: Option<u32>, h: Option<u32>, w: Option<u32>, default: u32) -> [usize; 2] {
    if h.is_some() || w.is_some() {
        [h.unwrap_or(default) as usize, w.unwrap_or(default) as usize]
    } else {
        let v = one.unwrap_or(default) as usize;
        [v, v]
    }
}

fn pooling(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, None)?;
    if ctx.outputs.len() > 1 {
        return Err(LayerError::param(
            "a second top (the MAX mask) is not supported",
        ));
    }
    let p = ctx.param.pooling_param.unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    if shape.len() != 4 {
        return Err(LayerError::invalid(format!(
            "needs an (N, C, H, W) bottom, got shape {shape:?}"
        )));
    }
    let method = p.pool();
    let (x, y) = ctx.io();
    if method == PoolMethod::Stochastic {
        return Err(LayerError::param("STOCHASTIC pooling is not supported"));
    }
    if p.global_pooling() {
        if p.kernel_size.is_some() || p.kernel_h.is_some() {
            return Err(LayerError::invalid(
                "global_pooling cannot be combined with a kernel size",
            ));
        }
        if p.pad() != 0 || p.pad_h() != 0 || p.pad_w() != 0 {
            return Err(LayerError::invalid("global_pooling needs pad 0"));
        }
        let op = match method {
            PoolMethod::Max => "GlobalMaxPool",
            _ => "GlobalAveragePool",
        };
        return ctx.unary(op, Default::default(), x, y);
    }
    if p.kernel_size.is_some() == (p.kernel_h.is_some() || p.kernel_w.is_some()) {
        return Err(LayerError::invalid(
            "give either kernel_size or kernel_h and kernel_w",
        ));
    }
    let kernel = pair(p.kernel_size, p.kernel_h, p.kernel_w, 0);
    let stride = pair(p.stride, p.stride_h, p.stride_w, 1);
    let pad = pair(p.pad, p.pad_h, p.pad_w, 0);
    if kernel.contains(&0) || stride.contains(&0) {
        return Err(LayerError::invalid("kernel and stride must be positive"));
    }
    if pad[0] >= kernel[0] || pad[1] >= kernel[1] {
        return Err(LayerError::invalid("pad must be smaller than the kernel"));
    }
    let ceil = p.round_mode() == RoundMode::Ceil;
    for i in 0..2 {
        let (a, b) = (
            caffe_pooled(shape[2 + i], kernel[i], stride[i], pad[i], ceil),
            core_pooled(shape[2 + i], kernel[i], stride[i], pad[i], ceil),
        );
        match (a, b) {
            (None, _) => {
                return Err(LayerError::invalid(format!(
                    "kernel {} is larger than the padded input {} on axis {}",
                    kernel[i],
                    shape[2 + i] + 2 * pad[i],
                    2 + i
                )));
            }
            (Some(a), Some(b)) if a != b => {
                return Err(LayerError::param(format!(
                    "kernel {} smaller than stride {} without padding: Caffe makes a last \
                     window that starts past the input on axis {} (pooled size {a}); Kiln \
                     does not reproduce it",
                    kernel[i],
                    stride[i],
                    2 + i
                )));
            }
            _ => {}
        }
    }
    let ints = |v: &[usize]| Attribute::Ints(v.iter().map(|&x| x as i64).collect());
    let mut a = attrs(&[
        ("kernel_shape", ints(&kernel)),
        ("strides", ints(&stride)),
        ("pads", ints(&[pad[0], pad[1], pad[0], pad[1]])),
        ("ceil_mode", Attribute::Int(i64::from(ceil))),
    ]);
    let op = if method == PoolMethod::Max {
        "MaxPool"
    } else {
        // Padding counts in the divisor; the ceil-mode overhang past the padding does not.
        a.set("count_include_pad", Attribute::Int(1));
        "AveragePool"
    };
    ctx.unary(op, a, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_sizes() {
        // AlexNet pool1: 55 -> 27; GoogLeNet pool1: 112 -> 56 (ceil).
        assert_eq!(caffe_pooled(55, 3, 2, 0, true), Some(27));
        assert_eq!(caffe_pooled(112, 3, 2, 0, true), Some(56));
        assert_eq!(caffe_pooled(112, 3, 2, 0, false), Some(55));
        // Clipping with padding: 5 + 2*1 - 2 = 5, ceil(5/2)+1 = 4, 3*2 >= 6: 3.
        assert_eq!(caffe_pooled(5, 2, 2, 1, true), Some(3));
        assert_eq!(caffe_pooled(5, 1, 3, 0, true), Some(3));
        assert_eq!(core_pooled(5, 1, 3, 0, true), Some(2));
    }
}
