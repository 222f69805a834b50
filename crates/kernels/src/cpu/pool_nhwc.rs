//! Pooling on NHWC tensors (`NhwcPool`): channels are contiguous, so every tap of a window
//! is one run of `C` values combined into the output run; one output row per task.

use super::conv::ConvGeom;
use super::pool::Kind;
use rayon::prelude::*;

/// MaxPool / AveragePool of `x` (`[n, ih, iw, c]`) into `out` (`[n, oh, ow, c]`), the
/// window geometry in `g` (one channel per group, the pool kernel as the filter size).
pub(crate) fn window(g: &ConvGeom, kind: Kind, x: &[f32], out: &mut [f32]) {
    let (c, row) = (g.c, g.ow * g.c);
    if row == 0 {
        return;
    }
    out.par_chunks_mut(row).enumerate().for_each(|(r, dst)| {
        let (img, oy) = (r / g.oh, r % g.oh);
        for ox in 0..g.ow {
            let o = &mut dst[ox * c..(ox + 1) * c];
            o.fill(if kind == Kind::Max {
                f32::NEG_INFINITY
            } else {
                0.0
            });
            let mut count = 0usize;
            for ky in 0..g.kh {
                let Some(iy) = (oy * g.sh + ky * g.dh)
                    .checked_sub(g.ph)
                    .filter(|&y| y < g.ih)
                else {
                    continue;
                };
                for kx in 0..g.kw {
                    let Some(ix) = (ox * g.sw + kx * g.dw)
                        .checked_sub(g.pw)
                        .filter(|&v| v < g.iw)
                    else {
                        continue;
                    };
                    let s = ((img * g.ih + iy) * g.iw + ix) * c;
                    let src = &x[s..s + c];
                    if kind == Kind::Max {
                        o.iter_mut().zip(src).for_each(|(a, &v)| *a = a.max(v));
                    } else {
                        o.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
                    }
                    count += 1;
                }
            }
            let div = match kind {
                Kind::Avg { include_pad: true } => (g.kh * g.kw) as f32,
                Kind::Avg { include_pad: false } => count.max(1) as f32,
                _ => continue,
            };
            if count == 0 {
                o.fill(0.0);
            } else {
                o.iter_mut().for_each(|a| *a /= div);
            }
        }
    });
}

/// GlobalAveragePool / GlobalMaxPool of `x` (`xs = [n, h, w, c]`): `[n, c]` values.
pub(crate) fn global(xs: &[usize], max: bool, x: &[f32]) -> Vec<f32> {
    let (n, plane, c) = (xs[0], xs[1] * xs[2], xs[3]);
    let mut out = vec![if max { f32::NEG_INFINITY } else { 0.0 }; n * c];
    if c == 0 {
        return out;
    }
    out.par_chunks_mut(c).enumerate().for_each(|(img, o)| {
        for p in 0..plane {
            let s = (img * plane + p) * c;
            let src = &x[s..s + c];
            if max {
                o.iter_mut().zip(src).for_each(|(a, &v)| *a = a.max(v));
            } else {
                o.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
            }
        }
        if !max && plane > 0 {
            o.iter_mut().for_each(|a| *a /= plane as f32);
        }
    });
    out
}
