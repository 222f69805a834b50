//! Text feature ops: `TfIdfVectorizer`.

mod tfidf;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("TfIdfVectorizer", tfidf::build);
}
