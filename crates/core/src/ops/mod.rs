//! The builtin op set. One file per op; each family's `register` holds one line per op.

pub mod array;
pub mod control;
pub mod fused;
pub mod math;
pub mod nn;
pub mod reduce;
pub mod util;

use crate::OpRegistry;

/// Register every builtin op family.
pub(crate) fn register_all(r: &mut OpRegistry) {
    math::register(r);
    array::register(r);
    nn::register(r);
    reduce::register(r);
    control::register(r);
    fused::register(r);
}
