//! `Split`: cut a tensor into parts along an axis (`split` sizes, `num_outputs`, or equal parts).

use super::common::{axis_in, check_attrs, dims, opt_ints};
use super::slice::{Range1, slice_tensor};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Splits its input along `axis`.
#[derive(Debug)]
pub struct Split {
    axis: i64,
    num_outputs: Option<usize>,
    outputs: usize,
}

/// Build from `axis` and `num_outputs`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis", "num_outputs"])?;
    let num_outputs = match ctx.attrs.int("num_outputs")? {
        Some(n) if n < 1 => {
            return Err(Error::attr(
                "num_outputs",
                format!("must be positive, got {n}"),
            ));
        }
        Some(n) => Some(n as usize),
        None => None,
    };
    Ok(Box::new(Split {
        axis: ctx.attrs.int_or("axis", 0)?,
        num_outputs,
        outputs: ctx.num_outputs,
    }))
}

impl Split {
    fn sizes(&self, dim: usize, split: Option<Vec<i64>>) -> Result<Vec<usize>> {
        if let Some(s) = split {
            let s = dims(&s, "split")?;
            if s.iter().sum::<usize>() != dim {
                return Err(Error::shape(format!("split {s:?} does not sum to {dim}")));
            }
            return Ok(s);
        }
        match self.num_outputs {
            Some(n) => {
                let chunk = dim.div_ceil(n);
                let mut v = Vec::with_capacity(n);
                let mut left = dim;
                for _ in 0..n {
                    let c = chunk.min(left);
                    v.push(c);
                    left -= c;
                }
                if chunk * (n - 1) >= dim && n > 1 && dim > 0 {
                    return Err(Error::shape(format!(
                        "cannot split {dim} into {n} non-empty parts"
                    )));
                }
                Ok(v)
            }
            None => {
                let n = self.outputs.max(1);
                if !dim.is_multiple_of(n) {
                    return Err(Error::shape(format!(
                        "cannot split {dim} into {n} equal parts"
                    )));
                }
                Ok(vec![dim / n; n])
            }
        }
    }
}

impl Op for Split {
    fn op_type(&self) -> &str {
        "Split"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let axis = axis_in(self.axis, x.rank())?;
        let sizes = self.sizes(x.shape()[axis], opt_ints(inputs, 1)?)?;
        let mut r: Vec<Range1> = x
            .shape()
            .iter()
            .map(|&d| Range1 {
                start: 0,
                step: 1,
                len: d,
            })
            .collect();
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            r[axis] = Range1 {
                start,
                step: 1,
                len: s,
            };
            out.push(slice_tensor(x, &r)?);
            start += s as i64;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn uneven_num_outputs() {
        let x = ti(&[7], &[0, 1, 2, 3, 4, 5, 6]);
        let a = Attributes::new().with("num_outputs", Attribute::Int(4));
        let r = run_op("Split", a, &[Some(x.clone())], 4).unwrap();
        let lens: Vec<usize> = r.iter().map(|t| t.len()).collect();
        assert_eq!(lens, vec![2, 2, 2, 1]);
        let r = run_op(
            "Split",
            Attributes::new(),
            &[Some(x.clone()), Some(ti(&[2], &[3, 4]))],
            2,
        )
        .unwrap();
        assert_eq!(r[1], ti(&[4], &[3, 4, 5, 6]));
        assert!(
            run_op(
                "Split",
                Attributes::new(),
                &[Some(x), Some(ti(&[2], &[3, 3]))],
                2
            )
            .is_err()
        );
    }
}
