//! Window functions `HannWindow`, `HammingWindow`, `BlackmanWindow`: one table line each.

use crate::ops::control::common::{check_attrs, dtype_from_onnx, from_f64, scalar_i64};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, Op, Result, Tensor};
use std::f64::consts::PI;

/// One window family: its op name and `w(n, N)` with `N` the period.
struct Kind {
    name: &'static str,
    f: fn(f64, f64) -> f64,
}

const HANN: Kind = Kind {
    name: "HannWindow",
    f: |n, p| (PI * n / p).sin().powi(2),
};
const HAMMING: Kind = Kind {
    name: "HammingWindow",
    f: |n, p| 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * (2.0 * PI * n / p).cos(),
};
const BLACKMAN: Kind = Kind {
    name: "BlackmanWindow",
    f: |n, p| 0.42 - 0.5 * (2.0 * PI * n / p).cos() + 0.08 * (4.0 * PI * n / p).cos(),
};

/// A window of `size` samples (input 0), periodic (period `size`) or symmetric
/// (period `size - 1`), in `output_datatype` (default float).
#[derive(Debug)]
pub struct Window {
    name: &'static str,
    f: fn(f64, f64) -> f64,
    periodic: bool,
    dtype: DataType,
}

fn build_kind(ctx: &BuildCtx<'_>, k: Kind) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["output_datatype", "periodic"])?;
    let dtype = dtype_from_onnx(ctx.attrs.int_or("output_datatype", 1)?)
        .map_err(|e| Error::attr("output_datatype", e.to_string()))?;
    if !dtype.is_numeric() {
        return Err(Error::attr("output_datatype", "must be a numeric type"));
    }
    let periodic = match ctx.attrs.int_or("periodic", 1)? {
        0 => false,
        1 => true,
        _ => return Err(Error::attr("periodic", "must be 0 or 1")),
    };
    Ok(Box::new(Window {
        name: k.name,
        f: k.f,
        periodic,
        dtype,
    }))
}

/// Build `HannWindow`.
pub fn build_hann(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    build_kind(ctx, HANN)
}

/// Build `HammingWindow`.
pub fn build_hamming(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    build_kind(ctx, HAMMING)
}

/// Build `BlackmanWindow`.
pub fn build_blackman(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    build_kind(ctx, BLACKMAN)
}

impl Op for Window {
    fn op_type(&self) -> &str {
        self.name
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let size = scalar_i64(input(inputs, 0)?, "window size")?;
        if size < 0 {
            return Err(Error::input(format!(
                "window size must be >= 0, got {size}"
            )));
        }
        let size = size as usize;
        let period = if self.periodic {
            size
        } else {
            size.saturating_sub(1)
        } as f64;
        let v = (0..size).map(|n| (self.f)(n as f64, period)).collect();
        Ok(vec![(from_f64(self.dtype, &[size], v)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attributes, Tensor};

    #[test]
    fn hann_periodic_matches_formula() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = build_hann(&ctx).unwrap();
        let size = Tensor::scalar(4i64);
        let out = op.eval(&[Some(&size)]).unwrap();
        let v = out[0].to_f64_vec().unwrap();
        let want = [0.0, 0.5, 1.0, 0.5];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
    }
}
