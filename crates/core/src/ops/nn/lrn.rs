//! `LRN`: local response normalization across channels.

use super::common::{check_attrs, float_tensor, float_vec, same_as_first};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Local response normalization.
#[derive(Debug)]
pub struct Lrn {
    alpha: f64,
    beta: f64,
    bias: f64,
    size: usize,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["alpha", "beta", "bias", "size"])?;
    let size = ctx.attrs.int_req("size")?;
    if size < 1 {
        return Err(Error::attr("size", format!("must be >= 1, got {size}")));
    }
    Ok(Box::new(Lrn {
        alpha: ctx.attrs.float_or("alpha", 1e-4)? as f64,
        beta: ctx.attrs.float_or("beta", 0.75)? as f64,
        bias: ctx.attrs.float_or("bias", 1.0)? as f64,
        size: size as usize,
    }))
}

impl Op for Lrn {
    fn op_type(&self) -> &str {
        "LRN"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(same_as_first(inputs))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape();
        if shape.len() < 2 {
            return Err(Error::shape(format!("X needs rank >= 2, got {shape:?}")));
        }
        let (n, c) = (shape[0], shape[1]);
        let inner: usize = shape[2..].iter().product();
        let xv = float_vec(x)?;
        let lo = (self.size - 1) / 2;
        let hi = self.size - 1 - lo;
        let mut y = vec![0.0; xv.len()];
        for b in 0..n {
            for ch in 0..c {
                let first = ch.saturating_sub(lo);
                let last = (ch + hi).min(c - 1);
                for i in 0..inner {
                    let sq: f64 = (first..=last)
                        .map(|k| {
                            let v = xv[(b * c + k) * inner + i];
                            v * v
                        })
                        .sum();
                    let j = (b * c + ch) * inner + i;
                    y[j] = xv[j] / (self.bias + self.alpha / self.size as f64 * sq).powf(self.beta);
                }
            }
        }
        Ok(vec![float_tensor(x.dtype(), shape, y)?])
    }
}
