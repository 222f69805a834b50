//! The [`Element`] trait: a Rust type that can be a tensor element.

use super::Tensor;
use crate::DataType;
use half::{bf16, f16};
use ndarray::ArrayD;

/// A Rust type that can be the element type of a [`Tensor`].
pub trait Element: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The matching data type.
    const DTYPE: DataType;
    /// Wrap an array into a tensor.
    fn wrap(a: ArrayD<Self>) -> Tensor;
    /// Take the array out of a tensor of this type.
    fn unwrap(t: Tensor) -> Option<ArrayD<Self>>;
    /// Borrow the array of a tensor of this type.
    fn array_ref(t: &Tensor) -> Option<&ArrayD<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DataType = DataType::$variant;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$variant(a)
            }
            fn unwrap(t: Tensor) -> Option<ArrayD<Self>> {
                match t {
                    Tensor::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn array_ref(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$variant(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}

element!(f32, F32);
element!(f64, F64);
element!(f16, F16);
element!(bf16, BF16);
element!(i8, I8);
element!(u8, U8);
element!(i16, I16);
element!(u16, U16);
element!(i32, I32);
element!(u32, U32);
element!(i64, I64);
element!(u64, U64);
element!(bool, Bool);
element!(String, String);
