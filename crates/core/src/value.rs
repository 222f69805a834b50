//! Run-time values: tensors, sequences of tensors, optionals.

use crate::{Error, Result, Tensor};

/// A value flowing through a graph at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// A sequence of tensors.
    Sequence(Vec<Tensor>),
    /// An optional value (None = absent).
    Optional(Option<Box<Value>>),
}

impl Value {
    /// The tensor, or an error naming what this value is instead.
    pub fn as_tensor(&self) -> Result<&Tensor> {
        match self {
            Value::Tensor(t) => Ok(t),
            Value::Sequence(_) => Err(Error::input("expected a tensor, got a sequence")),
            Value::Optional(_) => Err(Error::input("expected a tensor, got an optional")),
        }
    }

    /// Take the tensor out, or an error naming what this value is instead.
    pub fn into_tensor(self) -> Result<Tensor> {
        match self {
            Value::Tensor(t) => Ok(t),
            Value::Sequence(_) => Err(Error::input("expected a tensor, got a sequence")),
            Value::Optional(_) => Err(Error::input("expected a tensor, got an optional")),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Tensor(t)
    }
}
