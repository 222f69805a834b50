//! `LayerNormalization`: normalize over the axes from `axis` on, with optional Mean and
//! InvStdDev outputs.

use super::common::{
    broadcast_float, check_attrs, float_tensor, float_vec, mean_var, parse_stash_type,
};
use crate::ops::util::{input, normalize_axis, opt_input};
use crate::{BuildCtx, DataType, Dim, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Layer normalization.
#[derive(Debug)]
pub struct LayerNorm {
    axis: i64,
    epsilon: f64,
    stash: i64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "epsilon", "stash_type"])?;
    Ok(Box::new(LayerNorm {
        axis: ctx.attrs.int_or("axis", -1)?,
        epsilon: ctx.attrs.float_or("epsilon", 1e-5)? as f64,
        stash: parse_stash_type(ctx.attrs)?,
    }))
}

impl LayerNorm {
    fn stat_type(&self, x: DataType) -> DataType {
        match self.stash {
            16 => DataType::BF16,
            11 => DataType::F64,
            _ if x == DataType::F64 => DataType::F64,
            _ => DataType::F32,
        }
    }
}

impl Op for LayerNorm {
    fn op_type(&self) -> &str {
        "LayerNormalization"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let Some(x) = inputs.first() else {
            return Ok(Vec::new());
        };
        let stat_dtype = x.fact.dtype.map(|d| self.stat_type(d));
        let stat_shape = match &x.fact.shape {
            Some(s) => {
                let a = normalize_axis(self.axis, s.rank())?;
                let mut d = s.0[..a].to_vec();
                d.extend(std::iter::repeat_n(Dim::Fixed(1), s.rank() - a));
                Some(Shape(d))
            }
            None => None,
        };
        let stat = TensorFact {
            dtype: stat_dtype,
            shape: stat_shape,
        };
        Ok(vec![x.fact.clone(), stat.clone(), stat])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape();
        let a = normalize_axis(self.axis, shape.len())?;
        let inner: usize = shape[a..].iter().product();
        let outer: usize = shape[..a].iter().product();
        let scale = broadcast_float(input(inputs, 1)?, &shape[a..], "Scale")?;
        let bias = match opt_input(inputs, 2) {
            Some(b) => broadcast_float(b, &shape[a..], "B")?,
            None => vec![0.0; inner],
        };
        let mut y = float_vec(x)?;
        let mut means = Vec::with_capacity(outer);
        let mut invs = Vec::with_capacity(outer);
        if inner > 0 {
            for chunk in y.chunks_mut(inner) {
                let (m, v) = mean_var(chunk);
                let inv = 1.0 / (v + self.epsilon).sqrt();
                for (i, x) in chunk.iter_mut().enumerate() {
                    *x = (*x - m) * inv * scale[i] + bias[i];
                }
                means.push(m);
                invs.push(inv);
            }
        }
        let mut stat_shape = shape[..a].to_vec();
        stat_shape.extend(std::iter::repeat_n(1, shape.len() - a));
        let st = self.stat_type(x.dtype());
        Ok(vec![
            float_tensor(x.dtype(), shape, y)?,
            float_tensor(st, &stat_shape, means)?,
            float_tensor(st, &stat_shape, invs)?,
        ])
    }
}
