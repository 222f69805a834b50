//! `AffineGrid`: the sampling grid of a batch of 2-D or 3-D affine transforms.

use crate::ops::control::common::{check_attrs, float_data, from_f64};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// `theta [N, 2, 3]` with `size [N, C, H, W]` gives `[N, H, W, 2]`; `theta [N, 3, 4]` with
/// `size [N, C, D, H, W]` gives `[N, D, H, W, 3]`.
#[derive(Debug)]
pub struct AffineGrid {
    align_corners: bool,
}

/// Build from `align_corners` (default 0).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["align_corners"])?;
    let align_corners = match ctx.attrs.int_or("align_corners", 0)? {
        0 => false,
        1 => true,
        _ => return Err(Error::attr("align_corners", "must be 0 or 1")),
    };
    Ok(Box::new(AffineGrid { align_corners }))
}

impl AffineGrid {
    /// Normalized base coordinate of index `i` along a dimension of length `len`.
    fn base(&self, i: usize, len: usize) -> f64 {
        if self.align_corners {
            if len <= 1 {
                -1.0
            } else {
                -1.0 + 2.0 * i as f64 / (len - 1) as f64
            }
        } else {
            (2 * i + 1) as f64 / len as f64 - 1.0
        }
    }
}

impl Op for AffineGrid {
    fn op_type(&self) -> &str {
        "AffineGrid"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let theta = input(inputs, 0)?;
        let size = input(inputs, 1)?.to_i64_vec()?;
        if size.iter().any(|&s| s < 0) {
            return Err(Error::input("size entries must be >= 0"));
        }
        let size: Vec<usize> = size.into_iter().map(|s| s as usize).collect();
        let r = match size.len() {
            4 => 2,
            5 => 3,
            l => {
                return Err(Error::input(format!(
                    "size must have 4 or 5 entries, got {l}"
                )));
            }
        };
        let n = size[0];
        if theta.shape() != [n, r, r + 1] {
            return Err(Error::shape(format!(
                "theta must be [{n}, {r}, {}], got {:?}",
                r + 1,
                theta.shape()
            )));
        }
        let th = float_data(theta, "theta")?;
        let spatial = &size[2..];
        let overflow = || Error::input("the grid size overflows");
        let points = spatial
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        points
            .checked_mul(n)
            .and_then(|t| t.checked_mul(r))
            .ok_or_else(overflow)?;
        let mut out = Vec::with_capacity(n * points * r);
        for b in 0..n {
            let t = &th[b * r * (r + 1)..(b + 1) * r * (r + 1)];
            for p in 0..points {
                // Homogeneous point (x, y[, z], 1): x runs along the last spatial dim.
                let mut rem = p;
                let mut idx = vec![0usize; r];
                for i in (0..r).rev() {
                    idx[i] = rem % spatial[i];
                    rem /= spatial[i];
                }
                let mut hom: Vec<f64> = (0..r)
                    .map(|k| self.base(idx[r - 1 - k], spatial[r - 1 - k]))
                    .collect();
                hom.push(1.0);
                for row in 0..r {
                    out.push((0..=r).map(|k| t[row * (r + 1) + k] * hom[k]).sum());
                }
            }
        }
        let mut shape = vec![n];
        shape.extend_from_slice(spatial);
        shape.push(r);
        Ok(vec![(from_f64(theta.dtype(), &shape, out)?)])
    }
}
