//! `BatchNormalization`: inference form, and training form with batch statistics.

use super::common::{channel_vec, check_attrs, float_tensor, float_vec, same_as_first};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Batch normalization over axis 1.
#[derive(Debug)]
pub struct BatchNorm {
    epsilon: f64,
    momentum: f64,
    training: bool,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["epsilon", "momentum", "training_mode"])?;
    let t = ctx.attrs.int_or("training_mode", 0)?;
    if t != 0 && t != 1 {
        return Err(Error::attr("training_mode", "must be 0 or 1"));
    }
    Ok(Box::new(BatchNorm {
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)? as f64,
        momentum: ctx.attrs.float_or("momentum", 0.9)? as f64,
        training: t == 1,
    }))
}

impl Op for BatchNorm {
    fn op_type(&self) -> &str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let mut out = same_as_first(inputs);
        if let (false, Some(m), Some(v)) = (out.is_empty(), inputs.get(3), inputs.get(4)) {
            out.push(m.fact.clone());
            out.push(v.fact.clone());
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        if x.rank() < 2 {
            return Err(Error::shape(format!(
                "X needs rank >= 2, got {:?}",
                x.shape()
            )));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let inner: usize = x.shape()[2..].iter().product();
        let scale = channel_vec(input(inputs, 1)?, c, "scale")?;
        let bias = channel_vec(input(inputs, 2)?, c, "B")?;
        let mean_t = input(inputs, 3)?;
        let var_t = input(inputs, 4)?;
        let mut mean = channel_vec(mean_t, c, "input_mean")?;
        let mut var = channel_vec(var_t, c, "input_var")?;
        let xv = float_vec(x)?;
        let mut running = None;
        if self.training {
            let cnt = (n * inner).max(1) as f64;
            let mut bm = vec![0.0; c];
            let mut bv = vec![0.0; c];
            for ch in 0..c {
                let vals = (0..n).flat_map(|b| xv[(b * c + ch) * inner..][..inner].iter());
                bm[ch] = vals.clone().sum::<f64>() / cnt;
                bv[ch] = vals.map(|v| (v - bm[ch]) * (v - bm[ch])).sum::<f64>() / cnt;
            }
            let rm: Vec<f64> = (0..c)
                .map(|i| mean[i] * self.momentum + bm[i] * (1.0 - self.momentum))
                .collect();
            let rv: Vec<f64> = (0..c)
                .map(|i| var[i] * self.momentum + bv[i] * (1.0 - self.momentum))
                .collect();
            running = Some((rm, rv));
            mean = bm;
            var = bv;
        }
        let mut y = xv;
        for (k, chunk) in y.chunks_mut(inner.max(1)).enumerate() {
            let ch = k % c;
            let inv = 1.0 / (var[ch] + self.epsilon).sqrt();
            chunk
                .iter_mut()
                .for_each(|v| *v = (*v - mean[ch]) * inv * scale[ch] + bias[ch]);
        }
        let mut out = vec![float_tensor(x.dtype(), x.shape(), y)?];
        if let Some((rm, rv)) = running {
            out.push(float_tensor(mean_t.dtype(), &[c], rm)?);
            out.push(float_tensor(var_t.dtype(), &[c], rv)?);
        }
        Ok(out)
    }
}
