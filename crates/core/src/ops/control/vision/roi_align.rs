//! `RoiAlign`: bilinear-sampled average or max pooling of regions of interest.

use crate::ops::control::common::{check_attrs, float_data, from_f64};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Pools each ROI `(x1, y1, x2, y2)` of image `batch_indices[r]` to
/// `[output_height, output_width]`; output `[rois, channels, oh, ow]`.
#[derive(Debug)]
pub struct RoiAlign {
    half_pixel: bool,
    max_mode: bool,
    out_h: usize,
    out_w: usize,
    sampling_ratio: usize,
    spatial_scale: f64,
}

/// Build from `coordinate_transformation_mode`, `mode`, `output_height`, `output_width`,
/// `sampling_ratio`, `spatial_scale`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let a = ctx.attrs;
    check_attrs(
        a,
        &[
            "coordinate_transformation_mode",
            "mode",
            "output_height",
            "output_width",
            "sampling_ratio",
            "spatial_scale",
        ],
    )?;
    let half_pixel = match a
        .string_or("coordinate_transformation_mode", "half_pixel".into())?
        .as_str()
    {
        "half_pixel" => true,
        "output_half_pixel" => false,
        other => {
            return Err(Error::attr(
                "coordinate_transformation_mode",
                format!("unknown mode '{other}'"),
            ));
        }
    };
    let max_mode = match a.string_or("mode", "avg".into())?.as_str() {
        "avg" => false,
        "max" => true,
        other => return Err(Error::attr("mode", format!("unknown mode '{other}'"))),
    };
    let positive = |name: &str| -> Result<usize> {
        let v = a.int_or(name, 1)?;
        if v < 1 {
            return Err(Error::attr(name, "must be positive"));
        }
        Ok(v as usize)
    };
    let sampling_ratio = a.int_or("sampling_ratio", 0)?;
    if sampling_ratio < 0 {
        return Err(Error::attr("sampling_ratio", "must be >= 0"));
    }
    let spatial_scale = a.float_or("spatial_scale", 1.0)?;
    if !spatial_scale.is_finite() {
        return Err(Error::attr("spatial_scale", "must be finite"));
    }
    Ok(Box::new(RoiAlign {
        half_pixel,
        max_mode,
        out_h: positive("output_height")?,
        out_w: positive("output_width")?,
        sampling_ratio: sampling_ratio as usize,
        spatial_scale: spatial_scale as f64,
    }))
}

/// Bilinear sample weights: four (offset, weight) pairs; all-zero weights outside.
fn sample(y: f64, x: f64, h: usize, w: usize) -> [(usize, f64); 4] {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return [(0, 0.0); 4];
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let mut y0 = y as usize;
    let y1 = if y0 >= h - 1 {
        y0 = h - 1;
        y = y0 as f64;
        y0
    } else {
        y0 + 1
    };
    let mut x0 = x as usize;
    let x1 = if x0 >= w - 1 {
        x0 = w - 1;
        x = x0 as f64;
        x0
    } else {
        x0 + 1
    };
    let (ly, lx) = (y - y0 as f64, x - x0 as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ]
}

impl Op for RoiAlign {
    fn op_type(&self) -> &str {
        "RoiAlign"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let rois = input(inputs, 1)?;
        let idx = input(inputs, 2)?;
        let &[n, c, h, w] = x.shape() else {
            return Err(Error::shape(format!(
                "X must be [N, C, H, W], got {:?}",
                x.shape()
            )));
        };
        let &[nr, 4] = rois.shape() else {
            return Err(Error::shape(format!(
                "rois must be [R, 4], got {:?}",
                rois.shape()
            )));
        };
        if idx.shape() != [nr] {
            return Err(Error::shape("batch_indices must be [R]"));
        }
        let xd = float_data(x, "X")?;
        let rd = float_data(rois, "rois")?;
        let bi = idx.to_i64_vec()?;
        let (oh, ow) = (self.out_h, self.out_w);
        let total = [nr, c, oh, ow]
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::input("the output size overflows"))?;
        let mut out = vec![0.0; total];
        let offset = if self.half_pixel { 0.5 } else { 0.0 };
        for r in 0..nr {
            let b = bi[r];
            if b < 0 || b as usize >= n {
                return Err(Error::input(format!(
                    "batch index {b} is out of range 0..{n}"
                )));
            }
            if h == 0 || w == 0 {
                continue;
            }
            let roi = &rd[r * 4..r * 4 + 4];
            if roi.iter().any(|v| !v.is_finite()) {
                return Err(Error::input(format!("roi {r} has non-finite coordinates")));
            }
            let sw = roi[0] * self.spatial_scale - offset;
            let sh = roi[1] * self.spatial_scale - offset;
            let mut rw = roi[2] * self.spatial_scale - offset - sw;
            let mut rh = roi[3] * self.spatial_scale - offset - sh;
            if !self.half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / oh as f64, rw / ow as f64);
            let grid = |extent: f64, bins: usize| {
                if self.sampling_ratio > 0 {
                    self.sampling_ratio
                } else {
                    (extent / bins as f64).ceil().max(0.0) as usize
                }
            };
            let (gh, gw) = (grid(rh, oh), grid(rw, ow));
            let grid_n = gh
                .checked_mul(gw)
                .ok_or_else(|| Error::input("the sampling grid size overflows"))?;
            let count = grid_n.max(1) as f64;
            for ph in 0..oh {
                for pw in 0..ow {
                    let mut samples = Vec::new();
                    for iy in 0..gh {
                        let y = sh + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            samples.push(sample(y, xx, h, w));
                        }
                    }
                    for ch in 0..c {
                        let plane =
                            &xd[(b as usize * c + ch) * h * w..(b as usize * c + ch + 1) * h * w];
                        let v = if self.max_mode {
                            samples
                                .iter()
                                .map(|s| {
                                    s.iter()
                                        .map(|&(o, wt)| wt * plane[o])
                                        .fold(f64::NEG_INFINITY, f64::max)
                                })
                                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                                .unwrap_or(0.0)
                        } else {
                            samples
                                .iter()
                                .map(|s| s.iter().map(|&(o, wt)| wt * plane[o]).sum::<f64>())
                                .sum::<f64>()
                                / count
                        };
                        out[((r * c + ch) * oh + ph) * ow + pw] = v;
                    }
                }
            }
        }
        Ok(vec![(from_f64(x.dtype(), &[nr, c, oh, ow], out)?)])
    }
}
