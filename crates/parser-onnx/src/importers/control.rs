//! Control flow (If/Loop/Scan with subgraph bodies), sequences and optionals.

use super::legacy::unsupported_form;
use super::{ImporterRegistry, direct};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    r.add("If", 1, direct);
    r.add("Loop", 1, direct);
    r.add("Scan", 8, unsupported_form);
    r.add("Scan", 9, direct);
    r.add("SequenceAt", 11, direct);
    r.add("SequenceConstruct", 11, direct);
    r.add("SequenceEmpty", 11, direct);
    r.add("SequenceErase", 11, direct);
    r.add("SequenceInsert", 11, direct);
    r.add("SequenceLength", 11, direct);
    r.add("SequenceMap", 17, direct);
    r.add("ConcatFromSequence", 11, direct);
    r.add("SplitToSequence", 11, direct);
    r.add("Optional", 15, direct);
    r.add("OptionalGetElement", 15, direct);
    r.add("OptionalHasElement", 15, direct);
}
