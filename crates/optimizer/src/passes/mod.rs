//! The passes, one per file.

pub mod attention;
pub mod constant_folding;
pub mod conv_bn;
pub mod dead_nodes;
pub mod gelu;
pub mod gemm;
pub mod horizontal;
pub mod identity;
pub mod layernorm;
pub mod layout;
pub mod reshape;
pub mod transpose;
pub mod vertical;
