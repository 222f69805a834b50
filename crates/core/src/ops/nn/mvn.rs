//! `MeanVarianceNormalization`: `(x - mean) / (std + 1e-9)` over `axes` (default [0, 2, 3]).

use super::common::{check_attrs, float_tensor, float_vec, same_as_first, unravel};
use crate::ops::util::{input, normalize_axis};
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};

/// Mean-variance normalization.
#[derive(Debug)]
pub struct Mvn {
    axes: Vec<i64>,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axes"])?;
    Ok(Box::new(Mvn {
        axes: ctx.attrs.ints_or("axes", vec![0, 2, 3])?,
    }))
}

impl Op for Mvn {
    fn op_type(&self) -> &str {
        "MeanVarianceNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(same_as_first(inputs))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape();
        let mut reduced = vec![false; shape.len()];
        for &a in &self.axes {
            reduced[normalize_axis(a, shape.len())?] = true;
        }
        // Key of each element: its index over the kept axes.
        let kept: Vec<usize> = (0..shape.len())
            .filter(|&d| !reduced[d])
            .map(|d| shape[d])
            .collect();
        let groups: usize = kept.iter().product();
        let xv = float_vec(x)?;
        let mut key = vec![0usize; xv.len()];
        let mut at = vec![0usize; shape.len()];
        for (k, slot) in key.iter_mut().enumerate() {
            unravel(k, shape, &mut at);
            *slot = (0..shape.len())
                .filter(|&d| !reduced[d])
                .fold(0, |acc, d| acc * shape[d] + at[d]);
        }
        let mut sum = vec![0.0; groups];
        let mut cnt = vec![0.0; groups];
        for (v, &g) in xv.iter().zip(&key) {
            sum[g] += v;
            cnt[g] += 1.0;
        }
        let mean: Vec<f64> = sum.iter().zip(&cnt).map(|(s, c)| s / c).collect();
        let mut sq = vec![0.0; groups];
        for (v, &g) in xv.iter().zip(&key) {
            sq[g] += (v - mean[g]) * (v - mean[g]);
        }
        let y = xv
            .iter()
            .zip(&key)
            .map(|(v, &g)| (v - mean[g]) / ((sq[g] / cnt[g]).sqrt() + 1e-9))
            .collect();
        Ok(vec![float_tensor(x.dtype(), shape, y)?])
    }
}
