//! `QuantizeLinear`: `saturate(round(x / scale) + zero_point)`, per tensor, per axis or blocked.

use super::common::{check_attrs, int_tensor, same_as_first};
use super::quant::{param_index, qrange, qtype_from_code, round_sat, scale_values, to_precision};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Linear quantization.
#[derive(Debug)]
pub struct QuantizeLinear {
    axis: i64,
    block_size: i64,
    output_dtype: Option<DataType>,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "axis",
            "block_size",
            "output_dtype",
            "saturate",
            "precision",
        ],
    )?;
    let block_size = ctx.attrs.int_or("block_size", 0)?;
    if block_size < 0 {
        return Err(Error::attr("block_size", "must be >= 0"));
    }
    if ctx.attrs.int_or("precision", 0)? != 0 {
        return Err(Error::attr(
            "precision",
            "only the default precision is supported",
        ));
    }
    Ok(Box::new(QuantizeLinear {
        axis: ctx.attrs.int_or("axis", 1)?,
        block_size,
        output_dtype: qtype_from_code(ctx.attrs.int_or("output_dtype", 0)?)?,
    }))
}

impl QuantizeLinear {
    fn out_type(&self, zp: Option<DataType>) -> Result<DataType> {
        match (zp, self.output_dtype) {
            (Some(z), Some(o)) if z != o => Err(Error::dtype(format!(
                "zero point is {z} but output_dtype is {o}"
            ))),
            (Some(z), _) => Ok(z),
            (None, Some(o)) => Ok(o),
            (None, None) => Ok(DataType::U8),
        }
    }
}

impl Op for QuantizeLinear {
    fn op_type(&self) -> &str {
        "QuantizeLinear"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let mut f = same_as_first(inputs);
        let zp = inputs.get(2).and_then(|z| z.fact.dtype);
        let zp_known = inputs.get(2).is_none() || zp.is_some();
        for x in &mut f {
            x.dtype = if zp_known {
                Some(self.out_type(zp)?)
            } else {
                None
            };
        }
        Ok(f)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let s = input(inputs, 1)?;
        let zp = opt_input(inputs, 2);
        let out = self.out_type(zp.map(Tensor::dtype))?;
        let (lo, hi) = qrange(out)?;
        if out == DataType::I32 {
            return Err(Error::dtype("QuantizeLinear does not produce int32"));
        }
        let idx = param_index(x.shape(), s.shape(), self.axis, self.block_size)?;
        let scale = scale_values(s, "y_scale")?;
        let zpv = match zp {
            Some(z) => {
                if z.shape() != s.shape() && !(z.len() == 1 && s.len() == 1) {
                    return Err(Error::shape(format!(
                        "zero point {:?} must have the shape of the scale {:?}",
                        z.shape(),
                        s.shape()
                    )));
                }
                z.to_f64_vec()?
            }
            None => vec![0.0; scale.len()],
        };
        let xdt = x.dtype();
        let calc = if xdt == DataType::I32 {
            DataType::F64
        } else {
            xdt
        };
        let xv = x.to_f64_vec()?;
        let y: Vec<i64> = xv
            .iter()
            .zip(&idx)
            .map(|(&v, &i)| {
                let q = to_precision(v / scale[i], calc);
                round_sat(q.round_ties_even() + zpv[i], lo, hi) as i64
            })
            .collect();
        Ok(vec![int_tensor(out, x.shape(), y)?])
    }
}
