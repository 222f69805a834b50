//! Shapes with symbolic dimensions.

use std::fmt;

/// One dimension of a shape: a known size, a named symbol (e.g. `batch`) or unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A concrete size.
    Fixed(usize),
    /// A symbolic size, bound to a concrete value at run time.
    Sym(String),
    /// A size nobody knows until run time.
    Unknown,
}

impl Dim {
    /// The concrete size, if known.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }

    /// True unless the size is concrete.
    pub fn is_dynamic(&self) -> bool {
        !matches!(self, Dim::Fixed(_))
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Fixed(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A shape: a list of dimensions, some of which may be symbolic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// A shape with every dimension known.
    pub fn fixed(dims: &[usize]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Fixed(d)).collect())
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The concrete dimensions if all are known.
    pub fn as_fixed(&self) -> Option<Vec<usize>> {
        self.0.iter().map(Dim::fixed).collect()
    }

    /// True when every dimension is known.
    pub fn is_fixed(&self) -> bool {
        self.0.iter().all(|d| !d.is_dynamic())
    }

    /// Whether `dims` is an instance of this shape (symbols and unknowns match anything).
    pub fn matches(&self, dims: &[usize]) -> bool {
        self.0.len() == dims.len()
            && self.0.iter().zip(dims).all(|(d, &n)| match d {
                Dim::Fixed(m) => *m == n,
                _ => true,
            })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// What is known of a tensor value before running: its type and shape, each possibly unknown.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TensorFact {
    /// Element type, if known.
    pub dtype: Option<crate::DataType>,
    /// Shape, if the rank is known.
    pub shape: Option<Shape>,
}

impl TensorFact {
    /// A fact with a known type and shape.
    pub fn new(dtype: crate::DataType, shape: Shape) -> Self {
        TensorFact {
            dtype: Some(dtype),
            shape: Some(shape),
        }
    }

    /// A fact with a known type and unknown shape.
    pub fn dtype_only(dtype: crate::DataType) -> Self {
        TensorFact {
            dtype: Some(dtype),
            shape: None,
        }
    }
}

/// The type of a graph value: a tensor, a sequence of tensors, or an optional value.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// A tensor.
    Tensor(TensorFact),
    /// A sequence whose elements have the inner type.
    Sequence(Box<ValueType>),
    /// An optional value of the inner type.
    Optional(Box<ValueType>),
}

impl ValueType {
    /// The tensor fact, when this is a tensor type.
    pub fn tensor(&self) -> Option<&TensorFact> {
        match self {
            ValueType::Tensor(t) => Some(t),
            _ => None,
        }
    }
}

impl Default for ValueType {
    fn default() -> Self {
        ValueType::Tensor(TensorFact::default())
    }
}

/// A named value of a graph with its type.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ValueInfo {
    /// The value's name, unique in its graph.
    pub name: String,
    /// Its type.
    pub ty: ValueType,
}

impl ValueInfo {
    /// A tensor value with the given type and shape.
    pub fn tensor(name: impl Into<String>, dtype: crate::DataType, shape: Shape) -> Self {
        ValueInfo {
            name: name.into(),
            ty: ValueType::Tensor(TensorFact::new(dtype, shape)),
        }
    }
}
