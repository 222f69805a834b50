//! Kiln optimizer passes.
