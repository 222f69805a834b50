//! `Concat`: join tensors along an axis.

use super::common::{array, check_attrs, elems, fact_of};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, Element, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Concatenates its inputs along `axis`.
#[derive(Debug)]
pub struct Concat {
    axis: i64,
}

/// Build from the required `axis`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(Concat {
        axis: ctx.attrs.int_req("axis")?,
    }))
}

fn norm(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::attr(
            "axis",
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(a as usize)
}

fn concat<T: Element>(parts: &[&Tensor], axis: usize) -> Result<Tensor> {
    let first = parts[0].shape();
    let mut out_shape = first.to_vec();
    out_shape[axis] = 0;
    let mut arrays = Vec::with_capacity(parts.len());
    for p in parts {
        let s = p.shape();
        if s.len() != first.len()
            || s.iter()
                .zip(first)
                .enumerate()
                .any(|(i, (a, b))| i != axis && a != b)
        {
            return Err(Error::shape(format!(
                "cannot concatenate {first:?} and {s:?} on axis {axis}"
            )));
        }
        out_shape[axis] += s[axis];
        arrays.push(elems(p.array::<T>()?));
    }
    let outer: usize = first[..axis].iter().product();
    let inner: usize = first[axis + 1..].iter().product();
    let mut data = Vec::with_capacity(out_shape.iter().product());
    for o in 0..outer {
        for (p, a) in parts.iter().zip(&arrays) {
            let chunk = p.shape()[axis] * inner;
            data.extend_from_slice(&a[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(T::wrap(array(&out_shape, data)?))
}

impl Op for Concat {
    fn op_type(&self) -> &str {
        "Concat"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = inputs.iter().find_map(|i| i.fact.dtype);
        let shapes: Option<Vec<&Vec<Dim>>> = inputs
            .iter()
            .map(|i| i.fact.shape.as_ref().map(|s| &s.0))
            .collect();
        let dims = match shapes {
            Some(s) if !s.is_empty() => {
                let a = norm(self.axis, s[0].len())?;
                let mut out = s[0].clone();
                let mut total = Some(0usize);
                for d in &s {
                    if d.len() != out.len() {
                        return Err(Error::shape("Concat inputs have different ranks"));
                    }
                    total = total.and_then(|t| d[a].fixed().map(|n| t + n));
                    for (i, x) in d.iter().enumerate() {
                        if i != a && out[i].is_dynamic() && !x.is_dynamic() {
                            out[i] = x.clone();
                        }
                    }
                }
                out[a] = total.map(Dim::Fixed).unwrap_or(Dim::Unknown);
                Some(out)
            }
            _ => None,
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let parts = (0..inputs.len())
            .map(|i| input(inputs, i))
            .collect::<Result<Vec<_>>>()?;
        let first = *parts
            .first()
            .ok_or_else(|| Error::input("Concat needs at least one input"))?;
        let axis = norm(self.axis, first.rank())?;
        Ok(vec![
            crate::dispatch_all!(first, _a => concat::<T>(&parts, axis)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn concat_axis1_and_errors() {
        let a = ti(&[2, 1], &[1, 2]);
        let b = ti(&[2, 2], &[3, 4, 5, 6]);
        let at = Attributes::new().with("axis", Attribute::Int(-1));
        let r = run_op("Concat", at.clone(), &[Some(a.clone()), Some(b)], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 3], &[1, 3, 4, 2, 5, 6]));
        assert!(
            run_op(
                "Concat",
                at.clone(),
                &[Some(a.clone()), Some(tf(&[2, 1], &[0.0, 0.0]))],
                1
            )
            .is_err()
        );
        assert!(run_op("Concat", at, &[Some(a), Some(ti(&[3, 1], &[0, 0, 0]))], 1).is_err());
    }
}
