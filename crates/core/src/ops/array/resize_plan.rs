//! The per-axis sampling plan of `Resize`: for each output position along one axis, which
//! input positions contribute and with what weights (ONNX coordinate transformation modes,
//! nearest/linear/cubic kernels, antialiasing and `exclude_outside`).

use crate::{Error, Result};

/// How output coordinates map to input coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoordMode {
    /// `(x + 0.5) / scale - 0.5`.
    HalfPixel,
    /// Half pixel, with the implicit ROI centered on the output canvas.
    HalfPixelSymmetric,
    /// Half pixel, except that a length-1 output samples `-0.5`.
    PytorchHalfPixel,
    /// Corners of input and output align.
    AlignCorners,
    /// `x / scale`.
    Asymmetric,
    /// Sample inside the ROI; outside positions get the extrapolation value.
    TfCropAndResize,
}

impl CoordMode {
    /// Parse the `coordinate_transformation_mode` attribute.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "half_pixel" => CoordMode::HalfPixel,
            "half_pixel_symmetric" => CoordMode::HalfPixelSymmetric,
            "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
            "align_corners" => CoordMode::AlignCorners,
            "asymmetric" => CoordMode::Asymmetric,
            "tf_crop_and_resize" => CoordMode::TfCropAndResize,
            other => {
                return Err(Error::attr(
                    "coordinate_transformation_mode",
                    format!("unknown mode '{other}'"),
                ));
            }
        })
    }
}

/// Rounding of the nearest mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NearestMode {
    /// Round, halves go down.
    RoundPreferFloor,
    /// Round, halves go up.
    RoundPreferCeil,
    /// Always down.
    Floor,
    /// Always up.
    Ceil,
}

impl NearestMode {
    /// Parse the `nearest_mode` attribute.
    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "round_prefer_floor" => NearestMode::RoundPreferFloor,
            "round_prefer_ceil" => NearestMode::RoundPreferCeil,
            "floor" => NearestMode::Floor,
            "ceil" => NearestMode::Ceil,
            other => {
                return Err(Error::attr(
                    "nearest_mode",
                    format!("unknown mode '{other}'"),
                ));
            }
        })
    }
}

/// The interpolation kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kernel {
    /// Nearest neighbour with a rounding mode.
    Nearest(NearestMode),
    /// Linear (antialiased when downsampling if the flag is set).
    Linear { antialias: bool },
    /// Cubic with coefficient `a` (antialiased when downsampling if the flag is set).
    Cubic { a: f64, antialias: bool },
}

/// Settings shared by all axes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlanParams {
    /// Coordinate transformation.
    pub coord: CoordMode,
    /// Kernel.
    pub kernel: Kernel,
    /// Zero the weights of taps outside the input (and renormalize).
    pub exclude_outside: bool,
}

/// The contributions to one output position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Taps {
    /// (input index, weight) pairs.
    pub taps: Vec<(usize, f64)>,
    /// True when the position lies outside the crop region (tf_crop_and_resize).
    pub extrapolate: bool,
}

fn kernel_coeffs(kernel: Kernel, ratio: f64, scale: f64) -> Vec<f64> {
    match kernel {
        Kernel::Nearest(m) => {
            if ratio.fract() == 0.0 {
                return vec![0.0, 1.0];
            }
            let up = match m {
                NearestMode::RoundPreferFloor => ratio > 0.5,
                NearestMode::RoundPreferCeil => ratio >= 0.5,
                NearestMode::Floor => false,
                NearestMode::Ceil => true,
            };
            if up { vec![0.0, 1.0] } else { vec![1.0, 0.0] }
        }
        Kernel::Linear { antialias: false } => vec![1.0 - ratio, ratio],
        Kernel::Linear { antialias: true } => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let c: Vec<f64> = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            normalize(c)
        }
        Kernel::Cubic {
            a,
            antialias: false,
        } => {
            let r = ratio;
            let q = 1.0 - ratio;
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
            ]
        }
        Kernel::Cubic { a, antialias: true } => {
            let s = scale.min(1.0);
            let cubic = |x: f64| {
                let x = x.abs();
                let (x2, x3) = (x * x, x * x * x);
                if x <= 1.0 {
                    (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
                } else if x < 2.0 {
                    a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let start = (-2.0 / s).floor() as i64 + 1;
            let end = 2 - start;
            normalize(
                (start..end)
                    .map(|i| cubic(s * (i as f64 - ratio)))
                    .collect(),
            )
        }
    }
}

fn normalize(c: Vec<f64>) -> Vec<f64> {
    let sum: f64 = c.iter().sum();
    if sum == 0.0 {
        c
    } else {
        c.into_iter().map(|x| x / sum).collect()
    }
}

/// The sampling plan of one axis: `input` positions resized to `output` with `scale`;
/// `roi` is the (start, end) crop region for tf_crop_and_resize.
pub(crate) fn axis_plan(
    p: &PlanParams,
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
) -> Result<Vec<Taps>> {
    if input == 0 && output > 0 {
        return Err(Error::shape(
            "cannot resize an empty axis to a non-empty one",
        ));
    }
    let antialias = matches!(
        p.kernel,
        Kernel::Linear { antialias: true }
            | Kernel::Cubic {
                antialias: true,
                ..
            }
    );
    if antialias && scale < 1e-4 {
        return Err(Error::input(format!(
            "antialiased scale {scale} is too small"
        )));
    }
    let w = input as f64;
    let out_w = scale * w;
    let mut plan = Vec::with_capacity(output);
    for y in 0..output {
        let y = y as f64;
        let mut extrapolate = false;
        let x = match p.coord {
            CoordMode::AlignCorners => {
                if out_w == 1.0 {
                    0.0
                } else {
                    y * (w - 1.0) / (out_w - 1.0)
                }
            }
            CoordMode::Asymmetric => y / scale,
            CoordMode::TfCropAndResize => {
                let x = if out_w == 1.0 {
                    (roi.1 - roi.0) * (w - 1.0) / 2.0
                } else {
                    y * (roi.1 - roi.0) * (w - 1.0) / (out_w - 1.0)
                } + roi.0 * (w - 1.0);
                extrapolate = x < 0.0 || x > w - 1.0;
                x
            }
            CoordMode::PytorchHalfPixel => {
                if out_w == 1.0 {
                    -0.5
                } else {
                    (y + 0.5) / scale - 0.5
                }
            }
            CoordMode::HalfPixel => (y + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                let adjustment = output as f64 / out_w;
                let offset = w / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / scale - 0.5
            }
        };
        if !x.is_finite() {
            return Err(Error::input("resize coordinates are not finite"));
        }
        let xf = x.floor();
        let ratio = if x == xf { 1.0 } else { x - xf };
        let mut coeffs = kernel_coeffs(p.kernel, ratio, scale);
        let n = coeffs.len() as i64;
        let pad = (n + 1) / 2;
        let xp = x + pad as f64;
        let pp = xp.floor();
        let frac = xp - pp;
        let offset = if n % 2 == 0 {
            if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 }
        } else {
            let base = -((n - 1) / 2);
            if frac <= 0.5 { base } else { base + 1 }
        };
        let start = pp as i64 + offset - pad;
        let idx: Vec<i64> = (0..n).map(|j| start + j).collect();
        if p.exclude_outside {
            for (c, &i) in coeffs.iter_mut().zip(&idx) {
                if i < 0 || i >= input as i64 {
                    *c = 0.0;
                }
            }
            let sum: f64 = coeffs.iter().sum();
            let sum = if sum == 0.0 { 1.0 } else { sum };
            for c in &mut coeffs {
                *c /= sum;
            }
        }
        let last = input.saturating_sub(1) as i64;
        let taps = idx
            .iter()
            .zip(&coeffs)
            .filter(|(_, c)| **c != 0.0)
            .map(|(&i, &c)| (i.clamp(0, last) as usize, c))
            .collect();
        plan.push(Taps { taps, extrapolate });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_half_pixel_upsample() {
        let p = PlanParams {
            coord: CoordMode::HalfPixel,
            kernel: Kernel::Nearest(NearestMode::RoundPreferFloor),
            exclude_outside: false,
        };
        let plan = axis_plan(&p, 2, 4, 2.0, (0.0, 1.0)).unwrap();
        let picks: Vec<usize> = plan.iter().map(|t| t.taps[0].0).collect();
        assert_eq!(picks, vec![0, 0, 1, 1]);
    }

    #[test]
    fn linear_weights_sum_to_one() {
        let p = PlanParams {
            coord: CoordMode::AlignCorners,
            kernel: Kernel::Linear { antialias: false },
            exclude_outside: false,
        };
        let plan = axis_plan(&p, 3, 5, 5.0 / 3.0, (0.0, 1.0)).unwrap();
        assert_eq!(plan[2].taps, vec![(1, 1.0)]);
        for t in plan {
            let s: f64 = t.taps.iter().map(|x| x.1).sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
    }
}
