//! Kiln engine.
