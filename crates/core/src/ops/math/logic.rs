//! Boolean logic, one table line per op: `And`, `Or`, `Xor` (broadcasting) and `Not`.

use super::common::{check_arity, check_attrs, infer_broadcast, infer_unary, zip2};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, InferInput, Op, Result, Tensor, TensorFact};

/// A broadcasting binary boolean op, or (`f` = `None`) `Not`.
#[derive(Debug)]
pub struct Logic {
    name: &'static str,
    f: Option<fn(bool, bool) -> bool>,
}

fn make(
    ctx: &BuildCtx<'_>,
    name: &'static str,
    f: Option<fn(bool, bool) -> bool>,
) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    let n = if f.is_some() { 2 } else { 1 };
    check_arity(ctx, name, n, n)?;
    Ok(Box::new(Logic { name, f }))
}

impl Op for Logic {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match self.f {
            Some(_) => infer_broadcast(inputs, Some(DataType::Bool)),
            None => infer_unary(inputs, Some(DataType::Bool)),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0)?.array::<bool>()?;
        let out = match self.f {
            Some(f) => zip2(a, input(inputs, 1)?.array::<bool>()?, |&x, &y| f(x, y))?,
            None => a.mapv(|x| !x),
        };
        Ok(vec![Tensor::from(out)])
    }
}

macro_rules! logic_ops {
    ($($build:ident: $name:literal, $f:expr;)*) => {$(
        #[doc = concat!("Build `", $name, "`.")]
        pub fn $build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
            make(ctx, $name, $f)
        }
    )*};
}

logic_ops! {
    and: "And", Some(|x, y| x && y);
    or: "Or", Some(|x, y| x || y);
    xor: "Xor", Some(|x, y| x != y);
    not: "Not", None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn xor_broadcasts_and_not_negates() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let a = Tensor::from_vec(&[2, 1], vec![true, false]).unwrap();
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        let y = xor(&ctx)
            .unwrap()
            .eval(&[Some(&a), Some(&b)])
            .unwrap()
            .remove(0);
        assert_eq!(
            y,
            Tensor::from_vec(&[2, 2], vec![false, true, true, false]).unwrap()
        );
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let y = not(&ctx).unwrap().eval(&[Some(&b)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[2], vec![false, true]).unwrap());
        assert!(
            not(&ctx)
                .unwrap()
                .eval(&[Some(&Tensor::scalar(1i32))])
                .is_err()
        );
    }
}
