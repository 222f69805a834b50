//! `STFT`: short-time Fourier transform of `[batch, length, 1|2]` signals.

use crate::ops::control::common::{check_attrs, float_data, from_f64, scalar_i64};
use crate::ops::control::signal::fourier::Twiddles;
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Frames the signal with `frame_step`, weights each frame by `window` and transforms it.
/// Output: `[batch, frames, bins, 2]`.
#[derive(Debug)]
pub struct Stft {
    onesided: bool,
}

/// Build from `onesided` (default 1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["onesided"])?;
    let onesided = match ctx.attrs.int_or("onesided", 1)? {
        0 => false,
        1 => true,
        _ => return Err(Error::attr("onesided", "must be 0 or 1")),
    };
    Ok(Box::new(Stft { onesided }))
}

impl Op for Stft {
    fn op_type(&self) -> &str {
        "STFT"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let &[batch, len, comps] = x.shape() else {
            return Err(Error::shape(format!(
                "STFT signal must be [batch, length, 1|2], got {:?}",
                x.shape()
            )));
        };
        if comps != 1 && comps != 2 {
            return Err(Error::shape("the last signal dimension must be 1 or 2"));
        }
        if self.onesided && comps == 2 {
            return Err(Error::input("a one-sided STFT needs a real signal"));
        }
        let step = scalar_i64(input(inputs, 1)?, "frame_step")?;
        if step < 1 {
            return Err(Error::input(format!(
                "frame_step must be positive, got {step}"
            )));
        }
        let window = opt_input(inputs, 2)
            .map(|w| {
                if w.rank() != 1 {
                    return Err(Error::shape("the window must be 1-D"));
                }
                float_data(w, "window")
            })
            .transpose()?;
        let frame_len = match (opt_input(inputs, 3), &window) {
            (Some(t), w) => {
                let l = scalar_i64(t, "frame_length")?;
                if l < 1 {
                    return Err(Error::input("frame_length must be positive"));
                }
                if w.as_ref().is_some_and(|w| w.len() != l as usize) {
                    return Err(Error::input("frame_length differs from the window length"));
                }
                l as usize
            }
            (None, Some(w)) => w.len(),
            (None, None) => len,
        };
        if frame_len == 0 || frame_len > len {
            return Err(Error::input(format!(
                "frame length {frame_len} does not fit a signal of length {len}"
            )));
        }
        let window = window.unwrap_or_else(|| vec![1.0; frame_len]);
        let frames = (len - frame_len) / step as usize + 1;
        let bins = if self.onesided {
            frame_len / 2 + 1
        } else {
            frame_len
        };
        let data = float_data(x, "signal")?;
        let tw = Twiddles::new(frame_len);
        let mut out = vec![0.0; batch * frames * bins * 2];
        let mut re = vec![0.0; frame_len];
        let mut im = vec![0.0; frame_len];
        for b in 0..batch {
            for f in 0..frames {
                let start = f * step as usize;
                for t in 0..frame_len {
                    let base = (b * len + start + t) * comps;
                    re[t] = data[base] * window[t];
                    im[t] = if comps == 2 {
                        data[base + 1] * window[t]
                    } else {
                        0.0
                    };
                }
                let (yr, yi) = tw.transform(&re, &im, bins, false);
                for k in 0..bins {
                    let o = ((b * frames + f) * bins + k) * 2;
                    out[o] = yr[k];
                    out[o + 1] = yi[k];
                }
            }
        }
        Ok(vec![(from_f64(x.dtype(), &[batch, frames, bins, 2], out)?)])
    }
}
