//! `CumSum`: cumulative sum along an axis given as an input (`exclusive`, `reverse`).

use super::common::{Num, array, axis_in, bool_attr, check_attrs, elems, scalar_int};
use crate::ops::util::input;
use crate::{BuildCtx, Op, Result, Tensor};

/// Cumulative sum.
#[derive(Debug)]
pub struct CumSum {
    cum: Cumulative,
}

/// Shared attributes of the cumulative ops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cumulative {
    exclusive: bool,
    reverse: bool,
}

impl Cumulative {
    /// Read `exclusive` and `reverse`.
    pub(crate) fn from_ctx(ctx: &BuildCtx<'_>) -> Result<Self> {
        check_attrs(ctx, &["exclusive", "reverse"])?;
        Ok(Cumulative {
            exclusive: bool_attr(ctx, "exclusive", false)?,
            reverse: bool_attr(ctx, "reverse", false)?,
        })
    }

    fn run<T: Num>(self, x: &Tensor, axis: usize, init: T, f: fn(T, T) -> T) -> Result<Tensor> {
        let s = x.shape();
        let src = elems(x.array::<T>()?);
        let mut dst = src.clone();
        let n = s[axis];
        let outer: usize = s[..axis].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = init;
                for step in 0..n {
                    let j = if self.reverse { n - 1 - step } else { step };
                    let p = (o * n + j) * inner + i;
                    if self.exclusive {
                        dst[p] = acc;
                        acc = f(acc, src[p]);
                    } else {
                        acc = f(acc, src[p]);
                        dst[p] = acc;
                    }
                }
            }
        }
        Ok(T::wrap(array(s, dst)?))
    }

    /// Evaluate with the product (`product = true`) or the sum.
    pub(crate) fn eval(self, inputs: &[Option<&Tensor>], product: bool) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let axis = axis_in(scalar_int(input(inputs, 1)?, "axis")?, x.rank())?;
        Ok(vec![crate::dispatch_numeric!(x, _a => {
            if product {
                self.run::<T>(x, axis, T::one(), T::mul)?
            } else {
                self.run::<T>(x, axis, T::zero(), T::add)?
            }
        })])
    }
}

/// Build from `exclusive` and `reverse`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    Ok(Box::new(CumSum {
        cum: Cumulative::from_ctx(ctx)?,
    }))
}

impl Op for CumSum {
    fn op_type(&self) -> &str {
        "CumSum"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.cum.eval(inputs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes, Tensor};

    #[test]
    fn exclusive_reverse() {
        let x = ti(&[3], &[1, 2, 3]);
        let a = Attributes::new()
            .with("exclusive", Attribute::Int(1))
            .with("reverse", Attribute::Int(1));
        let r = run_op(
            "CumSum",
            a.clone(),
            &[Some(x.clone()), Some(Tensor::scalar(0i32))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[3], &[5, 3, 0]));
        let r = run_op(
            "CumProd",
            a,
            &[Some(x.clone()), Some(Tensor::scalar(0i64))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[3], &[6, 3, 1]));
        assert!(
            run_op(
                "CumSum",
                Attributes::new(),
                &[Some(x), Some(Tensor::scalar(1i64))],
                1
            )
            .is_err()
        );
    }
}
