//! `Tensor::cast`: element type conversion with ONNX `Cast` semantics.
//!
//! - float -> int truncates toward zero, through a 32-bit conversion for types up to i32 and
//!   a 64-bit one for u32/i64/u64, then narrowing wraps; NaN and out-of-range values give the
//!   conversion's minimum (what numpy does on x86, which the ONNX reference outputs are made
//!   with); float -> u64 keeps the full unsigned range.
//! - int -> int wraps (keeps the low bits); anything -> bool is `!= 0` (NaN is true);
//!   bool -> numbers is 0/1.
//! - strings parse as numbers (`"1.5"`, `"INF"`, `"-inf"`, `"NaN"`, `"true"`); numbers format
//!   like numpy's `str` (`"1.5"`, `"1e-05"`, `"inf"`, `"nan"`).
//! - f16/bf16 convert through f32/f64 with round-to-nearest-even.

use super::Tensor;
use crate::{DataType, Error, Result};
use half::{bf16, f16};
use ndarray::ArrayD;

/// One source element, in the widest form of its kind.
enum Lit<'a> {
    F(f64),
    I(i128),
    B(bool),
    S(&'a str),
}

/// A source element type.
trait Source {
    fn lit(&self) -> Lit<'_>;
}

/// A target element type.
trait Target: Sized {
    fn from_lit(l: Lit<'_>) -> Result<Self>;
}

macro_rules! float_source {
    ($($t:ty),*) => {$( impl Source for $t { fn lit(&self) -> Lit<'_> { Lit::F(f64::from(*self)) } } )*};
}
float_source!(f32, f64, f16, bf16);

macro_rules! int_source {
    ($($t:ty),*) => {$( impl Source for $t { fn lit(&self) -> Lit<'_> { Lit::I(i128::from(*self)) } } )*};
}
int_source!(i8, u8, i16, u16, i32, u32, i64, u64);

impl Source for bool {
    fn lit(&self) -> Lit<'_> {
        Lit::B(*self)
    }
}

impl Source for String {
    fn lit(&self) -> Lit<'_> {
        Lit::S(self.as_str())
    }
}

/// Parse a string as a number: an integer when it is one, otherwise a float.
fn parse_num(s: &str) -> Result<Lit<'static>> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i128>() {
        return Ok(Lit::I(i));
    }
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_prefix('+').unwrap_or(&lower);
    match body {
        "true" => return Ok(Lit::I(1)),
        "false" => return Ok(Lit::I(0)),
        _ => {}
    }
    body.parse::<f64>()
        .map(Lit::F)
        .map_err(|_| Error::input(format!("cannot cast string '{s}' to a number")))
}

/// Truncate a float toward zero into the domain of a 32-bit (`wide` = false) or 64-bit
/// machine conversion; NaN and out-of-range values give that domain's minimum, as x86 does.
fn float_to_i128(v: f64, wide: bool) -> i128 {
    let (lo, hi) = if wide {
        (i64::MIN as f64, -(i64::MIN as f64))
    } else {
        (i32::MIN as f64, -(i32::MIN as f64))
    };
    if v.is_nan() || v >= hi || v < lo {
        if wide {
            i64::MIN as i128
        } else {
            i32::MIN as i128
        }
    } else {
        v.trunc() as i128
    }
}

macro_rules! int_target {
    ($($t:ty: $wide:literal),*) => {$(
        impl Target for $t {
            fn from_lit(l: Lit<'_>) -> Result<Self> {
                Ok(match l {
                    Lit::F(v) => float_to_i128(v, $wide) as $t,
                    Lit::I(v) => v as $t,
                    Lit::B(b) => b as $t,
                    Lit::S(s) => Self::from_lit(parse_num(s)?)?,
                })
            }
        }
    )*};
}
int_target!(i8: false, u8: false, i16: false, u16: false, i32: false, u32: true, i64: true);

impl Target for u64 {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        Ok(match l {
            Lit::F(v) if (0.0..1.844_674_407_370_955_2e19).contains(&v) => v as u64,
            Lit::F(v) => float_to_i128(v, true) as u64,
            Lit::I(v) => v as u64,
            Lit::B(b) => b as u64,
            Lit::S(s) => Self::from_lit(parse_num(s)?)?,
        })
    }
}

/// The value of a literal as f64 (bool 0/1, strings parsed).
fn lit_f64(l: Lit<'_>) -> Result<f64> {
    Ok(match l {
        Lit::F(v) => v,
        Lit::I(v) => v as f64,
        Lit::B(b) => b as u8 as f64,
        Lit::S(s) => lit_f64(parse_num(s)?)?,
    })
}

impl Target for f64 {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        lit_f64(l)
    }
}

impl Target for f32 {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        Ok(lit_f64(l)? as f32)
    }
}

impl Target for f16 {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        Ok(f16::from_f64(lit_f64(l)?))
    }
}

impl Target for bf16 {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        Ok(bf16::from_f64(lit_f64(l)?))
    }
}

impl Target for bool {
    fn from_lit(l: Lit<'_>) -> Result<Self> {
        Ok(match l {
            Lit::F(v) => v != 0.0,
            Lit::I(v) => v != 0,
            Lit::B(b) => b,
            Lit::S(s) => Self::from_lit(parse_num(s)?)?,
        })
    }
}

/// Format a float like numpy's `str`: shortest round-trip digits, positional for exponents
/// in -4..16, scientific (`1e-05`, `1.5e+16`) otherwise.
fn format_float(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if (-4..16).contains(&exp) {
        let (int, frac) = if exp >= 0 {
            let e = exp as usize;
            let padded = format!("{digits:0<width$}", width = e + 1);
            (padded[..e + 1].to_string(), padded[e + 1..].to_string())
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            ("0".to_string(), format!("{zeros}{digits}"))
        };
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    } else {
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

fn lit_string(l: Lit<'_>, single: bool) -> String {
    match l {
        Lit::F(v) => format_float(v, single),
        Lit::I(v) => v.to_string(),
        Lit::B(b) => if b { "True" } else { "False" }.to_string(),
        Lit::S(s) => s.to_string(),
    }
}

fn convert<S: Source, D: Target>(a: &ArrayD<S>) -> Result<ArrayD<D>> {
    let v = a
        .iter()
        .map(|x| D::from_lit(x.lit()))
        .collect::<Result<Vec<D>>>()?;
    ArrayD::from_shape_vec(a.raw_dim(), v).map_err(|e| Error::shape(e.to_string()))
}

fn to_strings<S: Source>(a: &ArrayD<S>, single: bool) -> ArrayD<String> {
    a.map(|x| lit_string(x.lit(), single))
}

impl Tensor {
    /// Convert every element to `to` with ONNX `Cast` semantics (see the module docs).
    pub fn cast(&self, to: DataType) -> Result<Tensor> {
        if self.dtype() == to {
            return Ok(self.clone());
        }
        let single = matches!(self.dtype(), DataType::F32 | DataType::F16 | DataType::BF16);
        Ok(crate::dispatch_all!(self, a => match to {
            DataType::F32 => Tensor::F32(convert::<T, f32>(a)?),
            DataType::F64 => Tensor::F64(convert::<T, f64>(a)?),
            DataType::F16 => Tensor::F16(convert::<T, f16>(a)?),
            DataType::BF16 => Tensor::BF16(convert::<T, bf16>(a)?),
            DataType::I8 => Tensor::I8(convert::<T, i8>(a)?),
            DataType::U8 => Tensor::U8(convert::<T, u8>(a)?),
            DataType::I16 => Tensor::I16(convert::<T, i16>(a)?),
            DataType::U16 => Tensor::U16(convert::<T, u16>(a)?),
            DataType::I32 => Tensor::I32(convert::<T, i32>(a)?),
            DataType::U32 => Tensor::U32(convert::<T, u32>(a)?),
            DataType::I64 => Tensor::I64(convert::<T, i64>(a)?),
            DataType::U64 => Tensor::U64(convert::<T, u64>(a)?),
            DataType::Bool => Tensor::Bool(convert::<T, bool>(a)?),
            DataType::String => Tensor::String(to_strings::<T>(a, single)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v<T: crate::Element>(d: Vec<T>) -> Tensor {
        Tensor::from_vec(&[d.len()], d).unwrap()
    }

    #[test]
    fn float_to_int_truncates_and_wraps() {
        let t = v(vec![1.9f32, -1.9, 300.0, -0.5]);
        assert_eq!(t.cast(DataType::I32).unwrap(), v(vec![1i32, -1, 300, 0]));
        assert_eq!(t.cast(DataType::U8).unwrap(), v(vec![1u8, 255, 44, 0]));
        assert_eq!(
            v(vec![f32::NAN, 1e20]).cast(DataType::I8).unwrap(),
            v(vec![0i8, 0])
        );
        assert_eq!(
            v(vec![-1.5f64]).cast(DataType::U32).unwrap(),
            v(vec![u32::MAX])
        );
        assert_eq!(
            v(vec![f32::NAN]).cast(DataType::I32).unwrap(),
            v(vec![i32::MIN])
        );
        assert_eq!(
            v(vec![1.8e19f64]).cast(DataType::U64).unwrap(),
            v(vec![18_000_000_000_000_000_000u64])
        );
    }

    #[test]
    fn bools_and_ints() {
        let t = v(vec![0.0f64, 2.5, f64::NAN]);
        assert_eq!(t.cast(DataType::Bool).unwrap(), v(vec![false, true, true]));
        assert_eq!(
            v(vec![true, false]).cast(DataType::F16).unwrap(),
            v(vec![f16::ONE, f16::ZERO])
        );
        assert_eq!(
            v(vec![-1i64, 256]).cast(DataType::U8).unwrap(),
            v(vec![255u8, 0])
        );
        assert_eq!(
            v(vec![u64::MAX]).cast(DataType::I64).unwrap(),
            v(vec![-1i64])
        );
    }

    #[test]
    fn strings_round_trip() {
        let s = v(vec![
            "1.5".to_string(),
            "INF".into(),
            "-inf".into(),
            "NaN".into(),
            " 7 ".into(),
        ]);
        let f = s.cast(DataType::F32).unwrap().into_array::<f32>().unwrap();
        assert_eq!(f[0], 1.5);
        assert!(f[1].is_infinite() && f[1] > 0.0);
        assert!(f[2].is_infinite() && f[2] < 0.0);
        assert!(f[3].is_nan());
        assert_eq!(f[4], 7.0);
        assert!(v(vec!["abc".to_string()]).cast(DataType::I32).is_err());
        let back = v(vec![1.5f32, 1e-5, 1e20, -0.25, 3.0, f32::NEG_INFINITY, 0.1])
            .cast(DataType::String)
            .unwrap();
        let want: Vec<String> = ["1.5", "1e-05", "1e+20", "-0.25", "3.0", "-inf", "0.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(back, v(want));
        assert_eq!(
            v(vec![-3i8]).cast(DataType::String).unwrap(),
            v(vec!["-3".to_string()])
        );
    }

    #[test]
    fn halves_round_to_nearest_even() {
        let t = v(vec![1.0f32 + 1.0 / 256.0, 3.0e38]);
        let b = t
            .cast(DataType::BF16)
            .unwrap()
            .into_array::<bf16>()
            .unwrap();
        assert_eq!(b[0].to_f32(), 1.0);
        let h = t.cast(DataType::F16).unwrap().into_array::<f16>().unwrap();
        assert!(h[1].is_infinite());
    }
}
