//! `TopK`: the `k` largest (or smallest) entries along an axis, with their indices.
//! Ties go to the lower index; results are always sorted.

use super::common::{array, axis_in, bool_attr, check_attrs, elems, scalar_int};
use crate::ops::util::input;
use crate::{BuildCtx, Element, Error, Op, Result, Tensor};
use std::cmp::Ordering;

/// Top-k selection.
#[derive(Debug)]
pub struct TopK {
    axis: i64,
    largest: bool,
}

/// Build from `axis`, `largest` and `sorted`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis", "largest", "sorted"])?;
    bool_attr(ctx, "sorted", true)?;
    Ok(Box::new(TopK {
        axis: ctx.attrs.int_or("axis", -1)?,
        largest: bool_attr(ctx, "largest", true)?,
    }))
}

/// Order two values, NaN counting as the largest.
pub(crate) fn cmp_nan_last<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => {
            let a_nan = a.partial_cmp(a).is_none();
            let b_nan = b.partial_cmp(b).is_none();
            a_nan.cmp(&b_nan)
        }
    }
}

fn top_k<T: Element + PartialOrd>(
    x: &Tensor,
    axis: usize,
    k: usize,
    largest: bool,
) -> Result<(Tensor, Tensor)> {
    let s = x.shape();
    let src = elems(x.array::<T>()?);
    let n = s[axis];
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let mut out = s.to_vec();
    out[axis] = k;
    let total = outer * k * inner;
    let mut vals: Vec<Option<T>> = vec![None; total];
    let mut idxs = vec![0i64; total];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| &src[(o * n + j) * inner + i];
            order.clear();
            order.extend(0..n);
            order.sort_by(|&a, &b| {
                let c = cmp_nan_last(at(a), at(b));
                let c = if largest { c.reverse() } else { c };
                c.then(a.cmp(&b))
            });
            for (r, &j) in order.iter().take(k).enumerate() {
                let p = (o * k + r) * inner + i;
                vals[p] = Some(at(j).clone());
                idxs[p] = j as i64;
            }
        }
    }
    let vals = vals
        .into_iter()
        .map(|v| v.ok_or_else(|| Error::input("unfilled")))
        .collect::<Result<Vec<T>>>()?;
    Ok((
        T::wrap(array(&out, vals)?),
        Tensor::from(array(&out, idxs)?),
    ))
}

impl Op for TopK {
    fn op_type(&self) -> &str {
        "TopK"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let k = scalar_int(input(inputs, 1)?, "K")?;
        let axis = axis_in(self.axis, x.rank())?;
        let n = x.shape()[axis];
        if k < 0 || k as usize > n {
            return Err(Error::input(format!(
                "K = {k} is out of range for a dim of size {n}"
            )));
        }
        let (v, i) =
            crate::dispatch_numeric!(x, _a => top_k::<T>(x, axis, k as usize, self.largest)?);
        Ok(vec![v, i])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn ties_lower_index_first() {
        let x = tf(&[1, 5], &[3.0, 1.0, 3.0, 2.0, 1.0]);
        let r = run_op(
            "TopK",
            Attributes::new(),
            &[Some(x.clone()), Some(ti(&[1], &[3]))],
            2,
        )
        .unwrap();
        assert_eq!(r[0], tf(&[1, 3], &[3.0, 3.0, 2.0]));
        assert_eq!(r[1], ti(&[1, 3], &[0, 2, 3]));
        let a = Attributes::new().with("largest", Attribute::Int(0));
        let r = run_op("TopK", a, &[Some(x.clone()), Some(ti(&[1], &[2]))], 2).unwrap();
        assert_eq!(r[1], ti(&[1, 2], &[1, 4]));
        assert!(
            run_op(
                "TopK",
                Attributes::new(),
                &[Some(x), Some(ti(&[1], &[6]))],
                2
            )
            .is_err()
        );
    }
}
