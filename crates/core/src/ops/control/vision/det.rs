//! `Det`: determinants of square matrices in the last two dimensions.

use crate::ops::control::common::{check_attrs, float_data, from_f64};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// `[*, M, M]` to `[*]` by LU decomposition with partial pivoting.
#[derive(Debug)]
pub struct Det;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(Det))
}

/// Determinant of one row-major `m x m` matrix.
fn det(mut a: Vec<f64>, m: usize) -> f64 {
    let mut d = 1.0;
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
            .unwrap_or(col);
        if a[pivot * m + col] == 0.0 {
            return 0.0;
        }
        if pivot != col {
            for k in 0..m {
                a.swap(pivot * m + k, col * m + k);
            }
            d = -d;
        }
        let p = a[col * m + col];
        d *= p;
        for row in col + 1..m {
            let f = a[row * m + col] / p;
            for k in col..m {
                a[row * m + k] -= f * a[col * m + k];
            }
        }
    }
    d
}

impl Op for Det {
    fn op_type(&self) -> &str {
        "Det"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let s = x.shape();
        let r = s.len();
        if r < 2 || s[r - 1] != s[r - 2] {
            return Err(Error::shape(format!("Det needs [*, M, M], got {s:?}")));
        }
        let m = s[r - 1];
        let data = float_data(x, "input")?;
        let batch: usize = s[..r - 2].iter().product();
        let out = (0..batch)
            .map(|b| det(data[b * m * m..(b + 1) * m * m].to_vec(), m))
            .collect();
        Ok(vec![(from_f64(x.dtype(), &s[..r - 2], out)?)])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn det_with_pivoting() {
        assert_eq!(super::det(vec![0.0, 1.0, 1.0, 0.0], 2), -1.0);
        assert!(
            (super::det(vec![2.0, 1.0, 1.0, 4.0, 3.0, 2.0, 1.0, 1.0, 5.0], 3) - 9.0).abs() < 1e-9
        );
    }
}
