//! `InstanceNormalization`: normalize each (batch, channel) plane, then scale and shift.

use super::common::{channel_vec, check_attrs, float_tensor, float_vec, mean_var, same_as_first};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Instance normalization.
#[derive(Debug)]
pub struct InstanceNorm {
    epsilon: f64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["epsilon"])?;
    Ok(Box::new(InstanceNorm {
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)? as f64,
    }))
}

impl Op for InstanceNorm {
    fn op_type(&self) -> &str {
        "InstanceNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(same_as_first(inputs))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        if x.rank() < 3 {
            return Err(Error::shape(format!(
                "X needs rank >= 3, got {:?}",
                x.shape()
            )));
        }
        let c = x.shape()[1];
        let inner: usize = x.shape()[2..].iter().product();
        let scale = channel_vec(input(inputs, 1)?, c, "scale")?;
        let bias = channel_vec(input(inputs, 2)?, c, "B")?;
        let mut y = float_vec(x)?;
        for (k, chunk) in y.chunks_mut(inner.max(1)).enumerate() {
            let ch = k % c;
            let (m, v) = mean_var(chunk);
            let inv = 1.0 / (v + self.epsilon).sqrt();
            chunk
                .iter_mut()
                .for_each(|x| *x = (*x - m) * inv * scale[ch] + bias[ch]);
        }
        Ok(vec![float_tensor(x.dtype(), x.shape(), y)?])
    }
}
