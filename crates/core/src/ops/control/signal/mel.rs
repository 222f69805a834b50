//! `MelWeightMatrix`: triangular mel filter bank weights `[dft_length/2 + 1, num_mel_bins]`.

use crate::ops::control::common::{check_attrs, dtype_from_onnx, from_f64, scalar_f64, scalar_i64};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, Op, Result, Tensor};

/// Mel filter bank matrix in `output_datatype` (default float).
#[derive(Debug)]
pub struct MelWeightMatrix {
    dtype: DataType,
}

/// Build from `output_datatype`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["output_datatype"])?;
    let dtype = dtype_from_onnx(ctx.attrs.int_or("output_datatype", 1)?)
        .map_err(|e| Error::attr("output_datatype", e.to_string()))?;
    if !dtype.is_numeric() {
        return Err(Error::attr("output_datatype", "must be a numeric type"));
    }
    Ok(Box::new(MelWeightMatrix { dtype }))
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

impl Op for MelWeightMatrix {
    fn op_type(&self) -> &str {
        "MelWeightMatrix"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let mel_bins = scalar_i64(input(inputs, 0)?, "num_mel_bins")?;
        let dft_length = scalar_i64(input(inputs, 1)?, "dft_length")?;
        let rate = scalar_i64(input(inputs, 2)?, "sample_rate")?;
        let low = scalar_f64(input(inputs, 3)?, "lower_edge_hertz")?;
        let high = scalar_f64(input(inputs, 4)?, "upper_edge_hertz")?;
        if mel_bins < 1 || dft_length < 1 || rate < 1 {
            return Err(Error::input(
                "num_mel_bins, dft_length and sample_rate must be positive",
            ));
        }
        if !(low >= 0.0 && high > low) {
            return Err(Error::input(format!(
                "need 0 <= lower_edge_hertz < upper_edge_hertz, got {low} and {high}"
            )));
        }
        let (m, spec_bins) = (mel_bins as usize, dft_length as usize / 2 + 1);
        let (lo_mel, hi_mel) = (hz_to_mel(low), hz_to_mel(high));
        let step = (hi_mel - lo_mel) / (m + 2) as f64;
        let edges: Vec<usize> = (0..m + 2)
            .map(|i| {
                let hz = 700.0 * (10f64.powf((i as f64 * step + lo_mel) / 2595.0) - 1.0);
                (((dft_length + 1) as f64 * hz) / rate as f64)
                    .floor()
                    .max(0.0) as usize
            })
            .collect();
        let total = spec_bins
            .checked_mul(m)
            .ok_or_else(|| Error::input("the mel matrix size overflows"))?;
        let mut out = vec![0.0; total];
        for i in 0..m {
            let (l, c, h) = (edges[i], edges[i + 1], edges[i + 2]);
            if c == l {
                if c >= spec_bins {
                    return Err(Error::input("a mel filter centre lies beyond the spectrum"));
                }
                out[c * m + i] = 1.0;
            } else {
                for j in l..=c {
                    if j >= spec_bins {
                        return Err(Error::input("a mel filter lies beyond the spectrum"));
                    }
                    out[j * m + i] = (j - l) as f64 / (c - l) as f64;
                }
            }
            for j in c..h {
                if j >= spec_bins {
                    return Err(Error::input("a mel filter lies beyond the spectrum"));
                }
                out[j * m + i] = (h - j) as f64 / (h - c) as f64;
            }
        }
        Ok(vec![(from_f64(self.dtype, &[spec_bins, m], out)?)])
    }
}
