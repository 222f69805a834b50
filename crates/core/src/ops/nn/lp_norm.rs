//! `LpNormalization`: divide by the L1 or L2 norm along one axis.

use super::common::{check_attrs, float_tensor, float_vec, same_as_first};
use crate::ops::util::{input, normalize_axis};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Lp normalization along an axis.
#[derive(Debug)]
pub struct LpNorm {
    axis: i64,
    p: i64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "p"])?;
    let p = ctx.attrs.int_or("p", 2)?;
    if p != 1 && p != 2 {
        return Err(Error::attr("p", format!("must be 1 or 2, got {p}")));
    }
    Ok(Box::new(LpNorm {
        axis: ctx.attrs.int_or("axis", -1)?,
        p,
    }))
}

impl Op for LpNorm {
    fn op_type(&self) -> &str {
        "LpNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(same_as_first(inputs))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape();
        let a = normalize_axis(self.axis, shape.len())?;
        let n = shape.get(a).copied().unwrap_or(1);
        let inner: usize = shape.get(a + 1..).map(|s| s.iter().product()).unwrap_or(1);
        let outer: usize = shape[..a.min(shape.len())].iter().product();
        let mut y = float_vec(x)?;
        for o in 0..outer {
            for i in 0..inner {
                let idx = |k: usize| (o * n + k) * inner + i;
                let norm = if self.p == 1 {
                    (0..n).map(|k| y[idx(k)].abs()).sum::<f64>()
                } else {
                    (0..n).map(|k| y[idx(k)] * y[idx(k)]).sum::<f64>().sqrt()
                };
                for k in 0..n {
                    let j = idx(k);
                    y[j] = if norm == 0.0 { 0.0 } else { y[j] / norm };
                }
            }
        }
        Ok(vec![float_tensor(x.dtype(), shape, y)?])
    }
}
