//! The `control` op family: control flow with subgraphs, sequences and optionals,
//! recurrent layers, signal processing and detection/vision ops.

mod common;
mod flow;
mod rnn;
mod sequence;
mod signal;
#[cfg(test)]
mod tests;
mod text;
mod vision;

use crate::OpRegistry;

/// Register this family: one call per sub-family, each with one line per op.
pub fn register(r: &mut OpRegistry) {
    flow::register(r);
    sequence::register(r);
    rnn::register(r);
    signal::register(r);
    text::register(r);
    vision::register(r);
}
