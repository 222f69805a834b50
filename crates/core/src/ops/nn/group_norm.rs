//! `GroupNormalization` (opset 21): normalize channel groups, then per-channel scale and bias.

use super::common::{
    channel_vec, check_attrs, float_tensor, float_vec, mean_var, parse_stash_type, same_as_first,
};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Group normalization.
#[derive(Debug)]
pub struct GroupNorm {
    groups: usize,
    epsilon: f64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["epsilon", "num_groups", "stash_type"])?;
    parse_stash_type(ctx.attrs)?;
    let g = ctx.attrs.int_req("num_groups")?;
    if g < 1 {
        return Err(Error::attr("num_groups", format!("must be >= 1, got {g}")));
    }
    Ok(Box::new(GroupNorm {
        groups: g as usize,
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)? as f64,
    }))
}

impl Op for GroupNorm {
    fn op_type(&self) -> &str {
        "GroupNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(same_as_first(inputs))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        if x.rank() < 2 {
            return Err(Error::shape(format!(
                "X needs rank >= 2, got {:?}",
                x.shape()
            )));
        }
        let c = x.shape()[1];
        if c % self.groups != 0 {
            return Err(Error::shape(format!(
                "num_groups {} does not divide {c} channels",
                self.groups
            )));
        }
        let inner: usize = x.shape()[2..].iter().product();
        let scale = channel_vec(input(inputs, 1)?, c, "scale")?;
        let bias = channel_vec(input(inputs, 2)?, c, "bias")?;
        let per = c / self.groups * inner;
        let mut y = float_vec(x)?;
        if per > 0 {
            for (k, chunk) in y.chunks_mut(per).enumerate() {
                let (m, v) = mean_var(chunk);
                let inv = 1.0 / (v + self.epsilon).sqrt();
                let first = (k % self.groups) * (c / self.groups);
                for (i, x) in chunk.iter_mut().enumerate() {
                    let ch = first + i / inner.max(1);
                    *x = (*x - m) * inv * scale[ch] + bias[ch];
                }
            }
        }
        Ok(vec![float_tensor(x.dtype(), x.shape(), y)?])
    }
}
