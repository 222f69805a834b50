//! `Softmax` and `LogSoftmax` (opset-13 semantics: normalize along one `axis`, default -1).

use super::common::{axis_of, check_attrs, float_f64s, float_like, for_each_lane};
use super::common::{log_softmax_lane, softmax_lane};
use crate::ops::util::input;
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};

/// Softmax or its logarithm along one axis.
#[derive(Debug)]
pub struct Softmax {
    axis: i64,
    log: bool,
}

/// Build `Softmax` (`log == false`) or `LogSoftmax` (`log == true`).
pub fn build(ctx: &BuildCtx<'_>, log: bool) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis"])?;
    Ok(Box::new(Softmax {
        axis: ctx.attrs.int_or("axis", -1)?,
        log,
    }))
}

impl Op for Softmax {
    fn op_type(&self) -> &str {
        if self.log { "LogSoftmax" } else { "Softmax" }
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
            return Err(crate::Error::shape(format!(
                "{} needs an input of rank >= 1",
                self.op_type()
            )));
        }
        let axis = axis_of(self.axis, x.rank())?;
        let lane: fn(&[f64], &mut [f64]) = if self.log {
            log_softmax_lane
        } else {
            softmax_lane
        };
        let out = for_each_lane(&data, x.shape(), axis, lane);
        Ok(vec![float_like(x, x.shape(), &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn op(axis: i64, log: bool) -> Box<dyn Op> {
        let attrs = Attributes::new().with("axis", Attribute::Int(axis));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        build(&ctx, log).unwrap()
    }

    #[test]
    fn softmax_along_first_axis() {
        let x = Tensor::from_vec(&[2, 2], vec![0.0f32, 1.0, 0.0, 1.0]).unwrap();
        let y = op(0, false).eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.to_f64_vec().unwrap(), vec![0.5, 0.5, 0.5, 0.5]);
    }

    #[test]
    fn log_softmax_matches_log_of_softmax() {
        let x = Tensor::from_vec(&[3], vec![1.0f64, 2.0, 3.0]).unwrap();
        let s = op(-1, false).eval(&[Some(&x)]).unwrap().remove(0);
        let l = op(-1, true).eval(&[Some(&x)]).unwrap().remove(0);
        for (a, b) in s.to_f64_vec().unwrap().iter().zip(l.to_f64_vec().unwrap()) {
            assert!((a.ln() - b).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_axis_and_type_are_errors() {
        let x = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
        assert!(op(1, false).eval(&[Some(&x)]).is_err());
        let i = Tensor::from_vec(&[3], vec![1i32, 2, 3]).unwrap();
        assert!(op(0, false).eval(&[Some(&i)]).is_err());
    }
}
