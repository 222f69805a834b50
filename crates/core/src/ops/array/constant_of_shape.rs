//! `ConstantOfShape`: a tensor of a given shape filled with one value (default f32 0).

use super::common::{check_attrs, const_ints, dims, fact_of, req_ints};
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Fills a tensor of the shape given by its input.
#[derive(Debug)]
pub struct ConstantOfShape {
    value: Tensor,
}

/// Build from `value` (a one-element tensor).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["value"])?;
    let value = match ctx.attrs.tensor("value")? {
        Some(v) if v.len() == 1 => v.reshape(&[])?,
        Some(v) => {
            return Err(Error::attr(
                "value",
                format!("must hold one element, has {}", v.len()),
            ));
        }
        None => Tensor::scalar(0f32),
    };
    Ok(Box::new(ConstantOfShape { value }))
}

impl Op for ConstantOfShape {
    fn op_type(&self) -> &str {
        "ConstantOfShape"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = Some(self.value.dtype());
        if let Some(s) = const_ints(inputs, 0) {
            let d = dims(&s, "shape")?;
            return Ok(vec![fact_of(
                dtype,
                Some(d.into_iter().map(Dim::Fixed).collect()),
            )]);
        }
        let rank = inputs
            .first()
            .and_then(|i| i.fact.shape.as_ref())
            .and_then(|s| s.0.first())
            .and_then(Dim::fixed);
        Ok(vec![fact_of(dtype, rank.map(|r| vec![Dim::Unknown; r]))])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = dims(&req_ints(inputs, 0, "input")?, "shape")?;
        let n = super::common::checked_numel(&shape)?;
        Ok(vec![crate::dispatch_all!(&self.value, a => {
            let v = a.iter().next().cloned().ok_or_else(|| Error::input("empty value"))?;
            Tensor::from(super::common::array(&shape, vec![v; n])?)
        })])
    }
}
