//! Sequences and optionals: construction, access, splitting/concatenation, mapping.

mod at;
mod concat_from;
mod construct;
mod empty;
mod erase;
mod get_element;
mod has_element;
mod insert;
mod length;
mod map;
mod optional;
mod position;
mod split_to;
#[cfg(test)]
mod tests;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("SequenceConstruct", construct::build);
    r.add("SequenceEmpty", empty::build);
    r.add("SequenceAt", at::build);
    r.add("SequenceInsert", insert::build);
    r.add("SequenceErase", erase::build);
    r.add("SequenceLength", length::build);
    r.add("ConcatFromSequence", concat_from::build);
    r.add("SplitToSequence", split_to::build);
    r.add("SequenceMap", map::build);
    r.add("Optional", optional::build);
    r.add("OptionalHasElement", has_element::build);
    r.add("OptionalGetElement", get_element::build);
}
