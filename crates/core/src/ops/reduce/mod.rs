//! Reductions, the softmax family, losses and attention.

use crate::OpRegistry;

/// Register this family: one line per op.
pub fn register(_r: &mut OpRegistry) {}
