//! Helpers shared by the array ops: attribute checks, index arithmetic, element gathering,
//! integer inputs and a small arithmetic trait for the numeric element types.

use crate::ops::util::opt_input;
use crate::{BuildCtx, DataType, Dim, Error, InferInput, Result, Shape, Tensor, TensorFact};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

/// Reject attributes not in `known` with an "unsupported attribute" error.
pub(crate) fn check_attrs(ctx: &BuildCtx<'_>, known: &[&str]) -> Result<()> {
    match ctx.attrs.unknown(known).first() {
        Some(name) => Err(Error::attr(name, "unsupported attribute")),
        None => Ok(()),
    }
}

/// An integer attribute that must be 0 or 1, as a bool.
pub(crate) fn bool_attr(ctx: &BuildCtx<'_>, name: &str, default: bool) -> Result<bool> {
    match ctx.attrs.int_or(name, default as i64)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::attr(name, format!("must be 0 or 1, got {v}"))),
    }
}

/// Row-major strides of a shape (in elements).
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Call `f` with every multi-index of `shape`, in row-major order.
pub(crate) fn for_each_index(
    shape: &[usize],
    mut f: impl FnMut(&[usize]) -> Result<()>,
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx)?;
        let mut d = shape.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The most elements an op will allocate for one output.
pub(crate) const MAX_ELEMENTS: usize = 1 << 36;

/// Product of dimensions with an overflow and size check.
pub(crate) fn checked_numel(shape: &[usize]) -> Result<usize> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(Error::shape(format!("shape {shape:?} is too large"))),
    }
}

/// The elements of an array in row-major order.
pub(crate) fn elems<T: Clone>(a: &ArrayD<T>) -> Vec<T> {
    match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().cloned().collect(),
    }
}

/// Build an array, checking the element count.
pub(crate) fn array<T>(shape: &[usize], data: Vec<T>) -> Result<ArrayD<T>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::shape(e.to_string()))
}

/// A tensor of shape `shape` whose element `i` is element `idx[i]` of `t` (row-major).
pub(crate) fn take(t: &Tensor, idx: &[usize], shape: &[usize]) -> Result<Tensor> {
    Ok(crate::dispatch_all!(t, a => {
        let src = elems(a);
        let data = idx
            .iter()
            .map(|&i| src.get(i).cloned().ok_or_else(|| Error::input("index out of range")))
            .collect::<Result<Vec<T>>>()?;
        Tensor::from(array(shape, data)?)
    }))
}

#[allow(clippy::clone_on_copy)]
/// Like [`take`], with `None` entries filled with the single element of `fill`
/// (which must have the dtype of `t`).
pub(crate) fn take_or(
    t: &Tensor,
    idx: &[Option<usize>],
    shape: &[usize],
    fill: &Tensor,
) -> Result<Tensor> {
    Ok(crate::dispatch_all!(t, a => {
        let src = elems(a);
        let f = fill
            .array::<T>()?
            .iter()
            .next()
            .cloned()
            .ok_or_else(|| Error::input("the fill value is empty"))?;
        let data = idx
            .iter()
            .map(|i| match i {
                None => Ok(f.clone()),
                Some(i) => src.get(*i).cloned().ok_or_else(|| Error::input("index out of range")),
            })
            .collect::<Result<Vec<T>>>()?;
        Tensor::from(array(shape, data)?)
    }))
}

/// A scalar zero (false, empty string) of a data type.
pub(crate) fn zero_of(dtype: DataType) -> Tensor {
    Tensor::zeros(dtype, &[])
}

/// The optional integer input `i` as i64 values.
pub(crate) fn opt_ints(inputs: &[Option<&Tensor>], i: usize) -> Result<Option<Vec<i64>>> {
    opt_input(inputs, i).map(Tensor::to_i64_vec).transpose()
}

/// The required integer input `i` as i64 values.
pub(crate) fn req_ints(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<Vec<i64>> {
    opt_ints(inputs, i)?.ok_or_else(|| Error::input(format!("input '{what}' is missing")))
}

/// A single integer from a one-element tensor.
pub(crate) fn scalar_int(t: &Tensor, what: &str) -> Result<i64> {
    let v = t.to_i64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(Error::input(format!(
            "'{what}' must hold exactly one value, got shape {:?}",
            t.shape()
        ))),
    }
}

/// Normalize an axis, reporting a shape error (for axes that come from inputs).
pub(crate) fn axis_in(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::shape(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(a as usize)
}

/// Normalize a list of axes, rejecting duplicates.
pub(crate) fn axes_in(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = axis_in(a, rank)?;
        if out.contains(&n) {
            return Err(Error::shape(format!("axis {a} is repeated in {axes:?}")));
        }
        out.push(n);
    }
    Ok(out)
}

/// Non-negative dimension sizes from i64 values.
pub(crate) fn dims(v: &[i64], what: &str) -> Result<Vec<usize>> {
    v.iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| Error::input(format!("{what} has a negative size {d} in {v:?}")))
        })
        .collect()
}

/// Normalize an index into `[0, n)`, accepting negatives from `-n`.
pub(crate) fn index_in(i: i64, n: usize) -> Result<usize> {
    let nn = n as i64;
    let j = if i < 0 { i + nn } else { i };
    if j < 0 || j >= nn {
        return Err(Error::input(format!(
            "index {i} is out of range for a dimension of size {n}"
        )));
    }
    Ok(j as usize)
}

/// The fact of input `i` (unknown when absent).
pub(crate) fn fact<'a>(inputs: &'a [InferInput<'a>], i: usize) -> Option<&'a TensorFact> {
    inputs.get(i).map(|x| x.fact)
}

/// The constant value of integer input `i`, when known.
pub(crate) fn const_ints(inputs: &[InferInput<'_>], i: usize) -> Option<Vec<i64>> {
    inputs.get(i)?.value?.to_i64_vec().ok()
}

/// True when input `i` is absent (omitted optional).
pub(crate) fn absent(inputs: &[InferInput<'_>], i: usize) -> bool {
    inputs.get(i).is_none()
}

/// Shape of a fact as a list of dims, if known.
pub(crate) fn fact_dims(f: Option<&TensorFact>) -> Option<Vec<Dim>> {
    f.and_then(|f| f.shape.as_ref()).map(|s| s.0.clone())
}

/// A fact with the given dtype and dims.
pub(crate) fn fact_of(dtype: Option<DataType>, dims: Option<Vec<Dim>>) -> TensorFact {
    TensorFact {
        dtype,
        shape: dims.map(Shape),
    }
}

/// Product of dims: fixed when all fixed, the dim itself when one dim, unknown otherwise.
pub(crate) fn dim_product(ds: &[Dim]) -> Dim {
    let non_one: Vec<&Dim> = ds.iter().filter(|d| **d != Dim::Fixed(1)).collect();
    if let [d] = non_one.as_slice() {
        return (*d).clone();
    }
    let mut p = 1usize;
    for d in ds {
        match d.fixed() {
            Some(n) => p = p.saturating_mul(n),
            None => return Dim::Unknown,
        }
    }
    Dim::Fixed(p)
}

/// The ONNX `TensorProto.DataType` code to a Kiln data type.
pub(crate) fn dtype_from_onnx(code: i64) -> Option<DataType> {
    Some(match code {
        1 => DataType::F32,
        2 => DataType::U8,
        3 => DataType::I8,
        4 => DataType::U16,
        5 => DataType::I16,
        6 => DataType::I32,
        7 => DataType::I64,
        8 => DataType::String,
        9 => DataType::Bool,
        10 => DataType::F16,
        11 => DataType::F64,
        12 => DataType::U32,
        13 => DataType::U64,
        16 => DataType::BF16,
        _ => return None,
    })
}

/// Arithmetic on the numeric element types: wrapping for integers, IEEE for floats.
pub(crate) trait Num: Copy + PartialOrd + crate::Element {
    /// Additive identity.
    fn zero() -> Self;
    /// Multiplicative identity.
    fn one() -> Self;
    /// Sum.
    fn add(self, o: Self) -> Self;
    /// Product.
    fn mul(self, o: Self) -> Self;
    /// Conversion to f64.
    fn to_f64(self) -> f64;
    /// Conversion from f64 (saturating for integers).
    fn from_f64(v: f64) -> Self;
    /// True for NaN.
    fn is_nan(self) -> bool {
        false
    }
    /// Larger of two (NaN propagates for floats).
    fn max_of(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            if self.is_nan() { self } else { o }
        } else if o > self {
            o
        } else {
            self
        }
    }
    /// Smaller of two (NaN propagates for floats).
    fn min_of(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            if self.is_nan() { self } else { o }
        } else if o < self {
            o
        } else {
            self
        }
    }
}

macro_rules! num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn zero() -> Self { 0 }
            fn one() -> Self { 1 }
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
        }
    )*};
}
num_int!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! num_float {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
            fn add(self, o: Self) -> Self { self + o }
            fn mul(self, o: Self) -> Self { self * o }
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn is_nan(self) -> bool { self.is_nan() }
        }
    )*};
}
num_float!(f32, f64);

macro_rules! num_half {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn zero() -> Self { <$t>::ZERO }
            fn one() -> Self { <$t>::ONE }
            fn add(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            fn mul(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() * o.to_f32()) }
            fn to_f64(self) -> f64 { self.to_f64() }
            fn from_f64(v: f64) -> Self { <$t>::from_f64(v) }
            fn is_nan(self) -> bool { self.is_nan() }
        }
    )*};
}
num_half!(f16, bf16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odometer_visits_row_major() {
        let mut seen = Vec::new();
        for_each_index(&[2, 3], |i| {
            seen.push(i.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[4], vec![1, 1]);
        let mut n = 0;
        for_each_index(&[], |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }

    #[test]
    fn index_and_axis_checks() {
        assert_eq!(index_in(-1, 3).unwrap(), 2);
        assert!(index_in(3, 3).is_err());
        assert!(index_in(-4, 3).is_err());
        assert!(axes_in(&[0, -2], 2).is_err());
        assert_eq!(Num::add(250u8, 10), 4);
    }
}

/// Test helper: build a builtin op with attributes and evaluate it.
#[cfg(test)]
pub(crate) fn run_op(
    op_type: &str,
    attrs: crate::Attributes,
    inputs: &[Option<Tensor>],
    num_outputs: usize,
) -> Result<Vec<Tensor>> {
    let ctx = BuildCtx {
        attrs: &attrs,
        num_inputs: inputs.len(),
        num_outputs,
    };
    let op = crate::builtin_ops().build(op_type, &ctx)?;
    let args: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
    op.eval(&args)
}

/// Test helper: an i64 tensor.
#[cfg(test)]
pub(crate) fn ti(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

/// Test helper: an f32 tensor.
#[cfg(test)]
pub(crate) fn tf(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

/// How scattered updates combine with existing values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reduction {
    /// Overwrite.
    None,
    /// Add.
    Add,
    /// Multiply.
    Mul,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

/// The `reduction` attribute of the scatter ops.
pub(crate) fn reduction_attr(ctx: &BuildCtx<'_>) -> Result<Reduction> {
    Ok(
        match ctx.attrs.string_or("reduction", "none".into())?.as_str() {
            "none" => Reduction::None,
            "add" => Reduction::Add,
            "mul" => Reduction::Mul,
            "max" => Reduction::Max,
            "min" => Reduction::Min,
            other => {
                return Err(Error::attr(
                    "reduction",
                    format!("unknown reduction '{other}'"),
                ));
            }
        },
    )
}

fn scatter_num<T: Num>(dst: &mut [T], src: &[T], offs: &[usize], red: Reduction) -> Result<()> {
    for (&o, &u) in offs.iter().zip(src) {
        let d = dst
            .get_mut(o)
            .ok_or_else(|| Error::input("scatter index out of range"))?;
        *d = match red {
            Reduction::None => u,
            Reduction::Add => d.add(u),
            Reduction::Mul => d.mul(u),
            Reduction::Max => d.max_of(u),
            Reduction::Min => d.min_of(u),
        };
    }
    Ok(())
}

#[allow(clippy::clone_on_copy)]
/// Copy `data` and combine element `i` of `updates` into flat position `offs[i]`.
pub(crate) fn scatter(
    data: &Tensor,
    updates: &Tensor,
    offs: &[usize],
    red: Reduction,
) -> Result<Tensor> {
    if updates.dtype() != data.dtype() {
        return Err(Error::dtype(format!(
            "updates are {} but data is {}",
            updates.dtype(),
            data.dtype()
        )));
    }
    if offs.len() != updates.len() {
        return Err(Error::shape("updates do not match the indices"));
    }
    if red == Reduction::None {
        return Ok(crate::dispatch_all!(data, a => {
            let mut dst = elems(a);
            for (&o, u) in offs.iter().zip(updates.array::<T>()?.iter()) {
                *dst.get_mut(o).ok_or_else(|| Error::input("scatter index out of range"))? = u.clone();
            }
            Tensor::from(array(a.shape(), dst)?)
        }));
    }
    Ok(crate::dispatch_numeric!(data, a => {
        let mut dst = elems(a);
        scatter_num::<T>(&mut dst, &elems(updates.array::<T>()?), offs, red)?;
        Tensor::from(array(a.shape(), dst)?)
    }))
}

/// A tensor of `dtype` from f64 values (numeric types and bool).
pub(crate) fn from_f64s(dtype: DataType, shape: &[usize], v: &[f64]) -> Result<Tensor> {
    if dtype == DataType::Bool {
        return Ok(Tensor::from(array(
            shape,
            v.iter().map(|&x| x != 0.0).collect(),
        )?));
    }
    let proto = Tensor::zeros(dtype, &[]);
    Ok(crate::dispatch_numeric!(&proto, _a => {
        Tensor::from(array(shape, v.iter().map(|&x| <T as Num>::from_f64(x)).collect::<Vec<T>>())?)
    }))
}

/// Test helper: build a builtin op and run its shape inference.
#[cfg(test)]
pub(crate) fn infer_op(
    op_type: &str,
    attrs: crate::Attributes,
    inputs: &[(TensorFact, Option<Tensor>)],
) -> Result<Vec<TensorFact>> {
    let ctx = BuildCtx {
        attrs: &attrs,
        num_inputs: inputs.len(),
        num_outputs: 1,
    };
    let op = crate::builtin_ops().build(op_type, &ctx)?;
    let ins: Vec<InferInput<'_>> = inputs
        .iter()
        .map(|(f, v)| InferInput {
            fact: f,
            value: v.as_ref(),
        })
        .collect();
    op.infer(&ins)
}
