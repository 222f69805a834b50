//! `DequantizeLinear`: `(x - zero_point) * scale`, per tensor, per axis or blocked.

use super::common::{check_attrs, float_tensor, same_as_first};
use super::quant::{param_index, scale_values};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Linear dequantization.
#[derive(Debug)]
pub struct DequantizeLinear {
    axis: i64,
    block_size: i64,
    output_dtype: Option<DataType>,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "block_size", "output_dtype"])?;
    let block_size = ctx.attrs.int_or("block_size", 0)?;
    if block_size < 0 {
        return Err(Error::attr("block_size", "must be >= 0"));
    }
    let output_dtype = match ctx.attrs.int_or("output_dtype", 0)? {
        0 => None,
        1 => Some(DataType::F32),
        10 => Some(DataType::F16),
        16 => Some(DataType::BF16),
        c => {
            return Err(Error::attr(
                "output_dtype",
                format!("unsupported type code {c}"),
            ));
        }
    };
    Ok(Box::new(DequantizeLinear {
        axis: ctx.attrs.int_or("axis", 1)?,
        block_size,
        output_dtype,
    }))
}

impl Op for DequantizeLinear {
    fn op_type(&self) -> &str {
        "DequantizeLinear"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let mut f = same_as_first(inputs);
        let dt = self
            .output_dtype
            .or_else(|| inputs.get(1).and_then(|s| s.fact.dtype));
        f.iter_mut().for_each(|x| x.dtype = dt);
        Ok(f)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let s = input(inputs, 1)?;
        match x.dtype() {
            DataType::U8 | DataType::I8 | DataType::U16 | DataType::I16 | DataType::I32 => {}
            d => return Err(Error::unsupported(format!("DequantizeLinear of {d}"))),
        }
        if !s.dtype().is_float() {
            return Err(Error::dtype(format!(
                "x_scale must be float, got {}",
                s.dtype()
            )));
        }
        let idx = param_index(x.shape(), s.shape(), self.axis, self.block_size)?;
        let scale = scale_values(s, "x_scale")?;
        let zp = match opt_input(inputs, 2) {
            Some(z) => {
                if z.dtype() != x.dtype() {
                    return Err(Error::dtype(format!(
                        "zero point is {} but x is {}",
                        z.dtype(),
                        x.dtype()
                    )));
                }
                if z.shape() != s.shape() && !(z.len() == 1 && s.len() == 1) {
                    return Err(Error::shape("zero point must have the shape of the scale"));
                }
                z.to_f64_vec()?
            }
            None => vec![0.0; scale.len()],
        };
        let y = x
            .to_f64_vec()?
            .iter()
            .zip(&idx)
            .map(|(&v, &i)| (v - zp[i]) * scale[i])
            .collect();
        let out = self.output_dtype.unwrap_or(s.dtype());
        Ok(vec![float_tensor(out, x.shape(), y)?])
    }
}
