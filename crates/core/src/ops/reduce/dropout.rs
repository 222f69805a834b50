//! `Dropout` (opset 22): identity in inference mode; in training mode drops elements with
//! probability `ratio` and scales the kept ones by `1 / (1 - ratio)`.

use super::common::{check_attrs, float_f64s, float_like};
use super::mt19937::Mt19937;
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};
use std::sync::atomic::{AtomicU64, Ordering};

/// Dropout with an optional seed for its training-mode mask.
#[derive(Debug)]
pub struct Dropout {
    seed: Option<i64>,
    /// Advances on every unseeded training-mode run so masks differ between runs.
    counter: AtomicU64,
}

/// Build from attributes (`seed`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["seed"])?;
    Ok(Box::new(Dropout {
        seed: ctx.attrs.int("seed")?,
        counter: AtomicU64::new(0),
    }))
}

fn scalar_of(t: &Tensor, what: &str) -> Result<f64> {
    if t.len() != 1 {
        return Err(Error::shape(format!(
            "Dropout {what} must be a scalar, got shape {:?}",
            t.shape()
        )));
    }
    t.to_f64_vec()?
        .first()
        .copied()
        .ok_or_else(|| Error::input(format!("Dropout {what} is empty")))
}

impl Op for Dropout {
    fn op_type(&self) -> &str {
        "Dropout"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let Some(x) = inputs.first() else {
            return Ok(Vec::new());
        };
        Ok(vec![
            x.fact.clone(),
            TensorFact {
                dtype: Some(DataType::Bool),
                shape: x.fact.shape.clone(),
            },
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        if !x.dtype().is_float() {
            return Err(Error::dtype(format!(
                "Dropout data must be a float tensor, got {}",
                x.dtype()
            )));
        }
        let ratio = match opt_input(inputs, 1) {
            Some(r) if r.dtype().is_float() => scalar_of(r, "ratio")?,
            Some(r) => {
                return Err(Error::dtype(format!(
                    "Dropout ratio must be a float, got {}",
                    r.dtype()
                )));
            }
            None => 0.5,
        };
        let training = match opt_input(inputs, 2) {
            Some(t) if t.dtype() == DataType::Bool => scalar_of(t, "training_mode")? != 0.0,
            Some(t) => {
                return Err(Error::dtype(format!(
                    "Dropout training_mode must be bool, got {}",
                    t.dtype()
                )));
            }
            None => false,
        };
        if !(0.0..1.0).contains(&ratio) {
            return Err(Error::input(format!(
                "Dropout ratio must be in [0, 1), got {ratio}"
            )));
        }
        if !training || ratio == 0.0 {
            let mask = Tensor::from_vec(x.shape(), vec![true; x.len()])?;
            return Ok(vec![x.clone(), mask]);
        }
        // A given seed draws the same mask as numpy's RandomState(seed) (the ONNX reference);
        // without one, every run draws a new mask.
        let seed = match self.seed {
            Some(s) => s as u32,
            None => {
                let run = self.counter.fetch_add(1, Ordering::Relaxed);
                (run.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 ^ 0x5EED
            }
        };
        let mut rng = Mt19937::new(seed);
        let data = float_f64s(x)?;
        let scale = 1.0 / (1.0 - ratio);
        let mut mask = Vec::with_capacity(data.len());
        let mut out = Vec::with_capacity(data.len());
        for v in data {
            let u = rng.next_f64();
            let keep = u >= ratio;
            mask.push(keep);
            out.push(if keep { v * scale } else { 0.0 });
        }
        Ok(vec![
            float_like(x, x.shape(), &out)?,
            Tensor::from_vec(x.shape(), mask)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Box<dyn Op> {
        let attrs = crate::Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 2,
        };
        build(&ctx).unwrap()
    }

    #[test]
    fn inference_is_identity_with_full_mask() {
        let x = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
        let r = Tensor::scalar(0.9f32);
        let y = op().eval(&[Some(&x), Some(&r)]).unwrap();
        assert_eq!(y[0], x);
        assert_eq!(y[1], Tensor::from_vec(&[3], vec![true; 3]).unwrap());
    }

    #[test]
    fn training_drops_and_scales() {
        let x = Tensor::from_vec(&[1000], vec![1.0f64; 1000]).unwrap();
        let r = Tensor::scalar(0.5f32);
        let t = Tensor::scalar(true);
        let y = op().eval(&[Some(&x), Some(&r), Some(&t)]).unwrap();
        let vals = y[0].to_f64_vec().unwrap();
        let kept = vals.iter().filter(|v| **v == 2.0).count();
        assert!(vals.iter().all(|v| *v == 0.0 || *v == 2.0));
        assert!((350..650).contains(&kept), "kept {kept}");
        let bad = Tensor::scalar(1.5f32);
        assert!(op().eval(&[Some(&x), Some(&bad), Some(&t)]).is_err());
    }
}
