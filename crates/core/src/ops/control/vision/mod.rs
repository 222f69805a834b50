//! Detection and vision ops: `NonMaxSuppression`, `RoiAlign`, `GridSample`, `AffineGrid`,
//! and the linear-algebra `Det`.

mod affine_grid;
mod det;
mod grid_sample;
mod nms;
mod roi_align;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("NonMaxSuppression", nms::build);
    r.add("RoiAlign", roi_align::build);
    r.add("GridSample", grid_sample::build);
    r.add("AffineGrid", affine_grid::build);
    r.add("Det", det::build);
}
