//! `Hardmax`: 1 at the first maximum along `axis` (default -1), 0 elsewhere.

use super::common::{axis_of, check_attrs, float_f64s, float_like, for_each_lane};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// One-hot of the first maximum along one axis.
#[derive(Debug)]
pub struct Hardmax {
    axis: i64,
}

/// Build from attributes (`axis`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis"])?;
    Ok(Box::new(Hardmax {
        axis: ctx.attrs.int_or("axis", -1)?,
    }))
}

impl Op for Hardmax {
    fn op_type(&self) -> &str {
        "Hardmax"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|i| vec![i.fact.clone()])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let data = float_f64s(x)?;
        if x.rank() == 0 {
            return Err(Error::shape("Hardmax needs an input of rank >= 1"));
        }
        let axis = axis_of(self.axis, x.rank())?;
        let out = for_each_lane(&data, x.shape(), axis, |lane, res| {
            let mut best = 0;
            for (k, &v) in lane.iter().enumerate() {
                if v > lane[best] {
                    best = k;
                }
            }
            for (k, r) in res.iter_mut().enumerate() {
                *r = if k == best { 1.0 } else { 0.0 };
            }
        });
        Ok(vec![float_like(x, x.shape(), &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_max_wins() {
        let attrs = crate::Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let x = Tensor::from_vec(&[2, 3], vec![3.0f32, 3.0, 1.0, 0.0, 2.0, 5.0]).unwrap();
        let y = build(&ctx).unwrap().eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.to_f64_vec().unwrap(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
