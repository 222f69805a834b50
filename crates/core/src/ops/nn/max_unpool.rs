//! `MaxUnpool`: scatter pooled values back to the positions recorded by `MaxPool`'s indices.

use super::common::{WindowAttrs, check_attrs, float_tensor, float_vec, split_nc};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Partial inverse of MaxPool.
#[derive(Debug)]
pub struct MaxUnpool {
    window: WindowAttrs,
    kernel: Vec<usize>,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["kernel_shape", "pads", "strides"])?;
    let window = WindowAttrs::parse(ctx.attrs)?;
    let kernel = window
        .kernel
        .clone()
        .ok_or_else(|| Error::attr("kernel_shape", "required attribute is missing"))?;
    Ok(Box::new(MaxUnpool { window, kernel }))
}

impl Op for MaxUnpool {
    fn op_type(&self) -> &str {
        "MaxUnpool"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|x| vec![TensorFact::default_with(x.fact.dtype)])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, idx) = (input(inputs, 0)?, input(inputs, 1)?);
        if idx.shape() != x.shape() {
            return Err(Error::shape(format!(
                "indices {:?} must have the shape of X {:?}",
                idx.shape(),
                x.shape()
            )));
        }
        let (n, c, spatial) = split_nc(x.shape(), "MaxUnpool")?;
        let nd = spatial.len();
        let strides = self.window.strides.clone().unwrap_or_else(|| vec![1; nd]);
        let pads = self.window.pads.clone().unwrap_or_else(|| vec![0; 2 * nd]);
        if strides.len() != nd || pads.len() != 2 * nd || self.kernel.len() != nd {
            return Err(Error::shape(
                "kernel/strides/pads do not fit the input rank",
            ));
        }
        let mut inferred = vec![n, c];
        for d in 0..nd {
            let full = (spatial[d].max(1) - 1) * strides[d] + self.kernel[d];
            inferred.push(full.saturating_sub(pads[d] + pads[nd + d]));
        }
        let total: usize = inferred.iter().product();
        let mut y = vec![0.0; total];
        for (v, i) in float_vec(x)?.into_iter().zip(idx.to_i64_vec()?) {
            let slot = usize::try_from(i)
                .ok()
                .filter(|&i| i < total)
                .ok_or_else(|| {
                    Error::input(format!("index {i} is out of range for {inferred:?}"))
                })?;
            y[slot] = v;
        }
        let Some(s) = opt_input(inputs, 2) else {
            return Ok(vec![float_tensor(x.dtype(), &inferred, y)?]);
        };
        let v = s.to_i64_vec()?;
        if v.len() != x.rank() || v.iter().zip(&inferred).any(|(&d, &i)| d < i as i64) {
            return Err(Error::shape(format!(
                "output_shape {v:?} must cover the unpooled shape {inferred:?}"
            )));
        }
        let shape: Vec<usize> = v.into_iter().map(|d| d as usize).collect();
        let mut out = vec![0.0; shape.iter().product()];
        let mut at = vec![0usize; shape.len()];
        for (k, val) in y.into_iter().enumerate() {
            super::common::unravel(k, &inferred, &mut at);
            let off = at.iter().zip(&shape).fold(0, |acc, (&a, &d)| acc * d + a);
            out[off] = val;
        }
        let y = out;
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}

trait DtypeOnly {
    fn default_with(dtype: Option<crate::DataType>) -> TensorFact;
}

impl DtypeOnly for TensorFact {
    fn default_with(dtype: Option<crate::DataType>) -> TensorFact {
        TensorFact { dtype, shape: None }
    }
}
