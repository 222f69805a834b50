//! # kiln-core
//!
//! The intermediate representation every other Kiln crate works on:
//! [`DataType`]s, [`Shape`]s with symbolic [`Dim`]s, [`Tensor`]s, a [`Graph`] of [`Node`]s,
//! the builtin op set ([`builtin_ops`]) with typed attributes, shape/type inference
//! ([`infer_facts`]), a reference CPU evaluator ([`run_graph`]), and one [`Error`] type
//! that names the node it happened at.

mod attr;
mod dtype;
mod error;
mod eval;
mod graph;
mod infer;
mod network;
mod op;
pub mod ops;
mod shape;
mod tensor;
mod value;

pub use attr::{Attribute, Attributes, PROVENANCE_ATTRS};
pub use dtype::DataType;
pub use error::{Error, Result};
pub use eval::{Scope, run_graph, run_tensors};
pub use graph::{Graph, Node};
pub use infer::infer_facts;
pub use network::{
    ActivationType, ElementWiseOp, GemmOptions, LayerHandle, NetworkDefinition, PoolingType,
    ReduceOp, Shuffle, TensorRef, UnaryOp,
};
pub use op::{
    BuildCtx, EvalContext, InferInput, Op, OpBuilder, OpRegistry, UnresolvedOp, builtin_ops,
};
pub use shape::{Dim, Shape, TensorFact, ValueInfo, ValueType};
pub use tensor::{Element, Tensor, TensorView};
pub use value::Value;

pub use half;
pub use ndarray;
