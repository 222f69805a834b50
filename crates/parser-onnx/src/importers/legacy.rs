//! Deprecated ops mapped onto their replacements (Upsample -> Resize, Scatter ->
//! ScatterElements) and shared converters of pre-opset-7 forms.

use super::{ImportCtx, ImporterRegistry, OnnxNode, direct};
use kiln_core::{Attribute, Error, Node, Result, Tensor};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    r.add("Upsample", 1, upsample_v1);
    r.add("Upsample", 7, upsample_v7);
    r.add("Upsample", 9, upsample_v9);
    r.add("Scatter", 9, scatter);
}

/// An old form of an op whose conversion Kiln does not implement.
pub fn unsupported_form(_ctx: &mut ImportCtx<'_>, node: OnnxNode) -> Result<Vec<Node>> {
    Err(Error::unsupported(format!(
        "the opset {} form of {} is not supported; re-export the model with a newer opset",
        node.opset, node.op_type
    )))
}

/// Binary ops before opset 7: `broadcast=1` with an optional `axis` aligned the second
/// input with the first starting at `axis`. Without `axis` that is numpy suffix alignment;
/// with it, trailing unit dims are appended to the second input (ranks must be known).
pub fn broadcast_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    let broadcast = node.attrs.int_or("broadcast", 0)?;
    node.take_attr("broadcast");
    let axis = node.attrs.int("axis")?;
    node.take_attr("axis");
    let (Some(axis), 1) = (axis, broadcast) else {
        return direct(ctx, node);
    };
    let (Some(a), Some(b)) = (node.input(0), node.input(1)) else {
        return Err(Error::input("broadcasting needs two inputs"));
    };
    let (Some(ra), Some(rb)) = (ctx.rank_of(a), ctx.rank_of(b)) else {
        return Err(Error::attr(
            "axis",
            "legacy broadcasting with an axis needs known input ranks",
        ));
    };
    let axis = if axis < 0 { axis + ra as i64 } else { axis };
    let end = axis + rb as i64;
    if axis < 0 || end > ra as i64 {
        return Err(Error::attr(
            "axis",
            format!("axis {axis} does not fit ranks {ra} and {rb}"),
        ));
    }
    if end == ra as i64 {
        return direct(ctx, node);
    }
    // Trailing unit dims: B's rank grows from rb to rb + (ra - end).
    let axes: Vec<i64> = (rb as i64..rb as i64 + (ra as i64 - end)).collect();
    let n = axes.len();
    let axes = ctx.add_const(
        &format!("{}_axes", node.name),
        Tensor::from_vec(&[n], axes)?,
    );
    let b2 = ctx.unique_name(&format!("{}_b", node.name));
    let unsq = Node::builtin(
        format!("{}_unsqueeze", node.name),
        "Unsqueeze",
        Default::default(),
        vec![b.to_string(), axes],
        vec![b2.clone()],
    )?;
    node.set_input(1, b2);
    let mut out = vec![unsq];
    out.extend(direct(ctx, node)?);
    Ok(out)
}

/// Upsample-1 (experimental): `height_scale`/`width_scale` on NCHW -> Resize.
pub fn upsample_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let h = node.attrs.float_req("height_scale")?;
    let w = node.attrs.float_req("width_scale")?;
    node.take_attr("height_scale");
    node.take_attr("width_scale");
    if matches!(node.attrs.get("mode"), Some(Attribute::String(m)) if m == "bilinear") {
        node.attrs.set("mode", Attribute::String("linear".into()));
    }
    let scales = ctx.add_const(
        &format!("{}_scales", node.name),
        Tensor::from_vec(&[4], vec![1.0f32, 1.0, h, w])?,
    );
    node.inputs.truncate(1);
    node.set_input(2, scales);
    to_resize(node)
}

/// Upsample-7: `scales` attribute -> Resize's `scales` input.
pub fn upsample_v7(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let scales = node.attrs.floats_req("scales")?;
    node.take_attr("scales");
    let n = scales.len();
    let name = ctx.add_const(
        &format!("{}_scales", node.name),
        Tensor::from_vec(&[n], scales)?,
    );
    node.inputs.truncate(1);
    node.set_input(2, name);
    to_resize(node)
}

/// Upsample-9/10: inputs (X, scales) -> Resize (X, roi = omitted, scales).
pub fn upsample_v9(_ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let scales = node.inputs.get(1).cloned().unwrap_or_default();
    node.inputs.truncate(1);
    node.set_input(2, scales);
    to_resize(node)
}

/// Resize-10: inputs (X, scales) with Upsample's coordinate mapping -> latest Resize.
pub fn resize_v10(_ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let scales = node.inputs.get(1).cloned().unwrap_or_default();
    node.inputs.truncate(1);
    node.set_input(2, scales);
    to_resize(node)
}

/// Resize with Upsample semantics: `asymmetric` coordinates, `floor` for nearest.
fn to_resize(mut node: OnnxNode) -> Result<Vec<Node>> {
    let mode = node.attrs.string_or("mode", "nearest".into())?;
    node.attrs.set(
        "coordinate_transformation_mode",
        Attribute::String("asymmetric".into()),
    );
    if mode == "nearest" {
        node.attrs
            .set("nearest_mode", Attribute::String("floor".into()));
    }
    Ok(vec![node.build("Resize")?])
}

/// Scatter (deprecated in opset 11) is ScatterElements.
pub fn scatter(_ctx: &mut ImportCtx<'_>, node: OnnxNode) -> Result<Vec<Node>> {
    Ok(vec![node.build("ScatterElements")?])
}
