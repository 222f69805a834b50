//! Recurrent layers: `RNN`, `GRU`, `LSTM`.

mod common;
mod elman;
mod gru;
mod lstm;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("RNN", elman::build);
    r.add("GRU", gru::build);
    r.add("LSTM", lstm::build);
}
