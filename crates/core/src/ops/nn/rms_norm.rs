//! `RMSNormalization` (opset 23): `x / sqrt(mean(x^2) + epsilon) * scale` over axes from `axis`.

use super::common::{broadcast_float, check_attrs, float_tensor, float_vec, parse_stash_type};
use crate::ops::util::{input, normalize_axis};
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};

/// RMS normalization.
#[derive(Debug)]
pub struct RmsNorm {
    axis: i64,
    epsilon: f64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "epsilon", "stash_type"])?;
    parse_stash_type(ctx.attrs)?;
    Ok(Box::new(RmsNorm {
        axis: ctx.attrs.int_or("axis", -1)?,
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)? as f64,
    }))
}

impl Op for RmsNorm {
    fn op_type(&self) -> &str {
        "RMSNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let (Some(x), Some(s)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Vec::new());
        };
        Ok(vec![TensorFact {
            dtype: s.fact.dtype,
            shape: x.fact.shape.clone(),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let scale_t = input(inputs, 1)?;
        let shape = x.shape();
        let a = normalize_axis(self.axis, shape.len())?;
        let inner: usize = shape[a..].iter().product();
        let scale = broadcast_float(scale_t, &shape[a..], "scale")?;
        let mut y = float_vec(x)?;
        if inner > 0 {
            for chunk in y.chunks_mut(inner) {
                let ms = chunk.iter().map(|v| v * v).sum::<f64>() / inner as f64;
                let inv = 1.0 / (ms + self.epsilon).sqrt();
                for (i, v) in chunk.iter_mut().enumerate() {
                    *v = *v * inv * scale[i];
                }
            }
        }
        Ok(vec![float_tensor(scale_t.dtype(), shape, y)?])
    }
}
