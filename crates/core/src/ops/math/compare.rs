//! Comparisons with numpy broadcasting, one table line per op: `Equal` (any type, strings
//! too), `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`. Output is bool.

use super::common::{check_arity, check_attrs, infer_broadcast, same_dtype, zip2};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, InferInput, Op, Result, Tensor, TensorFact};
use std::cmp::Ordering;

/// A broadcasting comparison: true where `test(a.partial_cmp(b))` holds.
#[derive(Debug)]
pub struct Compare {
    name: &'static str,
    test: fn(Option<Ordering>) -> bool,
}

fn make(
    ctx: &BuildCtx<'_>,
    name: &'static str,
    test: fn(Option<Ordering>) -> bool,
) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, name, 2, 2)?;
    Ok(Box::new(Compare { name, test }))
}

impl Op for Compare {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, Some(DataType::Bool))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        same_dtype(a, b)?;
        let test = self.test;
        let out = crate::dispatch_all!(a, x => {
            Tensor::from(zip2(x, b.array::<T>()?, |p, q| test(p.partial_cmp(q)))?)
        });
        Ok(vec![out])
    }
}

macro_rules! comparisons {
    ($($build:ident: $name:literal, $test:expr;)*) => {$(
        #[doc = concat!("Build `", $name, "`.")]
        pub fn $build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
            make(ctx, $name, $test)
        }
    )*};
}

comparisons! {
    equal: "Equal", |o| o == Some(Ordering::Equal);
    less: "Less", |o| o == Some(Ordering::Less);
    less_or_equal: "LessOrEqual", |o| matches!(o, Some(Ordering::Less | Ordering::Equal));
    greater: "Greater", |o| o == Some(Ordering::Greater);
    greater_or_equal: "GreaterOrEqual", |o| matches!(o, Some(Ordering::Greater | Ordering::Equal));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    fn run(b: crate::OpBuilder, x: Tensor, y: Tensor) -> Result<Tensor> {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        Ok(b(&ctx)?.eval(&[Some(&x), Some(&y)])?.remove(0))
    }

    #[test]
    fn compares_with_nan_and_strings() {
        let x = Tensor::from_vec(&[3], vec![1.0f32, f32::NAN, 3.0]).unwrap();
        let y = Tensor::scalar(1.0f32);
        assert_eq!(
            run(greater_or_equal, x.clone(), y.clone()).unwrap(),
            Tensor::from_vec(&[3], vec![true, false, true]).unwrap()
        );
        assert_eq!(
            run(less, x, y).unwrap(),
            Tensor::from_vec(&[3], vec![false, false, false]).unwrap()
        );
        let s = Tensor::from_vec(&[2], vec!["a".to_string(), "b".into()]).unwrap();
        let t = Tensor::from_vec(&[1], vec!["b".to_string()]).unwrap();
        assert_eq!(
            run(equal, s, t).unwrap(),
            Tensor::from_vec(&[2], vec![false, true]).unwrap()
        );
    }
}
