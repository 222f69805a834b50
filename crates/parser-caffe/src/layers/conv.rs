//! Convolution and Deconvolution: kernel/stride/pad/dilation in all their spellings, groups
//! and the optional bias.

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs};
use crate::pb;
use kiln_core::Attribute;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Convolution", convolution);
    r.add("Deconvolution", deconvolution);
}

/// Resolved window parameters of a convolution over `n` spatial axes.
pub(super) struct Window {
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub pad: Vec<usize>,
    pub dilation: Vec<usize>,
}

/// A repeated field that gives one value for all axes or one per axis (`default` if empty).
fn per_axis(v: &[u32], n: usize, default: usize, what: &str) -> LayerResult<Vec<usize>> {
    match v.len() {
        0 => Ok(vec![default; n]),
        1 => Ok(vec![v[0] as usize; n]),
        k if k == n => Ok(v.iter().map(|&x| x as usize).collect()),
        k => Err(LayerError::invalid(format!(
            "{what} has {k} values for {n} spatial axes"
        ))),
    }
}

/// The `_h`/`_w` spellings (2-D only) or the repeated field.
fn hw_or(
    h: Option<u32>,
    w: Option<u32>,
    v: &[u32],
    n: usize,
    default: usize,
    what: &str,
) -> LayerResult<Vec<usize>> {
    if h.is_some() || w.is_some() {
        if n != 2 {
            return Err(LayerError::invalid(format!(
                "{what}_h/{what}_w are only allowed for 2-D convolutions"
            )));
        }
        if !v.is_empty() {
            return Err(LayerError::invalid(format!(
                "{what} and {what}_h/{what}_w are both given"
            )));
        }
        return Ok(vec![
            h.map_or(default, |x| x as usize),
            w.map_or(default, |x| x as usize),
        ]);
    }
    per_axis(v, n, default, what)
}

fn window(p: &pb::ConvolutionParameter, n: usize) -> LayerResult<Window> {
    if p.kernel_h.is_some() != p.kernel_w.is_some() {
        return Err(LayerError::invalid(
            "kernel_h and kernel_w must be given together",
        ));
    }
    if p.kernel_size.is_empty() && p.kernel_h.is_none() {
        return Err(LayerError::invalid("no kernel_size (or kernel_h/kernel_w)"));
    }
    let kernel = hw_or(p.kernel_h, p.kernel_w, &p.kernel_size, n, 1, "kernel")?;
    let stride = hw_or(p.stride_h, p.stride_w, &p.stride, n, 1, "stride")?;
    let pad = hw_or(p.pad_h, p.pad_w, &p.pad, n, 0, "pad")?;
    let dilation = per_axis(&p.dilation, n, 1, "dilation")?;
    if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
        return Err(LayerError::invalid(
            "kernel, stride and dilation must be positive",
        ));
    }
    Ok(Window {
        kernel,
        stride,
        pad,
        dilation,
    })
}

/// Shared by both layers: returns (input channels, outputs, group, window, rank).
fn setup(ctx: &LayerCtx<'_>) -> LayerResult<(usize, usize, usize, Window, Vec<usize>)> {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.convolution_param.clone().unwrap_or_default();
    if p.axis() != 1 {
        return Err(LayerError::param(format!(
            "axis {} (only the channel axis 1 is supported)",
            p.axis()
        )));
    }
    let shape = ctx.in_shape(0)?;
    if shape.len() < 3 {
        return Err(LayerError::invalid(format!(
            "needs an (N, C, spatial...) bottom, got shape {shape:?}"
        )));
    }
    let w = window(&p, shape.len() - 2)?;
    let (c, m, g) = (shape[1], p.num_output() as usize, p.group() as usize);
    if m == 0 || g == 0 || c % g != 0 || m % g != 0 {
        return Err(LayerError::invalid(format!(
            "num_output {m} and {c} input channels must both be positive multiples of \
             group {g}"
        )));
    }
    Ok((c, m, g, w, shape))
}

fn conv_attrs(w: &Window, g: usize) -> kiln_core::Attributes {
    let ints = |v: &[usize]| Attribute::Ints(v.iter().map(|&x| x as i64).collect());
    let mut pads = w.pad.clone();
    pads.extend(&w.pad);
    attrs(&[
        ("kernel_shape", ints(&w.kernel)),
        ("strides", ints(&w.stride)),
        ("pads", ints(&pads)),
        ("dilations", ints(&w.dilation)),
        ("group", Attribute::Int(g as i64)),
    ])
}

fn build(ctx: &mut LayerCtx<'_>, op: &str, weight_shape: Vec<usize>, m: usize) -> LayerResult {
    let p = ctx.param.convolution_param.clone().unwrap_or_default();
    let (_, _, g, w, _) = setup(ctx)?;
    let weights = ctx.blob(0, "weights", &weight_shape)?;
    let mut inputs = vec![ctx.inputs[0].clone(), ctx.constant("weights", weights)];
    if p.bias_term() {
        let bias = ctx.blob(1, "bias", &[m])?;
        inputs.push(ctx.constant("bias", bias));
    }
    let out = ctx.outputs[0].clone();
    ctx.node(op, conv_attrs(&w, g), inputs, vec![out])
}

/// Caffe Convolution: weights (num_output, C/group, k...), bias (num_output).
fn convolution(ctx: &mut LayerCtx<'_>) -> LayerResult {
    let (c, m, g, w, _) = setup(ctx)?;
    let mut ws = vec![m, c / g];
    ws.extend(&w.kernel);
    build(ctx, "Conv", ws, m)
}

/// Caffe Deconvolution: weights (C, num_output/group, k...), bias (num_output).
fn deconvolution(ctx: &mut LayerCtx<'_>) -> LayerResult {
    let (c, m, g, w, shape) = setup(ctx)?;
    for (i, &x) in shape[2..].iter().enumerate() {
        let ext = (w.kernel[i] - 1) * w.dilation[i] + 1;
        if w.stride[i] * (x.max(1) - 1) + ext <= 2 * w.pad[i] {
            return Err(LayerError::invalid(format!(
                "output size on spatial axis {i} would not be positive"
            )));
        }
    }
    let mut ws = vec![c, m / g];
    ws.extend(&w.kernel);
    build(ctx, "ConvTranspose", ws, m)
}
