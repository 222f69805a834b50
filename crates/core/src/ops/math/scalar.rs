//! [`Num`]: the scalar arithmetic every numeric element type supports, with ONNX/numpy
//! semantics (integers wrap on overflow, f16/bf16 compute through f32/f64).

use crate::Element;
use half::{bf16, f16};

/// Scalar arithmetic over one numeric element type.
pub(crate) trait Num: Element + Copy + PartialOrd + Default {
    /// True for floating-point types.
    const IS_FLOAT: bool;
    /// Width in bits.
    const BITS: u32;
    /// The value as f64 (ints may round above 2^53).
    fn as_f64(self) -> f64;
    /// A value from f64: floats round to nearest, ints truncate toward zero (saturating).
    fn of_f64(v: f64) -> Self;
    /// The value as i128 (floats truncate).
    fn as_i128(self) -> i128;
    /// A value from i128: ints keep the low bits (wrap), floats round.
    fn of_i128(v: i128) -> Self;
    /// Addition (wrapping for ints).
    fn add(self, o: Self) -> Self;
    /// Subtraction (wrapping for ints).
    fn sub(self, o: Self) -> Self;
    /// Multiplication (wrapping for ints).
    fn mul(self, o: Self) -> Self;
    /// Division (ints truncate toward zero; division by zero gives 0).
    fn div(self, o: Self) -> Self;
    /// True for a float NaN.
    fn is_nan(self) -> bool;
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const IS_FLOAT: bool = false;
            const BITS: u32 = <$t>::BITS;
            fn as_f64(self) -> f64 { self as f64 }
            fn of_f64(v: f64) -> Self { v as $t }
            fn as_i128(self) -> i128 { self as i128 }
            fn of_i128(v: i128) -> Self { v as $t }
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn div(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_div(o) } }
            fn is_nan(self) -> bool { false }
        }
    )*};
}
int_num!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! float_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const IS_FLOAT: bool = true;
            const BITS: u32 = (std::mem::size_of::<$t>() * 8) as u32;
            fn as_f64(self) -> f64 { self as f64 }
            fn of_f64(v: f64) -> Self { v as $t }
            fn as_i128(self) -> i128 { self as i128 }
            fn of_i128(v: i128) -> Self { v as $t }
            fn add(self, o: Self) -> Self { self + o }
            fn sub(self, o: Self) -> Self { self - o }
            fn mul(self, o: Self) -> Self { self * o }
            fn div(self, o: Self) -> Self { self / o }
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
        }
    )*};
}
float_num!(f32, f64);

macro_rules! half_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const IS_FLOAT: bool = true;
            const BITS: u32 = 16;
            fn as_f64(self) -> f64 { self.to_f64() }
            fn of_f64(v: f64) -> Self { <$t>::from_f64(v) }
            fn as_i128(self) -> i128 { self.to_f32() as i128 }
            fn of_i128(v: i128) -> Self { <$t>::from_f64(v as f64) }
            fn add(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            fn sub(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() - o.to_f32()) }
            fn mul(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() * o.to_f32()) }
            fn div(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() / o.to_f32()) }
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
        }
    )*};
}
half_num!(f16, bf16);

/// Maximum that propagates NaN (numpy `maximum`).
pub(crate) fn max_nan<T: Num>(x: T, y: T) -> T {
    if x.is_nan() || (!y.is_nan() && x >= y) {
        x
    } else {
        y
    }
}

/// Minimum that propagates NaN (numpy `minimum`).
pub(crate) fn min_nan<T: Num>(x: T, y: T) -> T {
    if x.is_nan() || (!y.is_nan() && x <= y) {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_wrap_and_truncate() {
        assert_eq!(Num::add(127i8, 1), -128);
        assert_eq!(Num::div(-7i32, 2), -3);
        assert_eq!(Num::div(7u8, 0), 0);
        assert_eq!(Num::div(i32::MIN, -1), i32::MIN);
        assert_eq!(<u8 as Num>::of_i128(300), 44);
    }

    #[test]
    fn halves_compute_through_f32() {
        let a = f16::from_f32(1.5);
        assert_eq!(Num::mul(a, a).to_f32(), 2.25);
        assert!(max_nan(f32::NAN, 1.0).is_nan());
        assert!(min_nan(1.0, f64::NAN).is_nan());
        assert_eq!(max_nan(2u8, 3), 3);
    }
}
