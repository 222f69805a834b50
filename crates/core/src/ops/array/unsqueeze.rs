//! `Unsqueeze`: insert size-1 dims at the given `axes` (of the output).

use super::common::{axes_in, check_attrs, const_ints, fact, fact_dims, fact_of, req_ints};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, InferInput, Op, Result, Tensor, TensorFact};

/// Inserts size-1 dims.
#[derive(Debug)]
pub struct Unsqueeze;

/// Build (axes come as an input).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Unsqueeze))
}

/// Insert `one` at each of `axes` (normalized against the output rank).
fn insert<D: Clone>(dims: &[D], axes: &[i64], one: D) -> Result<Vec<D>> {
    let rank = dims.len() + axes.len();
    let ax = axes_in(axes, rank)?;
    let mut src = dims.iter();
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        if ax.contains(&i) {
            out.push(one.clone());
        } else if let Some(d) = src.next() {
            out.push(d.clone());
        }
    }
    Ok(out)
}

impl Op for Unsqueeze {
    fn op_type(&self) -> &str {
        "Unsqueeze"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let dims = match (fact_dims(fact(inputs, 0)), const_ints(inputs, 1)) {
            (Some(d), Some(axes)) => Some(insert(&d, &axes, Dim::Fixed(1))?),
            _ => None,
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let axes = req_ints(inputs, 1, "axes")?;
        let out = insert(x.shape(), &axes, 1)?;
        Ok(vec![x.reshape(&out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::insert;

    #[test]
    fn unsqueeze_axes() {
        assert_eq!(insert(&[3, 4], &[0, -1], 1).unwrap(), vec![1, 3, 4, 1]);
        assert_eq!(insert(&[3, 4], &[1], 1).unwrap(), vec![3, 1, 4]);
        assert!(insert(&[3, 4], &[1, 1], 1).is_err());
        assert!(insert(&[3, 4], &[3], 1).is_err());
    }
}
