//! `Unique`: the distinct elements (or slices along `axis`), with first-occurrence indices,
//! inverse indices and counts.

use super::common::{array, axis_in, bool_attr, check_attrs, elems, take};
use super::top_k::cmp_nan_last;
use crate::ops::util::input;
use crate::{BuildCtx, Element, Op, Result, Tensor};
use std::cmp::Ordering;

/// Distinct values.
#[derive(Debug)]
pub struct Unique {
    sorted: bool,
    axis: Option<i64>,
}

/// Build from `sorted` (default 1) and the optional `axis`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["sorted", "axis"])?;
    Ok(Box::new(Unique {
        sorted: bool_attr(ctx, "sorted", true)?,
        axis: ctx.attrs.int("axis")?,
    }))
}

fn cmp_slices<T: PartialOrd>(a: &[T], b: &[T]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let c = cmp_nan_last(x, y);
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// Unique slices: returns (first index of each unique slice in output order, inverse, counts).
fn unique<T: Element + PartialOrd>(
    x: &Tensor,
    axis: usize,
    sorted: bool,
) -> Result<(Vec<usize>, Vec<i64>, Vec<i64>)> {
    let s = x.shape();
    let src = elems(x.array::<T>()?);
    let n = s[axis];
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let slices: Vec<Vec<T>> = (0..n)
        .map(|j| {
            (0..outer)
                .flat_map(|o| {
                    src[(o * n + j) * inner..(o * n + j + 1) * inner]
                        .iter()
                        .cloned()
                })
                .collect()
        })
        .collect();
    let mut by_value: Vec<usize> = (0..n).collect();
    by_value.sort_by(|&a, &b| cmp_slices(&slices[a], &slices[b]).then(a.cmp(&b)));
    // Groups of equal slices in value order; each group's first member is its lowest index.
    let mut group_of = vec![0usize; n];
    let mut firsts: Vec<usize> = Vec::new();
    for (p, &j) in by_value.iter().enumerate() {
        let new_group =
            p == 0 || cmp_slices(&slices[by_value[p - 1]], &slices[j]) != Ordering::Equal;
        if new_group {
            firsts.push(j);
        }
        group_of[j] = firsts.len() - 1;
    }
    let mut order: Vec<usize> = (0..firsts.len()).collect();
    if !sorted {
        order.sort_by_key(|&g| firsts[g]);
    }
    let mut rank = vec![0usize; firsts.len()];
    for (r, &g) in order.iter().enumerate() {
        rank[g] = r;
    }
    let inverse: Vec<i64> = group_of.iter().map(|&g| rank[g] as i64).collect();
    let mut counts = vec![0i64; firsts.len()];
    for &i in &inverse {
        counts[i as usize] += 1;
    }
    Ok((order.iter().map(|&o| firsts[o]).collect(), inverse, counts))
}

impl Op for Unique {
    fn op_type(&self) -> &str {
        "Unique"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x0 = input(inputs, 0)?;
        let (x, axis) = match self.axis {
            Some(a) => (x0.clone(), axis_in(a, x0.rank())?),
            None => (x0.reshape(&[x0.len()])?, 0),
        };
        let (firsts, inverse, counts) =
            crate::dispatch_all!(&x, _a => unique::<T>(&x, axis, self.sorted)?);
        let s = x.shape();
        let outer: usize = s[..axis].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        let n = s[axis];
        let mut out = s.to_vec();
        out[axis] = firsts.len();
        let mut idx = Vec::with_capacity(outer * firsts.len() * inner);
        for o in 0..outer {
            for &j in &firsts {
                let base = (o * n + j) * inner;
                idx.extend(base..base + inner);
            }
        }
        let k = firsts.len();
        Ok(vec![
            take(&x, &idx, &out)?,
            Tensor::from(array(&[k], firsts.iter().map(|&f| f as i64).collect())?),
            Tensor::from(array(&[inverse.len()], inverse)?),
            Tensor::from(array(&[k], counts)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn unsorted_and_sorted() {
        let x = tf(&[6], &[2.0, 1.0, 1.0, 3.0, 4.0, 3.0]);
        let a = Attributes::new().with("sorted", Attribute::Int(0));
        let r = run_op("Unique", a, &[Some(x.clone())], 4).unwrap();
        assert_eq!(r[0], tf(&[4], &[2.0, 1.0, 3.0, 4.0]));
        assert_eq!(r[1], ti(&[4], &[0, 1, 3, 4]));
        assert_eq!(r[2], ti(&[6], &[0, 1, 1, 2, 3, 2]));
        assert_eq!(r[3], ti(&[4], &[1, 2, 2, 1]));
        let r = run_op("Unique", Attributes::new(), &[Some(x)], 4).unwrap();
        assert_eq!(r[0], tf(&[4], &[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(r[2], ti(&[6], &[1, 0, 0, 2, 3, 2]));
    }
}
