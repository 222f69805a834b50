//! Binary arithmetic with numpy broadcasting: `Add`, `Sub`, `Mul`, `Div`.
//! Integers wrap on overflow; integer `Div` truncates toward zero (division by zero gives 0).

use super::common::{check_arity, check_attrs, infer_broadcast, same_dtype, zip2};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};
use ndarray::ArrayD;

/// Which arithmetic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
}

/// A broadcasting binary arithmetic op; output type = input type.
#[derive(Debug)]
pub struct Arith {
    name: &'static str,
    kind: Kind,
}

fn make(ctx: &BuildCtx<'_>, name: &'static str, kind: Kind) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, name, 2, 2)?;
    Ok(Box::new(Arith { name, kind }))
}

/// Build `Add`.
pub fn add(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Add", Kind::Add)
}
/// Build `Sub`.
pub fn sub(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Sub", Kind::Sub)
}
/// Build `Mul`.
pub fn mul(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Mul", Kind::Mul)
}
/// Build `Div`.
pub fn div(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Div", Kind::Div)
}

fn apply<T: Num>(kind: Kind, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>> {
    match kind {
        Kind::Add => zip2(a, b, |&x, &y| x.add(y)),
        Kind::Sub => zip2(a, b, |&x, &y| x.sub(y)),
        Kind::Mul => zip2(a, b, |&x, &y| x.mul(y)),
        Kind::Div => zip2(a, b, |&x, &y| x.div(y)),
    }
}

impl Op for Arith {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        same_dtype(a, b)?;
        let out =
            crate::dispatch_numeric!(a, x => Tensor::from(apply(self.kind, x, b.array::<T>()?)?));
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    fn run(build: crate::OpBuilder, a: Tensor, b: Tensor) -> Result<Tensor> {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        Ok(build(&ctx)?.eval(&[Some(&a), Some(&b)])?.remove(0))
    }

    #[test]
    fn int_div_truncates_and_broadcasts() {
        let a = Tensor::from_vec(&[2, 2], vec![7i32, -7, 9, -9]).unwrap();
        let b = Tensor::from_vec(&[2], vec![2i32, -4]).unwrap();
        let c = run(div, a, b).unwrap();
        assert_eq!(c, Tensor::from_vec(&[2, 2], vec![3i32, 1, 4, 2]).unwrap());
    }

    #[test]
    fn wraps_and_checks_types() {
        let a = Tensor::from_vec(&[1], vec![250u8]).unwrap();
        let b = Tensor::from_vec(&[1], vec![10u8]).unwrap();
        assert_eq!(
            run(add, a.clone(), b).unwrap(),
            Tensor::from_vec(&[1], vec![4u8]).unwrap()
        );
        assert!(run(add, a, Tensor::scalar(1.0f32)).is_err());
        let attrs = Attributes::new().with("axis", crate::Attribute::Int(1));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        assert!(add(&ctx).is_err());
    }
}
