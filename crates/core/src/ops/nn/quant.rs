//! Helpers shared by the quantization ops: scale/zero-point layouts, rounding, saturation.

use crate::{DataType, Error, Result, Tensor};

/// For each element of a tensor of shape `x`, the index into a scale of shape `scale`:
/// per-tensor (one value), per-axis (1-D along `axis`) or blocked (`block_size` > 0).
pub fn param_index(x: &[usize], scale: &[usize], axis: i64, block_size: i64) -> Result<Vec<usize>> {
    let n: usize = x.iter().product();
    let count: usize = scale.iter().product();
    if block_size == 0 && count == 1 && scale.len() <= 1 {
        return Ok(vec![0; n]);
    }
    let a = crate::ops::util::normalize_axis(axis, x.len())?;
    let inner: usize = x[a + 1..].iter().product();
    let dim = x[a];
    if block_size <= 0 {
        if scale.len() != 1 || scale[0] != dim {
            return Err(Error::shape(format!(
                "per-axis scale {scale:?} must be 1-D of size {dim} (axis {a} of {x:?})"
            )));
        }
        return Ok((0..n).map(|i| (i / inner.max(1)) % dim.max(1)).collect());
    }
    let bs = block_size as usize;
    let blocks = dim.div_ceil(bs);
    if scale.len() != x.len()
        || scale[a] != blocks
        || scale
            .iter()
            .zip(x)
            .enumerate()
            .any(|(d, (s, x))| d != a && s != x)
    {
        return Err(Error::shape(format!(
            "blocked scale {scale:?} does not fit {x:?} with block_size {bs} on axis {a}"
        )));
    }
    let outer: usize = x[..a].iter().product();
    let mut idx = Vec::with_capacity(n);
    for o in 0..outer {
        for d in 0..dim {
            for i in 0..inner {
                idx.push((o * blocks + d / bs) * inner + i);
            }
        }
    }
    Ok(idx)
}

/// The integer range of a quantized type.
pub fn qrange(dt: DataType) -> Result<(f64, f64)> {
    Ok(match dt {
        DataType::U8 => (0.0, 255.0),
        DataType::I8 => (-128.0, 127.0),
        DataType::U16 => (0.0, 65535.0),
        DataType::I16 => (-32768.0, 32767.0),
        DataType::I32 => (i32::MIN as f64, i32::MAX as f64),
        other => {
            return Err(Error::unsupported(format!(
                "quantized type {other} (only u8/i8/u16/i16/i32)"
            )));
        }
    })
}

/// The quantized type of an ONNX `output_dtype` code (0 = default).
pub fn qtype_from_code(code: i64) -> Result<Option<DataType>> {
    Ok(match code {
        0 => None,
        2 => Some(DataType::U8),
        3 => Some(DataType::I8),
        4 => Some(DataType::U16),
        5 => Some(DataType::I16),
        6 => Some(DataType::I32),
        c => {
            return Err(Error::attr(
                "output_dtype",
                format!("unsupported quantized type code {c} (float8/int4/int2 are not supported)"),
            ));
        }
    })
}

/// Round half to even, then clamp to `[lo, hi]`.
pub fn round_sat(v: f64, lo: f64, hi: f64) -> f64 {
    v.round_ties_even().clamp(lo, hi)
}

/// Scalar values of a scale tensor as f64.
pub fn scale_values(t: &Tensor, what: &str) -> Result<Vec<f64>> {
    if !t.dtype().is_float() && t.dtype() != DataType::I32 {
        return Err(Error::dtype(format!(
            "{what} must be a float tensor, got {}",
            t.dtype()
        )));
    }
    let v = t.to_f64_vec()?;
    if v.iter().any(|s| *s == 0.0 || !s.is_finite()) && what != "x_scale" {
        return Err(Error::input(format!("{what} must be finite and non-zero")));
    }
    Ok(v)
}

/// Round `x` to the precision of `dt` (f16/bf16/f32 arithmetic emulation).
pub fn to_precision(x: f64, dt: DataType) -> f64 {
    match dt {
        DataType::F32 => x as f32 as f64,
        DataType::F16 => half::f16::from_f64(x).to_f64(),
        DataType::BF16 => half::bf16::from_f64(x).to_f64(),
        _ => x,
    }
}
