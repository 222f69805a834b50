//! `ArgMax`: index of the largest entry along an axis (`keepdims`, `select_last_index`).

use super::common::{array, bool_attr, check_attrs, elems};
use super::top_k::cmp_nan_last;
use crate::ops::util::input;
use crate::{BuildCtx, Element, Error, Op, Result, Tensor};
use std::cmp::Ordering;

/// Index of the maximum.
#[derive(Debug)]
pub struct ArgMax {
    arg: ArgReduce,
}

/// Shared attributes of ArgMax and ArgMin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgReduce {
    axis: i64,
    keepdims: bool,
    last: bool,
}

impl ArgReduce {
    /// Read `axis`, `keepdims` and `select_last_index`.
    pub(crate) fn from_ctx(ctx: &BuildCtx<'_>) -> Result<Self> {
        check_attrs(ctx, &["axis", "keepdims", "select_last_index"])?;
        Ok(ArgReduce {
            axis: ctx.attrs.int_or("axis", 0)?,
            keepdims: bool_attr(ctx, "keepdims", true)?,
            last: bool_attr(ctx, "select_last_index", false)?,
        })
    }

    fn run<T: Element + PartialOrd>(
        self,
        x: &Tensor,
        axis: usize,
        want: Ordering,
    ) -> Result<Tensor> {
        let s = x.shape();
        let src = elems(x.array::<T>()?);
        let n = s[axis];
        if n == 0 {
            return Err(Error::shape("cannot take the arg of an empty axis"));
        }
        let outer: usize = s[..axis].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| &src[(o * n + j) * inner + i];
                let mut best = 0;
                for j in 1..n {
                    let c = cmp_nan_last(at(j), at(best));
                    if c == want || (self.last && c == Ordering::Equal) {
                        best = j;
                    }
                }
                out.push(best as i64);
            }
        }
        let mut shape = s.to_vec();
        if self.keepdims {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(Tensor::from(array(&shape, out)?))
    }

    /// Evaluate: `want` is `Greater` for ArgMax and `Less` for ArgMin.
    pub(crate) fn eval(self, inputs: &[Option<&Tensor>], want: Ordering) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let r = x.rank() as i64;
        let a = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if a < 0 || a >= r {
            return Err(Error::attr(
                "axis",
                format!("axis {} is out of range for rank {r}", self.axis),
            ));
        }
        Ok(vec![
            crate::dispatch_numeric!(x, _a => self.run::<T>(x, a as usize, want)?),
        ])
    }
}

/// Build from `axis`, `keepdims` and `select_last_index`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    Ok(Box::new(ArgMax {
        arg: ArgReduce::from_ctx(ctx)?,
    }))
}

impl Op for ArgMax {
    fn op_type(&self) -> &str {
        "ArgMax"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.arg.eval(inputs, Ordering::Greater)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn last_index_and_keepdims() {
        let x = tf(&[2, 3], &[1.0, 5.0, 5.0, 0.0, 0.0, -1.0]);
        let a = Attributes::new()
            .with("axis", Attribute::Int(1))
            .with("select_last_index", Attribute::Int(1));
        let r = run_op("ArgMax", a.clone(), &[Some(x.clone())], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 1], &[2, 1]));
        let r = run_op(
            "ArgMin",
            a.with("keepdims", Attribute::Int(0)),
            &[Some(x.clone())],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2], &[0, 2]));
        let r = run_op(
            "ArgMax",
            Attributes::new().with("axis", Attribute::Int(1)),
            &[Some(x)],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 1], &[1, 0]));
    }
}
