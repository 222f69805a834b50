//! Tensor manipulation ops: shapes, slicing, gathering, padding, resizing.

mod identity;

use crate::OpRegistry;

/// Register this family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("Identity", identity::build);
}
