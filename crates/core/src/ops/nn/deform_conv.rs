//! `DeformConv` (2-D): convolution sampling the input at learned offsets (bilinear,
//! zero outside), with optional modulation mask and bias.

use super::common::{WindowAttrs, check_attrs, float_tensor, float_vec, matmul_f64, usize_list};
use super::conv::{conv_geometry, infer_conv, parse_group};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Deformable convolution.
#[derive(Debug)]
pub struct DeformConv {
    window: WindowAttrs,
    group: usize,
    offset_group: usize,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "dilations",
            "group",
            "kernel_shape",
            "offset_group",
            "pads",
            "strides",
        ],
    )?;
    let og = ctx.attrs.int_or("offset_group", 1)?;
    if og < 1 {
        return Err(Error::attr(
            "offset_group",
            format!("must be >= 1, got {og}"),
        ));
    }
    usize_list(ctx.attrs, "kernel_shape", true)?;
    Ok(Box::new(DeformConv {
        window: WindowAttrs::parse(ctx.attrs)?,
        group: parse_group(ctx)?,
        offset_group: og as usize,
    }))
}

/// Bilinear sample of a plane at real coordinates; corners outside the plane count as zero.
fn bilinear(plane: &[f64], h: usize, w: usize, y: f64, x: f64) -> f64 {
    if y <= -1.0 || x <= -1.0 || y >= h as f64 || x >= w as f64 {
        return 0.0;
    }
    let (y0, x0) = (y.floor(), x.floor());
    let (dy, dx) = (y - y0, x - x0);
    let mut s = 0.0;
    for (yy, wy) in [(y0, 1.0 - dy), (y0 + 1.0, dy)] {
        for (xx, wx) in [(x0, 1.0 - dx), (x0 + 1.0, dx)] {
            if yy >= 0.0 && xx >= 0.0 && (yy as usize) < h && (xx as usize) < w {
                s += wy * wx * plane[yy as usize * w + xx as usize];
            }
        }
    }
    s
}

impl Op for DeformConv {
    fn op_type(&self) -> &str {
        "DeformConv"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match (inputs.first(), inputs.get(1)) {
            (Some(x), Some(w)) => Ok(infer_conv(&self.window, x.fact, w.fact, x.fact.dtype)),
            _ => Ok(Vec::new()),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, w, off) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        let (xs, ws) = (x.shape(), w.shape());
        if xs.len() != 4 {
            return Err(Error::unsupported(
                "DeformConv is implemented for 2-D inputs only",
            ));
        }
        let g = conv_geometry(&self.window, self.group, xs, ws)?;
        let (n, c, ih, iw) = (xs[0], xs[1], xs[2], xs[3]);
        let (m, cg) = (ws[0], ws[1]);
        let (kh, kw) = (g.kernel[0], g.kernel[1]);
        let (oh, ow) = (g.out[0], g.out[1]);
        let (k, ol) = (kh * kw, oh * ow);
        let og = self.offset_group;
        if c % og != 0 {
            return Err(Error::shape(format!(
                "offset_group {og} does not divide {c} channels"
            )));
        }
        if off.shape() != [n, og * 2 * k, oh, ow] {
            return Err(Error::shape(format!(
                "offset {:?} must be [{n}, {}, {oh}, {ow}]",
                off.shape(),
                og * 2 * k
            )));
        }
        let mask = match opt_input(inputs, 4) {
            Some(mk) => {
                if mk.shape() != [n, og * k, oh, ow] {
                    return Err(Error::shape(format!(
                        "mask {:?} must be [{n}, {}, {oh}, {ow}]",
                        mk.shape(),
                        og * k
                    )));
                }
                float_vec(mk)?
            }
            None => vec![1.0; n * og * k * ol],
        };
        let bias = match opt_input(inputs, 3) {
            Some(b) if b.len() == m => float_vec(b)?,
            Some(b) => {
                return Err(Error::shape(format!(
                    "bias has {} values for {m} channels",
                    b.len()
                )));
            }
            None => vec![0.0; m],
        };
        let (xv, wv, ov) = (float_vec(x)?, float_vec(w)?, float_vec(off)?);
        let mg = m / self.group;
        let per_og = c / og;
        let mut y = vec![0.0; n * m * ol];
        let mut col = vec![0.0; cg * k * ol];
        for b in 0..n {
            for gi in 0..self.group {
                for ci in 0..cg {
                    let ch = gi * cg + ci;
                    let o_g = ch / per_og;
                    let plane = &xv[(b * c + ch) * ih * iw..][..ih * iw];
                    for ki in 0..kh {
                        for kj in 0..kw {
                            let kk = ki * kw + kj;
                            let oy_c = ((b * og + o_g) * k + kk) * 2;
                            for i in 0..oh {
                                for j in 0..ow {
                                    let p = i * ow + j;
                                    let dy = ov[oy_c * ol + p];
                                    let dx = ov[(oy_c + 1) * ol + p];
                                    let yy = (i * g.strides[0] + ki * g.dilations[0]) as f64
                                        - g.pad_begin[0] as f64
                                        + dy;
                                    let xx = (j * g.strides[1] + kj * g.dilations[1]) as f64
                                        - g.pad_begin[1] as f64
                                        + dx;
                                    let mk = mask[((b * og + o_g) * k + kk) * ol + p];
                                    col[(ci * k + kk) * ol + p] =
                                        mk * bilinear(plane, ih, iw, yy, xx);
                                }
                            }
                        }
                    }
                }
                let wg = &wv[gi * mg * cg * k..][..mg * cg * k];
                let r = matmul_f64(wg, &col, mg, cg * k, ol)?;
                for mi in 0..mg {
                    let ch = gi * mg + mi;
                    let dst = &mut y[(b * m + ch) * ol..][..ol];
                    for (d, v) in dst.iter_mut().zip(&r[mi * ol..][..ol]) {
                        *d = v + bias[ch];
                    }
                }
            }
        }
        Ok(vec![float_tensor(x.dtype(), &[n, m, oh, ow], y)?])
    }
}
