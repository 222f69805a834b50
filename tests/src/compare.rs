//! Output comparison with the ONNX backend-test tolerances.

use kiln_core::{Tensor, Value};

/// Relative tolerance for floats.
pub const RTOL: f64 = 1e-3;
/// Absolute tolerance for floats.
pub const ATOL: f64 = 1e-7;

/// Compare two run-time values; `Err` describes the first difference.
pub fn values(want: &Value, got: &Value) -> Result<(), String> {
    match (want, got) {
        (Value::Tensor(a), Value::Tensor(b)) => tensors(a, b),
        (Value::Sequence(a), Value::Sequence(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "sequence length {} != expected {}",
                    b.len(),
                    a.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                tensors(x, y).map_err(|m| format!("sequence element {i}: {m}"))?;
            }
            Ok(())
        }
        (Value::Optional(a), Value::Optional(b)) => match (a, b) {
            (None, None) => Ok(()),
            (Some(x), Some(y)) => values(x, y),
            _ => Err(format!(
                "optional presence differs: expected {}",
                a.is_some()
            )),
        },
        // An optional holding a value may be compared with the bare value.
        (Value::Optional(Some(a)), b) => values(a, b),
        (a, Value::Optional(Some(b))) => values(a, b),
        _ => Err(format!(
            "value kinds differ: expected {}, got {}",
            kind(want),
            kind(got)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Tensor(_) => "tensor",
        Value::Sequence(_) => "sequence",
        Value::Optional(_) => "optional",
    }
}

/// Compare two tensors: same dtype and shape; floats within tolerance (NaN matches NaN,
/// infinities must match exactly); everything else exactly.
pub fn tensors(want: &Tensor, got: &Tensor) -> Result<(), String> {
    if want.dtype() != got.dtype() {
        return Err(format!(
            "dtype {} != expected {}",
            got.dtype(),
            want.dtype()
        ));
    }
    if want.shape() != got.shape() {
        return Err(format!(
            "shape {:?} != expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    if want.dtype().is_float() {
        let a = want.to_f64_vec().map_err(|e| e.to_string())?;
        let b = got.to_f64_vec().map_err(|e| e.to_string())?;
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let ok = if x.is_nan() || y.is_nan() {
                x.is_nan() && y.is_nan()
            } else if x.is_infinite() || y.is_infinite() {
                x == y
            } else {
                (x - y).abs() <= ATOL + RTOL * x.abs()
            };
            if !ok {
                return Err(format!("element {i}: got {y}, expected {x}"));
            }
        }
        return Ok(());
    }
    if want == got {
        return Ok(());
    }
    match (want, got) {
        (Tensor::String(a), Tensor::String(b)) => {
            let i = a
                .iter()
                .zip(b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            Err(format!("string element {i} differs"))
        }
        _ => {
            let a = want.to_i64_vec().map_err(|e| e.to_string())?;
            let b = got.to_i64_vec().map_err(|e| e.to_string())?;
            let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
            Err(format!("element {i}: got {}, expected {}", b[i], a[i]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_tolerance_and_nan() {
        let a = Tensor::from_vec(&[3], vec![1.0f32, f32::NAN, f32::INFINITY]).unwrap();
        let b = Tensor::from_vec(&[3], vec![1.0005f32, f32::NAN, f32::INFINITY]).unwrap();
        assert!(tensors(&a, &b).is_ok());
        let c = Tensor::from_vec(&[3], vec![1.01f32, f32::NAN, f32::INFINITY]).unwrap();
        assert!(tensors(&a, &c).is_err());
        let d = Tensor::from_vec(&[3], vec![1.0f32, 0.0, f32::INFINITY]).unwrap();
        assert!(tensors(&a, &d).is_err());
    }

    #[test]
    fn exact_for_integers_and_shapes() {
        let a = Tensor::from_vec(&[2], vec![1i64, 2]).unwrap();
        let b = Tensor::from_vec(&[2], vec![1i64, 3]).unwrap();
        assert!(tensors(&a, &b).is_err());
        let c = Tensor::from_vec(&[1, 2], vec![1i64, 2]).unwrap();
        assert!(tensors(&a, &c).is_err());
        let d = Tensor::from_vec(&[2], vec![1i32, 2]).unwrap();
        assert!(tensors(&a, &d).is_err());
    }
}
