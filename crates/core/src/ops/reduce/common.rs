//! Helpers shared by the reduction family: element conversions, axis handling, lanes.

use crate::ops::util::normalize_axis;
use crate::{Attributes, Error, Result, Tensor};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

/// A numeric element type converted to and from `f64` (with `as`-cast semantics:
/// truncation and saturation for integers) and `i128` (wrapping for integers).
pub(crate) trait Num: Copy + 'static {
    /// True for floating-point types.
    const IS_FLOAT: bool;
    /// Smallest value (negative infinity for floats).
    const LOWEST: i128;
    /// Largest value.
    const HIGHEST: i128;
    /// The value as f64.
    fn to_f64(self) -> f64;
    /// An f64 converted with `as` semantics.
    fn from_f64(v: f64) -> Self;
    /// The value as i128 (floats are truncated).
    fn to_i128(self) -> i128;
    /// An i128 wrapped into this type (floats convert).
    fn from_i128(v: i128) -> Self;
}

macro_rules! num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const IS_FLOAT: bool = false;
            const LOWEST: i128 = <$t>::MIN as i128;
            const HIGHEST: i128 = <$t>::MAX as i128;
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn to_i128(self) -> i128 { self as i128 }
            fn from_i128(v: i128) -> Self { v as $t }
        }
    )*};
}
num_int!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! num_float {
    ($t:ty, $to:expr, $from:expr) => {
        impl Num for $t {
            const IS_FLOAT: bool = true;
            const LOWEST: i128 = i128::MIN;
            const HIGHEST: i128 = i128::MAX;
            fn to_f64(self) -> f64 {
                $to(self)
            }
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn to_i128(self) -> i128 {
                self.to_f64() as i128
            }
            fn from_i128(v: i128) -> Self {
                Self::from_f64(v as f64)
            }
        }
    };
}
num_float!(f32, |x: f32| x as f64, |v: f64| v as f32);
num_float!(f64, |x: f64| x, |v: f64| v);
num_float!(f16, |x: f16| x.to_f64(), f16::from_f64);
num_float!(bf16, |x: bf16| x.to_f64(), bf16::from_f64);

/// Elements of an array as f64, in row-major order.
pub(crate) fn to_f64s<T: Num>(a: &ArrayD<T>) -> Vec<f64> {
    a.iter().map(|x| x.to_f64()).collect()
}

/// An array of `T` from f64 values (row-major) and a shape.
pub(crate) fn from_f64s<T: Num + crate::Element>(shape: &[usize], v: &[f64]) -> Result<Tensor> {
    let data: Vec<T> = v.iter().map(|&x| T::from_f64(x)).collect();
    let a = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::shape(e.to_string()))?;
    Ok(T::wrap(a))
}

/// A float tensor's elements as f64 plus its dtype-restoring constructor.
pub(crate) fn float_f64s(t: &Tensor) -> Result<Vec<f64>> {
    Ok(crate::dispatch_float!(t, a => to_f64s::<T>(a)))
}

/// A tensor of the same float type as `like`, from f64 values.
pub(crate) fn float_like(like: &Tensor, shape: &[usize], v: &[f64]) -> Result<Tensor> {
    crate::dispatch_float!(like, _a => from_f64s::<T>(shape, v))
}

/// Reject attributes outside `known`.
pub(crate) fn check_attrs(attrs: &Attributes, known: &[&str]) -> Result<()> {
    if let Some(name) = attrs.unknown(known).first() {
        return Err(Error::attr(name, "unsupported attribute"));
    }
    Ok(())
}

/// Split a shape at `axis` into (outer, axis length, inner) element counts.
pub(crate) fn lanes(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape.iter().take(axis).product();
    let n = shape.get(axis).copied().unwrap_or(1);
    let inner = shape.iter().skip(axis + 1).product();
    (outer, n, inner)
}

/// Normalize an axis attribute value against a rank, reporting bad values as shape errors.
pub(crate) fn axis_of(axis: i64, rank: usize) -> Result<usize> {
    normalize_axis(axis, rank).map_err(|_| {
        Error::shape(format!(
            "axis {axis} is out of range for an input of rank {rank}"
        ))
    })
}

/// Run `f` on every lane along axis `axis` of a row-major buffer of `shape`:
/// `f` gets the lane's values and writes results into the same positions.
pub(crate) fn for_each_lane(
    data: &[f64],
    shape: &[usize],
    axis: usize,
    mut f: impl FnMut(&[f64], &mut [f64]),
) -> Vec<f64> {
    let (outer, n, inner) = lanes(shape, axis);
    let mut out = vec![0.0; data.len()];
    let mut lane = vec![0.0; n];
    let mut res = vec![0.0; n];
    for o in 0..outer {
        for i in 0..inner {
            for (k, l) in lane.iter_mut().enumerate() {
                *l = data[(o * n + k) * inner + i];
            }
            f(&lane, &mut res);
            for (k, r) in res.iter().enumerate() {
                out[(o * n + k) * inner + i] = *r;
            }
        }
    }
    out
}

/// Softmax of one lane into `out` (max-subtracted for stability).
pub(crate) fn softmax_lane(x: &[f64], out: &mut [f64]) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// Log-softmax of one lane into `out`.
pub(crate) fn log_softmax_lane(x: &[f64], out: &mut [f64]) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = x.iter().map(|&v| (v - m).exp()).sum();
    let lse = sum.ln();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v - m - lse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_split_shape() {
        assert_eq!(lanes(&[2, 3, 4], 1), (2, 3, 4));
        assert_eq!(lanes(&[2, 3, 4], 2), (6, 4, 1));
    }

    #[test]
    fn softmax_lane_sums_to_one() {
        let mut out = [0.0; 3];
        softmax_lane(&[1000.0, 1001.0, 1002.0], &mut out);
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(out[2] > out[1] && out[1] > out[0]);
    }

    #[test]
    fn int_conversions_wrap_and_saturate() {
        assert_eq!(<i8 as Num>::from_i128(200), -56);
        assert_eq!(<u8 as Num>::from_f64(300.0), 255);
        assert_eq!(<i32 as Num>::from_f64(-2.7), -2);
    }
}
