//! Control flow with subgraph bodies: `If`, `Loop`, `Scan`.

mod if_op;
mod loop_op;
mod scan;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("If", if_op::build);
    r.add("Loop", loop_op::build);
    r.add("Scan", scan::build);
}
