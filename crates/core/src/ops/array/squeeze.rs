//! `Squeeze`: remove dims of size 1 (the listed `axes`, or all of them).

use super::common::check_attrs;
use super::common::{absent, axes_in, const_ints, fact, fact_dims, fact_of, opt_ints};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Removes size-1 dims.
#[derive(Debug)]
pub struct Squeeze;

/// Build (axes come as an input).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Squeeze))
}

/// The kept dims of `shape` after squeezing `axes` (all size-1 dims when `None`).
fn kept(shape: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>> {
    match axes {
        None => Ok(shape.iter().copied().filter(|&d| d != 1).collect()),
        Some(axes) => {
            let ax = axes_in(axes, shape.len())?;
            for &a in &ax {
                if shape[a] != 1 {
                    return Err(Error::shape(format!(
                        "cannot squeeze axis {a} of size {} in {shape:?}",
                        shape[a]
                    )));
                }
            }
            Ok(shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
    }
}

impl Op for Squeeze {
    fn op_type(&self) -> &str {
        "Squeeze"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let Some(d) = fact_dims(fact(inputs, 0)) else {
            return Ok(vec![fact_of(dtype, None)]);
        };
        let dims = if absent(inputs, 1) {
            if d.iter().any(Dim::is_dynamic) {
                None
            } else {
                Some(d.into_iter().filter(|x| *x != Dim::Fixed(1)).collect())
            }
        } else if let Some(axes) = const_ints(inputs, 1) {
            let ax = axes_in(&axes, d.len())?;
            Some(
                d.into_iter()
                    .enumerate()
                    .filter(|(i, _)| !ax.contains(i))
                    .map(|(_, x)| x)
                    .collect(),
            )
        } else {
            None
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let axes = opt_ints(inputs, 1)?;
        let out = kept(x.shape(), axes.as_deref())?;
        Ok(vec![x.reshape(&out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::kept;

    #[test]
    fn squeeze_axes() {
        assert_eq!(kept(&[1, 3, 1], None).unwrap(), vec![3]);
        assert_eq!(kept(&[1, 3, 1], Some(&[-1])).unwrap(), vec![1, 3]);
        assert!(kept(&[1, 3, 1], Some(&[1])).is_err());
        assert!(kept(&[1, 3, 1], Some(&[3])).is_err());
    }
}
