//! Shape and data-movement ops: reshaping, slicing, splitting, padding, gathering,
//! scattering, resizing. Older forms with attributes become inputs.

use super::legacy::{resize_v10, unsupported_form};
use super::{ImportCtx, ImporterRegistry, OnnxNode, direct, ints_attr_to_input, scalar_of};
use kiln_core::{Attribute, DataType, Error, Node, Result, Tensor};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    r.add("Squeeze", 1, squeeze_v1);
    r.add("Squeeze", 13, direct);
    r.add("Unsqueeze", 1, squeeze_v1);
    r.add("Unsqueeze", 13, direct);
    r.add("Reshape", 1, reshape_v1);
    r.add("Reshape", 5, direct);
    r.add("Split", 1, split_v1);
    r.add("Split", 13, direct);
    r.add("Slice", 1, slice_v1);
    r.add("Slice", 10, direct);
    r.add("Pad", 1, pad_v1);
    r.add("Pad", 11, direct);
    r.add("Concat", 1, concat_v1);
    r.add("Concat", 4, direct);
    r.add("Tile", 1, unsupported_form);
    r.add("Tile", 6, direct);
    r.add("TopK", 1, topk_v1);
    r.add("TopK", 10, direct);
    r.add("Resize", 10, resize_v10);
    r.add("Resize", 11, direct);
    r.add("Transpose", 1, direct);
    r.add("Flatten", 1, direct);
    r.add("Expand", 8, direct);
    r.add("Gather", 1, direct);
    r.add("GatherElements", 11, direct);
    r.add("GatherND", 11, direct);
    r.add("ScatterElements", 11, direct);
    r.add("ScatterND", 11, direct);
    r.add("TensorScatter", 24, direct);
    r.add("Shape", 1, direct);
    r.add("Size", 1, direct);
    r.add("ConstantOfShape", 9, direct);
    r.add("Range", 11, direct);
    r.add("OneHot", 9, direct);
    r.add("NonZero", 9, direct);
    r.add("Compress", 9, direct);
    r.add("Identity", 1, direct);
    r.add("DepthToSpace", 1, direct);
    r.add("SpaceToDepth", 1, direct);
    r.add("Trilu", 14, direct);
    r.add("Unique", 11, direct);
    r.add("EyeLike", 9, direct);
    r.add("ReverseSequence", 10, direct);
    r.add("CenterCropPad", 18, direct);
    r.add("Col2Im", 18, direct);
}

/// Squeeze/Unsqueeze before 13: `axes` attribute -> constant input.
pub fn squeeze_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.inputs.truncate(1);
    ints_attr_to_input(ctx, &mut node, "axes", 1)?;
    direct(ctx, node)
}

/// Reshape-1: `shape` attribute -> constant input.
pub fn reshape_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    if node.attrs.has("shape") {
        node.inputs.truncate(1);
        ints_attr_to_input(ctx, &mut node, "shape", 1)?;
    }
    direct(ctx, node)
}

/// Split before 13: `split` attribute -> constant input (opset 1 also allowed the input).
pub fn split_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    if node.attrs.has("split") {
        node.inputs.truncate(1);
        ints_attr_to_input(ctx, &mut node, "split", 1)?;
    }
    direct(ctx, node)
}

/// Slice-1: `starts`, `ends`, `axes` attributes -> constant inputs.
pub fn slice_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.inputs.truncate(1);
    if !node.attrs.has("starts") || !node.attrs.has("ends") {
        return Err(Error::attr("starts", "Slice-1 needs `starts` and `ends`"));
    }
    ints_attr_to_input(ctx, &mut node, "starts", 1)?;
    ints_attr_to_input(ctx, &mut node, "ends", 2)?;
    ints_attr_to_input(ctx, &mut node, "axes", 3)?;
    direct(ctx, node)
}

/// Pad-1/2: `paddings`/`pads` and `value` attributes -> constant inputs.
pub fn pad_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.inputs.truncate(1);
    if let Some(p) = node.take_attr("paddings") {
        node.attrs.set("pads", p);
    }
    if !node.attrs.has("pads") {
        return Err(Error::attr("pads", "required attribute is missing"));
    }
    ints_attr_to_input(ctx, &mut node, "pads", 1)?;
    match node.take_attr("value") {
        None => {}
        Some(Attribute::Float(v)) => {
            let dtype = node
                .input(0)
                .and_then(|x| ctx.dtype_of(x))
                .unwrap_or(DataType::F32);
            let name = ctx.add_const(&format!("{}_value", node.name), scalar_of(dtype, v as f64)?);
            node.set_input(2, name);
        }
        Some(other) => {
            return Err(Error::attr(
                "value",
                format!("expected float, got {}", other.kind()),
            ));
        }
    }
    direct(ctx, node)
}

/// Concat-1: `axis` was optional with default 1.
pub fn concat_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    if !node.attrs.has("axis") {
        node.attrs.set("axis", Attribute::Int(1));
    }
    direct(ctx, node)
}

/// TopK-1: `k` attribute -> constant i64 input of shape [1].
pub fn topk_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    let k = node.attrs.int_req("k")?;
    node.take_attr("k");
    node.inputs.truncate(1);
    let name = ctx.add_const(
        &format!("{}_k", node.name),
        Tensor::from_vec(&[1], vec![k])?,
    );
    node.set_input(1, name);
    direct(ctx, node)
}
