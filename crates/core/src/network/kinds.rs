//! The layer kinds and options of the Network Definition API.

/// Kinds of pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolingType {
    /// Maximum over the window.
    Max,
    /// Mean over the window (padding excluded from the count).
    Average,
}

/// Activation functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationType {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `x` if positive, else `alpha * x`.
    LeakyRelu(f32),
    /// `x` if positive, else `alpha * (exp(x) - 1)`.
    Elu(f32),
    /// Scaled ELU with the standard constants.
    Selu,
    /// `ln(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// Clamp to `[lo, hi]`.
    Clip(f32, f32),
    /// Exact (erf) GELU.
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
    /// `x * hardsigmoid(x)`.
    HardSwish,
}

/// Binary element-wise operations (numpy broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementWiseOp {
    /// `a + b`.
    Sum,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Prod,
    /// `a / b`.
    Div,
    /// `max(a, b)`.
    Max,
    /// `min(a, b)`.
    Min,
    /// `a ^ b`.
    Pow,
}

/// Unary element-wise operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `exp(x)`.
    Exp,
    /// `ln(x)`.
    Log,
    /// `sqrt(x)`.
    Sqrt,
    /// `1 / x`.
    Reciprocal,
    /// `|x|`.
    Abs,
    /// `-x`.
    Neg,
    /// `floor(x)`.
    Floor,
    /// `ceil(x)`.
    Ceil,
    /// `erf(x)`.
    Erf,
    /// `sin(x)`.
    Sin,
    /// `cos(x)`.
    Cos,
}

/// Reductions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Product.
    Prod,
}

/// Options of a general matrix multiply `alpha * op(A) @ op(B) + beta * C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmOptions {
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of C.
    pub beta: f32,
    /// Transpose A first.
    pub trans_a: bool,
    /// Transpose B first.
    pub trans_b: bool,
}

impl Default for GemmOptions {
    fn default() -> Self {
        GemmOptions {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        }
    }
}

/// A shuffle: an optional transpose, an optional reshape, and an optional second transpose
/// (TensorRT's IShuffleLayer). Reshape dims follow ONNX: `0` copies the input dim, `-1` is
/// inferred.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shuffle {
    /// Permutation applied first.
    pub first_transpose: Option<Vec<usize>>,
    /// New shape applied next.
    pub reshape: Option<Vec<i64>>,
    /// Permutation applied last.
    pub second_transpose: Option<Vec<usize>>,
}
