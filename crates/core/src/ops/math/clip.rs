//! `Clip`: limit values to `[min, max]`; both bounds are optional scalar inputs. Like numpy
//! `clip`, `min` applies first (so `min > max` gives `max` everywhere) and NaN propagates.

use super::common::{check_arity, check_attrs, infer_unary, same_dtype};
use super::scalar::{Num, max_nan, min_nan};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};
use ndarray::ArrayD;

/// Clamps its input to optional bounds.
#[derive(Debug)]
pub struct Clip;

/// Build `Clip` (opset 11+ form: bounds are inputs; the importer converts older forms).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "Clip", 1, 3)?;
    Ok(Box::new(Clip))
}

/// The single value of a bound tensor (`None` when absent or empty).
fn bound<T: Num>(t: Option<&Tensor>, x: &Tensor, what: &str) -> Result<Option<T>> {
    let Some(t) = t else { return Ok(None) };
    same_dtype(x, t)?;
    let a = t.array::<T>()?;
    match a.len() {
        0 => Ok(None),
        1 => Ok(a.iter().next().copied()),
        n => Err(Error::input(format!(
            "Clip {what} must be a scalar, got {n} elements"
        ))),
    }
}

fn clip<T: Num>(a: &ArrayD<T>, lo: Option<T>, hi: Option<T>) -> ArrayD<T> {
    a.mapv(|v| {
        let v = lo.map_or(v, |l| max_nan(v, l));
        hi.map_or(v, |h| min_nan(v, h))
    })
}

impl Op for Clip {
    fn op_type(&self) -> &str {
        "Clip"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (lo, hi) = (opt_input(inputs, 1), opt_input(inputs, 2));
        let out = crate::dispatch_numeric!(x, a => {
            Tensor::from(clip(a, bound::<T>(lo, x, "min")?, bound::<T>(hi, x, "max")?))
        });
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn bounds_are_optional() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[4], vec![-5i8, 0, 5, 100]).unwrap();
        let lo = Tensor::scalar(-1i8);
        let hi = Tensor::scalar(10i8);
        let y = op.eval(&[Some(&x), None, Some(&hi)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[4], vec![-5i8, 0, 5, 10]).unwrap());
        let y = op
            .eval(&[Some(&x), Some(&hi), Some(&lo)])
            .unwrap()
            .remove(0);
        assert_eq!(y, Tensor::from_vec(&[4], vec![-1i8; 4]).unwrap());
        assert!(op.eval(&[Some(&x), Some(&Tensor::scalar(1.0f32))]).is_err());
    }
}
