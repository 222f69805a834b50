//! Tensors: owned n-dimensional arrays of one of the [`DataType`]s, and borrowed views.

mod cast;
mod dispatch;
mod element;

pub use element::Element;

use crate::{DataType, Error, Result};
use half::{bf16, f16};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// An owned tensor: an n-dimensional array of one element type.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    /// f32 elements.
    F32(ArrayD<f32>),
    /// f64 elements.
    F64(ArrayD<f64>),
    /// f16 elements.
    F16(ArrayD<f16>),
    /// bf16 elements.
    BF16(ArrayD<bf16>),
    /// i8 elements.
    I8(ArrayD<i8>),
    /// u8 elements.
    U8(ArrayD<u8>),
    /// i16 elements.
    I16(ArrayD<i16>),
    /// u16 elements.
    U16(ArrayD<u16>),
    /// i32 elements.
    I32(ArrayD<i32>),
    /// u32 elements.
    U32(ArrayD<u32>),
    /// i64 elements.
    I64(ArrayD<i64>),
    /// u64 elements.
    U64(ArrayD<u64>),
    /// bool elements.
    Bool(ArrayD<bool>),
    /// String elements.
    String(ArrayD<String>),
}

/// A borrowed tensor view.
#[derive(Clone, Debug)]
pub enum TensorView<'a> {
    /// f32 elements.
    F32(ArrayViewD<'a, f32>),
    /// f64 elements.
    F64(ArrayViewD<'a, f64>),
    /// f16 elements.
    F16(ArrayViewD<'a, f16>),
    /// bf16 elements.
    BF16(ArrayViewD<'a, bf16>),
    /// i8 elements.
    I8(ArrayViewD<'a, i8>),
    /// u8 elements.
    U8(ArrayViewD<'a, u8>),
    /// i16 elements.
    I16(ArrayViewD<'a, i16>),
    /// u16 elements.
    U16(ArrayViewD<'a, u16>),
    /// i32 elements.
    I32(ArrayViewD<'a, i32>),
    /// u32 elements.
    U32(ArrayViewD<'a, u32>),
    /// i64 elements.
    I64(ArrayViewD<'a, i64>),
    /// u64 elements.
    U64(ArrayViewD<'a, u64>),
    /// bool elements.
    Bool(ArrayViewD<'a, bool>),
    /// String elements.
    String(ArrayViewD<'a, String>),
}

impl Tensor {
    /// A tensor from a shape and its elements in row-major order.
    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::shape(format!(
                "shape {shape:?} holds {n} elements but {} were given",
                data.len()
            )));
        }
        let a =
            ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::shape(e.to_string()))?;
        Ok(T::wrap(a))
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        T::wrap(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A tensor of the given type and shape filled with zeros (false, empty strings).
    pub fn zeros(dtype: DataType, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DataType::F32 => Tensor::F32(ArrayD::zeros(s)),
            DataType::F64 => Tensor::F64(ArrayD::zeros(s)),
            DataType::F16 => Tensor::F16(ArrayD::from_elem(s, f16::ZERO)),
            DataType::BF16 => Tensor::BF16(ArrayD::from_elem(s, bf16::ZERO)),
            DataType::I8 => Tensor::I8(ArrayD::zeros(s)),
            DataType::U8 => Tensor::U8(ArrayD::zeros(s)),
            DataType::I16 => Tensor::I16(ArrayD::zeros(s)),
            DataType::U16 => Tensor::U16(ArrayD::zeros(s)),
            DataType::I32 => Tensor::I32(ArrayD::zeros(s)),
            DataType::U32 => Tensor::U32(ArrayD::zeros(s)),
            DataType::I64 => Tensor::I64(ArrayD::zeros(s)),
            DataType::U64 => Tensor::U64(ArrayD::zeros(s)),
            DataType::Bool => Tensor::Bool(ArrayD::from_elem(s, false)),
            DataType::String => Tensor::String(ArrayD::from_elem(s, String::new())),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DataType {
        crate::dispatch_all!(self, _a => T::DTYPE)
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        crate::dispatch_all!(self, a => a.shape())
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True when the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A borrowed view of this tensor.
    pub fn view(&self) -> TensorView<'_> {
        match self {
            Tensor::F32(a) => TensorView::F32(a.view()),
            Tensor::F64(a) => TensorView::F64(a.view()),
            Tensor::F16(a) => TensorView::F16(a.view()),
            Tensor::BF16(a) => TensorView::BF16(a.view()),
            Tensor::I8(a) => TensorView::I8(a.view()),
            Tensor::U8(a) => TensorView::U8(a.view()),
            Tensor::I16(a) => TensorView::I16(a.view()),
            Tensor::U16(a) => TensorView::U16(a.view()),
            Tensor::I32(a) => TensorView::I32(a.view()),
            Tensor::U32(a) => TensorView::U32(a.view()),
            Tensor::I64(a) => TensorView::I64(a.view()),
            Tensor::U64(a) => TensorView::U64(a.view()),
            Tensor::Bool(a) => TensorView::Bool(a.view()),
            Tensor::String(a) => TensorView::String(a.view()),
        }
    }

    /// The array, if the element type is `T`.
    pub fn as_array<T: Element>(&self) -> Option<&ArrayD<T>> {
        T::array_ref(self)
    }

    /// The array, if the element type is `T`; an error naming both types otherwise.
    pub fn array<T: Element>(&self) -> Result<&ArrayD<T>> {
        T::array_ref(self).ok_or_else(|| {
            Error::dtype(format!(
                "expected a {} tensor, got {}",
                T::DTYPE,
                self.dtype()
            ))
        })
    }

    /// Take the array out, if the element type is `T`.
    pub fn into_array<T: Element>(self) -> Result<ArrayD<T>> {
        let dt = self.dtype();
        T::unwrap(self)
            .ok_or_else(|| Error::dtype(format!("expected a {} tensor, got {dt}", T::DTYPE)))
    }

    /// The same elements with a new shape of equal element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(Error::shape(format!(
                "cannot reshape {:?} ({} elements) to {:?} ({n} elements)",
                self.shape(),
                self.len(),
                shape
            )));
        }
        Ok(crate::dispatch_all!(self, a => {
            let v: Vec<T> = a.iter().cloned().collect();
            T::wrap(ArrayD::from_shape_vec(IxDyn(shape), v).expect("element count checked"))
        }))
    }

    /// The elements as i64 (integer and bool tensors only), in row-major order.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        Ok(match self {
            Tensor::I8(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U8(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I16(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U16(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I32(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U32(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I64(a) => a.iter().copied().collect(),
            Tensor::U64(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::Bool(a) => a.iter().map(|&x| x as i64).collect(),
            other => {
                return Err(Error::dtype(format!(
                    "expected an integer tensor, got {}",
                    other.dtype()
                )));
            }
        })
    }

    /// The elements as f64 (numeric and bool tensors), in row-major order.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(match self {
            Tensor::F32(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::F16(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::BF16(a) => a.iter().map(|x| x.to_f64()).collect(),
            Tensor::String(_) => {
                return Err(Error::dtype("expected a numeric tensor, got string"));
            }
            other => other.to_i64_vec()?.into_iter().map(|x| x as f64).collect(),
        })
    }

    /// Raw little-endian bytes of a fixed-size element type (not strings).
    pub fn to_le_bytes(&self) -> Result<Vec<u8>> {
        fn bytes<T: Copy, const N: usize>(a: &ArrayD<T>, f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            let mut out = Vec::with_capacity(a.len() * N);
            for &x in a.iter() {
                out.extend_from_slice(&f(x));
            }
            out
        }
        Ok(match self {
            Tensor::F32(a) => bytes(a, f32::to_le_bytes),
            Tensor::F64(a) => bytes(a, f64::to_le_bytes),
            Tensor::F16(a) => bytes(a, f16::to_le_bytes),
            Tensor::BF16(a) => bytes(a, bf16::to_le_bytes),
            Tensor::I8(a) => bytes(a, i8::to_le_bytes),
            Tensor::U8(a) => bytes(a, u8::to_le_bytes),
            Tensor::I16(a) => bytes(a, i16::to_le_bytes),
            Tensor::U16(a) => bytes(a, u16::to_le_bytes),
            Tensor::I32(a) => bytes(a, i32::to_le_bytes),
            Tensor::U32(a) => bytes(a, u32::to_le_bytes),
            Tensor::I64(a) => bytes(a, i64::to_le_bytes),
            Tensor::U64(a) => bytes(a, u64::to_le_bytes),
            Tensor::Bool(a) => bytes(a, |b: bool| [b as u8]),
            Tensor::String(_) => {
                return Err(Error::dtype("string tensors have no fixed-size bytes"));
            }
        })
    }

    /// A tensor from raw little-endian bytes of a fixed-size element type.
    pub fn from_le_bytes(dtype: DataType, shape: &[usize], raw: &[u8]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let size = dtype
            .size_of()
            .ok_or_else(|| Error::dtype("string tensors cannot be read from raw bytes"))?;
        if raw.len() != n * size {
            return Err(Error::shape(format!(
                "{dtype} tensor of shape {shape:?} needs {} bytes, got {}",
                n * size,
                raw.len()
            )));
        }
        macro_rules! read {
            ($t:ty, $n:literal) => {
                Tensor::from_vec::<$t>(
                    shape,
                    raw.chunks_exact($n)
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")))
                        .collect(),
                )
            };
        }
        match dtype {
            DataType::F32 => read!(f32, 4),
            DataType::F64 => read!(f64, 8),
            DataType::F16 => read!(f16, 2),
            DataType::BF16 => read!(bf16, 2),
            DataType::I8 => read!(i8, 1),
            DataType::U8 => read!(u8, 1),
            DataType::I16 => read!(i16, 2),
            DataType::U16 => read!(u16, 2),
            DataType::I32 => read!(i32, 4),
            DataType::U32 => read!(u32, 4),
            DataType::I64 => read!(i64, 8),
            DataType::U64 => read!(u64, 8),
            DataType::Bool => {
                Tensor::from_vec::<bool>(shape, raw.iter().map(|&b| b != 0).collect())
            }
            DataType::String => unreachable!("size_of is None for strings"),
        }
    }
}

impl<T: Element> From<ArrayD<T>> for Tensor {
    fn from(a: ArrayD<T>) -> Tensor {
        T::wrap(a)
    }
}
