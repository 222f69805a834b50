//! `Range`: `start, start + delta, ...` up to (not including) `limit`.

use super::common::{Num, array, check_attrs};
use crate::ops::util::input;
use crate::{BuildCtx, Element, Error, Op, Result, Tensor};

/// Produces an arithmetic sequence.
#[derive(Debug)]
pub struct Range;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Range))
}

fn one<T: Element + Copy>(t: &Tensor, what: &str) -> Result<T> {
    let a = t.array::<T>()?;
    match a.len() {
        1 => a
            .iter()
            .next()
            .copied()
            .ok_or_else(|| Error::input(what.to_string())),
        _ => Err(Error::input(format!("'{what}' must be a scalar"))),
    }
}

fn range<T: Num>(s: &Tensor, l: &Tensor, d: &Tensor) -> Result<Tensor> {
    let (start, limit, delta) = (
        one::<T>(s, "start")?,
        one::<T>(l, "limit")?,
        one::<T>(d, "delta")?,
    );
    let (fs, fl, fd) = (start.to_f64(), limit.to_f64(), delta.to_f64());
    if fd == 0.0 {
        return Err(Error::input("Range delta cannot be 0"));
    }
    let n = ((fl - fs) / fd).ceil().max(0.0);
    if !n.is_finite() || n > 1e10 {
        return Err(Error::input(format!("Range of {n} elements is too large")));
    }
    let n = n as usize;
    let mut v = Vec::with_capacity(n);
    let mut x = start;
    for _ in 0..n {
        v.push(x);
        x = x.add(delta);
    }
    Ok(T::wrap(array(&[n], v)?))
}

impl Op for Range {
    fn op_type(&self) -> &str {
        "Range"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (s, l, d) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        Ok(vec![
            crate::dispatch_numeric!(s, _a => range::<T>(s, l, d)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attributes, Tensor};

    #[test]
    fn ranges() {
        let r = run_op(
            "Range",
            Attributes::new(),
            &[
                Some(Tensor::scalar(10i64)),
                Some(Tensor::scalar(4i64)),
                Some(Tensor::scalar(-3i64)),
            ],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2], &[10, 7]));
        let r = run_op(
            "Range",
            Attributes::new(),
            &[
                Some(Tensor::scalar(1f32)),
                Some(Tensor::scalar(2f32)),
                Some(Tensor::scalar(0.5f32)),
            ],
            1,
        )
        .unwrap();
        assert_eq!(r[0], tf(&[2], &[1.0, 1.5]));
        assert!(
            run_op(
                "Range",
                Attributes::new(),
                &[
                    Some(Tensor::scalar(1i64)),
                    Some(Tensor::scalar(2i64)),
                    Some(Tensor::scalar(0i64))
                ],
                1
            )
            .is_err()
        );
    }
}
