//! `Where`: pick from `X` where the condition holds, else from `Y` (three-way broadcast,
//! any element type).

use super::common::{check_arity, check_attrs, infer_broadcast, same_dtype, zip3};
use crate::ops::util::input;
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};
use ndarray::ArrayD;

/// `cond ? x : y`, element-wise.
#[derive(Debug)]
pub struct Where;

/// Build `Where`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "Where", 3, 3)?;
    Ok(Box::new(Where))
}

/// `cond ? x : y` over broadcast arrays of one element type.
fn select<T: Clone>(c: &ArrayD<bool>, x: &ArrayD<T>, y: &ArrayD<T>) -> Result<ArrayD<T>> {
    zip3(c, x, y, |&k, p, q| if k { p.clone() } else { q.clone() })
}

impl Op for Where {
    fn op_type(&self) -> &str {
        "Where"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = inputs.get(1).and_then(|i| i.fact.dtype);
        let mut f = infer_broadcast(inputs, dtype)?;
        if let (None, Some(first)) = (dtype, f.first_mut()) {
            first.dtype = inputs.get(2).and_then(|i| i.fact.dtype);
        }
        Ok(f)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let c = input(inputs, 0)?.array::<bool>()?;
        let (x, y) = (input(inputs, 1)?, input(inputs, 2)?);
        same_dtype(x, y)?;
        let out = crate::dispatch_all!(x, a => {
            Tensor::from(select(c, a, y.array::<T>()?)?)
        });
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn picks_strings_with_broadcast() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        let c = Tensor::from_vec(&[2, 1], vec![true, false]).unwrap();
        let x = Tensor::from_vec(&[2], vec!["a".to_string(), "b".into()]).unwrap();
        let y = Tensor::scalar("z".to_string());
        let out = build(&ctx)
            .unwrap()
            .eval(&[Some(&c), Some(&x), Some(&y)])
            .unwrap()
            .remove(0);
        let want: Vec<String> = ["a", "b", "z", "z"].iter().map(|s| s.to_string()).collect();
        assert_eq!(out, Tensor::from_vec(&[2, 2], want).unwrap());
    }
}
