//! `GridSample`: sample an N-D input at normalized grid locations (nearest, linear or
//! cubic interpolation; zeros, border or reflection padding).

use crate::ops::control::common::{check_attrs, float_data, from_f64};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// Samples `X [N, C, D1..Dr]` at `grid [N, H1..Hr, r]` (coordinates in `[-1, 1]`, last
/// spatial dimension first); output `[N, C, H1..Hr]`.
#[derive(Debug)]
pub struct GridSample {
    mode: Mode,
    padding: Padding,
    align_corners: bool,
}

/// Build from `mode` (`linear`/`bilinear`, `nearest`, `cubic`/`bicubic`), `padding_mode` and
/// `align_corners`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["mode", "padding_mode", "align_corners"])?;
    let mode = match ctx.attrs.string_or("mode", "linear".into())?.as_str() {
        "linear" | "bilinear" => Mode::Linear,
        "nearest" => Mode::Nearest,
        "cubic" | "bicubic" => Mode::Cubic,
        other => return Err(Error::attr("mode", format!("unknown mode '{other}'"))),
    };
    let padding = match ctx
        .attrs
        .string_or("padding_mode", "zeros".into())?
        .as_str()
    {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        other => {
            return Err(Error::attr(
                "padding_mode",
                format!("unknown mode '{other}'"),
            ));
        }
    };
    let align_corners = match ctx.attrs.int_or("align_corners", 0)? {
        0 => false,
        1 => true,
        _ => return Err(Error::attr("align_corners", "must be 0 or 1")),
    };
    Ok(Box::new(GridSample {
        mode,
        padding,
        align_corners,
    }))
}

/// Reflect `x` into `[lo, hi]` by folding at the nearer border repeatedly.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if range <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / range).trunc();
        let r = dx - n * range;
        if n as i64 % 2 == 0 { lo + r } else { hi - r }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / range).trunc();
        let r = dx - n * range;
        if n as i64 % 2 == 0 { hi - r } else { lo + r }
    } else {
        x
    }
}

fn cubic_coeffs(t: f64) -> [f64; 4] {
    let a = -0.75;
    let t = t.abs();
    let (t1, u, u1) = (t + 1.0, 1.0 - t, 2.0 - t);
    [
        ((a * t1 - 5.0 * a) * t1 + 8.0 * a) * t1 - 4.0 * a,
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
        ((a + 2.0) * u - (a + 3.0)) * u * u + 1.0,
        ((a * u1 - 5.0 * a) * u1 + 8.0 * a) * u1 - 4.0 * a,
    ]
}

impl GridSample {
    /// The index actually read for integer position `i` of a dimension of size `d`
    /// (`None` reads zero).
    fn index(&self, i: i64, d: usize, lo: f64, hi: f64) -> Option<usize> {
        match self.padding {
            Padding::Zeros => (i >= 0 && (i as usize) < d).then_some(i as usize),
            Padding::Border => Some(i.clamp(0, d as i64 - 1) as usize),
            Padding::Reflection => {
                let r = reflect(i as f64, lo, hi) as i64;
                Some(r.clamp(0, d as i64 - 1) as usize)
            }
        }
    }

    /// Per spatial dim: the (index, weight) taps for continuous coordinate `x`.
    fn taps(&self, x: f64, d: usize, lo: f64, hi: f64) -> Vec<(Option<usize>, f64)> {
        let mut x = x;
        if self.mode == Mode::Nearest {
            x = x.round_ties_even();
        }
        if x < lo || x > hi {
            match self.padding {
                Padding::Border => x = x.clamp(0.0, d as f64 - 1.0),
                Padding::Reflection => x = reflect(x, lo, hi),
                Padding::Zeros => {}
            }
        }
        match self.mode {
            Mode::Nearest => vec![(self.index(x as i64, d, lo, hi), 1.0)],
            Mode::Linear => {
                let x0 = x.floor();
                let t = x - x0;
                let i = x0 as i64;
                vec![
                    (self.index(i, d, lo, hi), 1.0 - t),
                    (self.index(i.saturating_add(1), d, lo, hi), t),
                ]
            }
            Mode::Cubic => {
                let x0 = x.floor();
                let c = cubic_coeffs(x - x0);
                let i = x0 as i64;
                (0..4)
                    .map(|k| {
                        (
                            self.index(i.saturating_add(k - 1), d, lo, hi),
                            c[k as usize],
                        )
                    })
                    .collect()
            }
        }
    }
}

impl Op for GridSample {
    fn op_type(&self) -> &str {
        "GridSample"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let grid = input(inputs, 1)?;
        let xs = x.shape();
        let gs = grid.shape();
        if xs.len() < 3 {
            return Err(Error::shape("X must be [N, C, D1, ..., Dr] with r >= 1"));
        }
        let r = xs.len() - 2;
        if gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
            return Err(Error::shape(format!(
                "grid must be [N, H1..H{r}, {r}] for X {xs:?}, got {gs:?}"
            )));
        }
        let (n, c) = (xs[0], xs[1]);
        let dims = &xs[2..];
        let plane: usize = dims.iter().product();
        let outs: usize = gs[1..=r].iter().product();
        if dims.contains(&0) && outs > 0 && n * c > 0 {
            return Err(Error::shape(format!(
                "X {xs:?} has an empty spatial dimension"
            )));
        }
        let (lo, hi): (Vec<f64>, Vec<f64>) = dims
            .iter()
            .map(|&d| {
                if self.align_corners {
                    (0.0, d as f64 - 1.0)
                } else {
                    (-0.5, d as f64 - 0.5)
                }
            })
            .unzip();
        let xd = float_data(x, "X")?;
        let gd = float_data(grid, "grid")?;
        let mut out = vec![0.0; n * c * outs];
        let mut strides = vec![1usize; r];
        for i in (0..r.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1];
        }
        for b in 0..n {
            for p in 0..outs {
                let g = &gd[(b * outs + p) * r..(b * outs + p + 1) * r];
                // Taps per dimension, then their tensor product as (offset, weight).
                let mut terms: Vec<(Option<usize>, f64)> = vec![(Some(0), 1.0)];
                for i in 0..r {
                    let nx = g[r - 1 - i];
                    let d = dims[i];
                    let xc = if self.align_corners {
                        (nx + 1.0) / 2.0 * (d as f64 - 1.0)
                    } else {
                        ((nx + 1.0) * d as f64 - 1.0) / 2.0
                    };
                    let taps = self.taps(xc, d, lo[i], hi[i]);
                    let stride = strides[i];
                    terms = terms
                        .iter()
                        .flat_map(|&(o, w)| {
                            taps.iter().map(move |&(ti, tw)| {
                                (o.zip(ti).map(|(o, ti)| o + ti * stride), w * tw)
                            })
                        })
                        .collect();
                }
                for ch in 0..c {
                    let base = (b * c + ch) * plane;
                    let v: f64 = terms
                        .iter()
                        .map(|&(o, w)| o.map_or(0.0, |o| w * xd[base + o]))
                        .sum();
                    out[(b * c + ch) * outs + p] = v;
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend_from_slice(&gs[1..=r]);
        Ok(vec![(from_f64(x.dtype(), &shape, out)?)])
    }
}
