//! `DFT`: discrete Fourier transform along one axis of a real (`[..., 1]`) or complex
//! (`[..., 2]`) signal, forward or inverse, full or one-sided.

use crate::ops::control::common::{check_attrs, float_data, from_f64, scalar_i64};
use crate::ops::control::signal::fourier::Twiddles;
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// DFT with `inverse` and `onesided` flags; the axis comes from the `axis` input (opset 20)
/// or, for older models, the `axis` attribute.
#[derive(Debug)]
pub struct Dft {
    inverse: bool,
    onesided: bool,
    axis_attr: Option<i64>,
}

fn flag(ctx: &BuildCtx<'_>, name: &str) -> Result<bool> {
    match ctx.attrs.int_or(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Error::attr(name, "must be 0 or 1")),
    }
}

/// Build from `inverse`, `onesided` and (opset 17-19) `axis`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["inverse", "onesided", "axis"])?;
    Ok(Box::new(Dft {
        inverse: flag(ctx, "inverse")?,
        onesided: flag(ctx, "onesided")?,
        axis_attr: ctx.attrs.int("axis")?,
    }))
}

impl Op for Dft {
    fn op_type(&self) -> &str {
        "DFT"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape().to_vec();
        let rank = shape.len();
        let comps = *shape.last().unwrap_or(&0);
        if rank < 2 || !(comps == 1 || comps == 2) {
            return Err(Error::shape(format!(
                "DFT input must have rank >= 2 and a last dimension of 1 or 2, got {shape:?}"
            )));
        }
        let axis = match opt_input(inputs, 2) {
            Some(t) => scalar_i64(t, "axis")?,
            None => self.axis_attr.unwrap_or(-2),
        };
        let r = rank as i64;
        if axis < -r || axis >= r {
            return Err(Error::input(format!(
                "axis {axis} is out of range for rank {rank}"
            )));
        }
        let axis = axis.rem_euclid(r) as usize;
        if axis == rank - 1 {
            return Err(Error::input(
                "the DFT axis cannot be the last (complex) dimension",
            ));
        }
        let len = shape[axis];
        let irfft = self.inverse && self.onesided;
        let n = match opt_input(inputs, 1) {
            Some(t) => {
                let n = scalar_i64(t, "dft_length")?;
                if n < 1 {
                    return Err(Error::input(format!(
                        "dft_length must be positive, got {n}"
                    )));
                }
                n as usize
            }
            None if irfft => 2 * len.saturating_sub(1),
            None => len,
        };
        if n == 0 {
            return Err(Error::input("the transform length is zero"));
        }
        let data = float_data(x, "input")?;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..rank - 1].iter().product();
        let (bins, out_comps) = if irfft {
            (n, 1)
        } else if self.onesided {
            (n / 2 + 1, 2)
        } else {
            (n, 2)
        };
        let tw = Twiddles::new(n);
        let scale = if self.inverse { 1.0 / n as f64 } else { 1.0 };
        let total = [outer, bins, inner, out_comps]
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::input("the DFT output size overflows"))?;
        let mut out = vec![0.0; total];
        let mut re = vec![0.0; n];
        let mut im = vec![0.0; n];
        for o in 0..outer {
            for i in 0..inner {
                re.iter_mut().for_each(|v| *v = 0.0);
                im.iter_mut().for_each(|v| *v = 0.0);
                let at = |t: usize, c: usize| data[((o * len + t) * inner + i) * comps + c];
                if irfft {
                    // Hermitian extension of the one-sided spectrum.
                    for k in 0..n {
                        let (src, conj) = if k <= n / 2 {
                            (k, false)
                        } else {
                            (n - k, true)
                        };
                        if src < len {
                            re[k] = at(src, 0);
                            let v = if comps == 2 { at(src, 1) } else { 0.0 };
                            im[k] = if conj { -v } else { v };
                        }
                    }
                } else {
                    for t in 0..len.min(n) {
                        re[t] = at(t, 0);
                        im[t] = if comps == 2 { at(t, 1) } else { 0.0 };
                    }
                }
                let (yr, yi) = tw.transform(&re, &im, bins, self.inverse);
                for k in 0..bins {
                    let base = ((o * bins + k) * inner + i) * out_comps;
                    out[base] = yr[k] * scale;
                    if out_comps == 2 {
                        out[base + 1] = yi[k] * scale;
                    }
                }
            }
        }
        let mut out_shape = shape.clone();
        out_shape[axis] = bins;
        out_shape[rank - 1] = out_comps;
        Ok(vec![(from_f64(x.dtype(), &out_shape, out)?)])
    }
}
