//! Kiln cross-crate tests.
