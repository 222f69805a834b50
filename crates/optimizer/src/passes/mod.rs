//! The passes, one per file.

pub mod constant_folding;
pub mod dead_nodes;
pub mod identity;
