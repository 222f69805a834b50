//! `DynamicQuantizeLinear`: quantize f32 to u8 with a scale and zero point computed from the data.

use super::common::{check_attrs, same_as_first};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Dynamic u8 quantization.
#[derive(Debug)]
pub struct DynamicQuantizeLinear;

/// Build from attributes (none).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(DynamicQuantizeLinear))
}

impl Op for DynamicQuantizeLinear {
    fn op_type(&self) -> &str {
        "DynamicQuantizeLinear"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let mut f = same_as_first(inputs);
        f.iter_mut().for_each(|x| x.dtype = Some(DataType::U8));
        if !f.is_empty() {
            f.push(TensorFact::new(DataType::F32, Shape(vec![])));
            f.push(TensorFact::new(DataType::U8, Shape(vec![])));
        }
        Ok(f)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let a = x
            .as_array::<f32>()
            .ok_or_else(|| Error::dtype(format!("expected f32 input, got {}", x.dtype())))?;
        let maxx = a.iter().copied().fold(0.0f32, f32::max);
        let minx = a.iter().copied().fold(0.0f32, f32::min);
        let scale = if maxx == minx { 1.0 } else { maxx - minx } / 255.0f32;
        let zp = (0.0f32 - minx / scale).clamp(0.0, 255.0).round_ties_even();
        let y: Vec<u8> = a
            .iter()
            .map(|&v| ((v / scale).round_ties_even() + zp).clamp(0.0, 255.0) as u8)
            .collect();
        Ok(vec![
            Tensor::from_vec(x.shape(), y)?,
            Tensor::scalar(scale),
            Tensor::scalar(zp as u8),
        ])
    }
}
