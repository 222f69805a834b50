//! Tensor manipulation ops: shapes, slicing, gathering, padding, resizing.

mod arg_max;
mod arg_min;
mod center_crop_pad;
mod col2im;
mod common;
mod compress;
mod concat;
mod constant_of_shape;
mod cum_prod;
mod cum_sum;
mod depth_to_space;
mod expand;
mod eye_like;
mod flatten;
mod gather;
mod gather_elements;
mod gather_nd;
mod identity;
#[cfg(test)]
mod infer_tests;
mod non_zero;
mod one_hot;
mod pad;
mod range;
mod reshape;
mod resize;
mod resize_plan;
mod reverse_sequence;
#[cfg(test)]
mod robustness;
mod scatter_elements;
mod scatter_nd;
mod shape;
mod size;
mod slice;
mod space_to_depth;
mod split;
mod squeeze;
mod tensor_scatter;
mod tile;
mod top_k;
pub(crate) mod transpose;
mod trilu;
mod unique;
mod unsqueeze;

use crate::OpRegistry;

/// Register this family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("Identity", identity::build);
    r.add("Shape", shape::build);
    r.add("Size", size::build);
    r.add("Reshape", reshape::build);
    r.add("Flatten", flatten::build);
    r.add("Squeeze", squeeze::build);
    r.add("Unsqueeze", unsqueeze::build);
    r.add("Transpose", transpose::build);
    r.add("Concat", concat::build);
    r.add("Split", split::build);
    r.add("Slice", slice::build);
    r.add("Gather", gather::build);
    r.add("GatherElements", gather_elements::build);
    r.add("GatherND", gather_nd::build);
    r.add("ScatterElements", scatter_elements::build);
    r.add("ScatterND", scatter_nd::build);
    r.add("Expand", expand::build);
    r.add("Tile", tile::build);
    r.add("Pad", pad::build);
    r.add("ConstantOfShape", constant_of_shape::build);
    r.add("Range", range::build);
    r.add("EyeLike", eye_like::build);
    r.add("OneHot", one_hot::build);
    r.add("Trilu", trilu::build);
    r.add("DepthToSpace", depth_to_space::build);
    r.add("SpaceToDepth", space_to_depth::build);
    r.add("Compress", compress::build);
    r.add("NonZero", non_zero::build);
    r.add("TopK", top_k::build);
    r.add("Unique", unique::build);
    r.add("ReverseSequence", reverse_sequence::build);
    r.add("CumSum", cum_sum::build);
    r.add("CumProd", cum_prod::build);
    r.add("ArgMax", arg_max::build);
    r.add("ArgMin", arg_min::build);
    r.add("CenterCropPad", center_crop_pad::build);
    r.add("Col2Im", col2im::build);
    r.add("TensorScatter", tensor_scatter::build);
    r.add("Resize", resize::build);
}
