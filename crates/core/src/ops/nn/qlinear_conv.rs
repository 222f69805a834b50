//! `QLinearConv`: quantized convolution with requantization to the output scale.

use super::common::{WindowAttrs, check_attrs, int_tensor};
use super::conv::{CONV_ATTRS, infer_conv, parse_group};
use super::conv_integer::conv_int;
use super::quant::{qrange, round_sat, scale_values, to_precision};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Quantized convolution.
#[derive(Debug)]
pub struct QLinearConv {
    window: WindowAttrs,
    group: usize,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, CONV_ATTRS)?;
    Ok(Box::new(QLinearConv {
        window: WindowAttrs::parse(ctx.attrs)?,
        group: parse_group(ctx)?,
    }))
}

impl Op for QLinearConv {
    fn op_type(&self) -> &str {
        "QLinearConv"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match (inputs.first(), inputs.get(3)) {
            (Some(x), Some(w)) => {
                let dt = inputs.get(7).and_then(|z| z.fact.dtype).or(x.fact.dtype);
                Ok(infer_conv(&self.window, x.fact, w.fact, dt))
            }
            _ => Ok(Vec::new()),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let w = input(inputs, 3)?;
        let (mut acc, shape) = conv_int(
            &self.window,
            self.group,
            x,
            w,
            opt_input(inputs, 2),
            opt_input(inputs, 5),
        )?;
        let m = shape[1];
        let per: usize = shape[2..].iter().product();
        if let Some(b) = opt_input(inputs, 8) {
            if b.dtype() != DataType::I32 || b.len() != m {
                return Err(Error::shape(format!("B must be {m} int32 values")));
            }
            let bv = b.to_i64_vec()?;
            for (k, v) in acc.iter_mut().enumerate() {
                *v += bv[(k / per.max(1)) % m];
            }
        }
        let st = input(inputs, 1)?.dtype();
        let sx = scale_values(input(inputs, 1)?, "x_scale")?;
        let sw = scale_values(input(inputs, 4)?, "w_scale")?;
        let sy = scale_values(input(inputs, 6)?, "y_scale")?;
        if sx.len() != 1 || sy.len() != 1 || (sw.len() != 1 && sw.len() != m) {
            return Err(Error::shape(
                "x_scale/y_scale must be scalars, w_scale scalar or per output channel",
            ));
        }
        let out_dt = opt_input(inputs, 7).map(Tensor::dtype).unwrap_or(x.dtype());
        let zp = match opt_input(inputs, 7) {
            Some(z) => z.to_f64_vec()?.first().copied().unwrap_or(0.0),
            None => 0.0,
        };
        let (lo, hi) = qrange(out_dt)?;
        let y = acc
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                let ws = sw[if sw.len() == 1 {
                    0
                } else {
                    (k / per.max(1)) % m
                }];
                let mult = to_precision(to_precision(sx[0] * ws, st) / sy[0], st);
                round_sat(v as f64 * mult + zp, lo, hi) as i64
            })
            .collect();
        Ok(vec![int_tensor(out_dt, &shape, y)?])
    }
}
