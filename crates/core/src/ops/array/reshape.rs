//! `Reshape`: same elements, new shape (`0` copies an input dim unless `allowzero`, `-1` is
//! inferred).

use super::common::{bool_attr, check_attrs, const_ints, fact, fact_dims, fact_of, req_ints};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Reshapes its first input to the shape given by the second.
#[derive(Debug)]
pub struct Reshape {
    allowzero: bool,
}

/// Build from `allowzero`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["allowzero"])?;
    Ok(Box::new(Reshape {
        allowzero: bool_attr(ctx, "allowzero", false)?,
    }))
}

/// The output shape of reshaping `input` to the requested `shape`.
pub(crate) fn resolve(input: &[usize], shape: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err(Error::shape(format!(
                        "shape {shape:?} has more than one -1"
                    )));
                }
                out.push(1);
            }
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                Error::shape(format!(
                    "shape {shape:?} copies dim {i} of a rank-{} input",
                    input.len()
                ))
            })?),
            d if d < 0 => return Err(Error::shape(format!("invalid dim {d} in shape {shape:?}"))),
            d => out.push(d as usize),
        }
    }
    if allowzero && infer_at.is_some() && shape.contains(&0) {
        return Err(Error::shape("allowzero shapes cannot hold both 0 and -1"));
    }
    let n: usize = input.iter().product();
    if let Some(i) = infer_at {
        let rest = super::common::checked_numel(&out)?;
        if rest == 0 || !n.is_multiple_of(rest) {
            return Err(Error::shape(format!(
                "cannot reshape {input:?} to {shape:?}"
            )));
        }
        out[i] = n / rest;
    }
    if super::common::checked_numel(&out)? != n {
        return Err(Error::shape(format!(
            "cannot reshape {input:?} to {shape:?}"
        )));
    }
    Ok(out)
}

impl Op for Reshape {
    fn op_type(&self) -> &str {
        "Reshape"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let Some(shape) = const_ints(inputs, 1) else {
            return Ok(vec![fact_of(dtype, None)]);
        };
        let ind = fact_dims(fact(inputs, 0));
        if let Some(fixed) = ind
            .as_ref()
            .and_then(|d| d.iter().map(Dim::fixed).collect::<Option<Vec<_>>>())
        {
            let out = resolve(&fixed, &shape, self.allowzero)?;
            return Ok(vec![fact_of(
                dtype,
                Some(out.into_iter().map(Dim::Fixed).collect()),
            )]);
        }
        let dims = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| match d {
                0 if !self.allowzero => ind
                    .as_ref()
                    .and_then(|v| v.get(i).cloned())
                    .unwrap_or(Dim::Unknown),
                d if d >= 0 => Dim::Fixed(d as usize),
                _ => Dim::Unknown,
            })
            .collect();
        Ok(vec![fact_of(dtype, Some(dims))])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = req_ints(inputs, 1, "shape")?;
        let out = resolve(x.shape(), &shape, self.allowzero)?;
        Ok(vec![x.reshape(&out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn zeros_and_minus_one() {
        assert_eq!(resolve(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(resolve(&[0, 3], &[3, 0], true).unwrap(), vec![3, 0]);
        assert!(resolve(&[2, 3], &[0, -1], true).is_err());
        assert!(resolve(&[2, 3], &[-1, -1], false).is_err());
        assert!(resolve(&[2, 3], &[4, -1], false).is_err());
        assert!(resolve(&[2, 3], &[7], false).is_err());
        assert!(resolve(&[2, 3], &[-2, 3], false).is_err());
    }
}
