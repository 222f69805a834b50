//! Bitwise ops on integers, one table line per op: `BitwiseAnd`, `BitwiseOr`, `BitwiseXor`
//! (broadcasting) and `BitwiseNot`. Computed on sign-extended i128 and wrapped back.

use super::common::{
    check_arity, check_attrs, infer_broadcast, infer_unary, map_int, same_dtype, zip2,
};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, InferInput, Op, Result, Tensor, TensorFact};

/// A broadcasting bitwise op, or (`f` = `None`) `BitwiseNot`.
#[derive(Debug)]
pub struct Bitwise {
    name: &'static str,
    f: Option<fn(i128, i128) -> i128>,
}

fn make(
    ctx: &BuildCtx<'_>,
    name: &'static str,
    f: Option<fn(i128, i128) -> i128>,
) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    let n = if f.is_some() { 2 } else { 1 };
    check_arity(ctx, name, n, n)?;
    Ok(Box::new(Bitwise { name, f }))
}

impl Op for Bitwise {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match self.f {
            Some(_) => infer_broadcast(inputs, None),
            None => infer_unary(inputs, None),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0)?;
        let Some(f) = self.f else {
            return Ok(vec![map_int(a, |x| !x)?]);
        };
        let b = input(inputs, 1)?;
        same_dtype(a, b)?;
        let out = crate::dispatch_int!(a, x => Tensor::from(zip2(x, b.array::<T>()?, |&p, &q| {
            T::of_i128(f(p.as_i128(), q.as_i128()))
        })?));
        Ok(vec![out])
    }
}

macro_rules! bitwise_ops {
    ($($build:ident: $name:literal, $f:expr;)*) => {$(
        #[doc = concat!("Build `", $name, "`.")]
        pub fn $build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
            make(ctx, $name, $f)
        }
    )*};
}

bitwise_ops! {
    and: "BitwiseAnd", Some(|x, y| x & y);
    or: "BitwiseOr", Some(|x, y| x | y);
    xor: "BitwiseXor", Some(|x, y| x ^ y);
    not: "BitwiseNot", None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn signed_and_unsigned() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let x = Tensor::from_vec(&[2], vec![0u8, 0xf0]).unwrap();
        assert_eq!(
            not(&ctx).unwrap().eval(&[Some(&x)]).unwrap()[0],
            Tensor::from_vec(&[2], vec![255u8, 0x0f]).unwrap()
        );
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let a = Tensor::from_vec(&[2], vec![-1i16, 6]).unwrap();
        let b = Tensor::scalar(5i16);
        assert_eq!(
            xor(&ctx).unwrap().eval(&[Some(&a), Some(&b)]).unwrap()[0],
            Tensor::from_vec(&[2], vec![-6i16, 3]).unwrap()
        );
        assert!(
            and(&ctx)
                .unwrap()
                .eval(&[Some(&Tensor::scalar(1.0f32)), Some(&Tensor::scalar(1.0f32))])
                .is_err()
        );
    }
}
