//! `ConvInteger`: convolution of 8-bit integers with zero points, into i32.

use super::common::{WindowAttrs, check_attrs, int_tensor};
use super::conv::{CONV_ATTRS, conv_f64, conv_geometry, infer_conv, parse_group};
use super::matmul_integer::{check_8bit, sub_zero_point};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, InferInput, Op, Result, Tensor, TensorFact};

/// Integer convolution.
#[derive(Debug)]
pub struct ConvInteger {
    window: WindowAttrs,
    group: usize,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, CONV_ATTRS)?;
    Ok(Box::new(ConvInteger {
        window: WindowAttrs::parse(ctx.attrs)?,
        group: parse_group(ctx)?,
    }))
}

/// Integer convolution of zero-point-adjusted operands; exact in f64 for 8-bit inputs.
pub fn conv_int(
    window: &WindowAttrs,
    group: usize,
    x: &Tensor,
    w: &Tensor,
    xzp: Option<&Tensor>,
    wzp: Option<&Tensor>,
) -> Result<(Vec<i64>, Vec<usize>)> {
    check_8bit(x, "x")?;
    check_8bit(w, "w")?;
    let g = conv_geometry(window, group, x.shape(), w.shape())?;
    let mut xv = x.to_i64_vec()?;
    let mut wv = w.to_i64_vec()?;
    if let Some(z) = xzp
        && z.len() != 1
    {
        return Err(crate::Error::unsupported("per-channel x_zero_point"));
    }
    sub_zero_point(&mut xv, x.shape(), xzp, 0, "x_zero_point")?;
    sub_zero_point(&mut wv, w.shape(), wzp, 0, "w_zero_point")?;
    let xf: Vec<f64> = xv.into_iter().map(|v| v as f64).collect();
    let wf: Vec<f64> = wv.into_iter().map(|v| v as f64).collect();
    let y = conv_f64(&xf, x.shape(), &wf, w.shape(), group, &g)?;
    let mut shape = vec![x.shape()[0], w.shape()[0]];
    shape.extend(&g.out);
    Ok((y.into_iter().map(|v| v.round() as i64).collect(), shape))
}

impl Op for ConvInteger {
    fn op_type(&self) -> &str {
        "ConvInteger"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match (inputs.first(), inputs.get(1)) {
            (Some(x), Some(w)) => Ok(infer_conv(
                &self.window,
                x.fact,
                w.fact,
                Some(DataType::I32),
            )),
            _ => Ok(Vec::new()),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (y, shape) = conv_int(
            &self.window,
            self.group,
            input(inputs, 0)?,
            input(inputs, 1)?,
            opt_input(inputs, 2),
            opt_input(inputs, 3),
        )?;
        Ok(vec![int_tensor(DataType::I32, &shape, y)?])
    }
}
