//! `Gather`: pick entries along an axis by (possibly negative) indices.

use super::common::{check_attrs, fact, fact_dims, fact_of, index_in, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Gathers slices of `data` along `axis`.
#[derive(Debug)]
pub struct Gather {
    axis: i64,
}

/// Build from `axis` (default 0).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(Gather {
        axis: ctx.attrs.int_or("axis", 0)?,
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

impl Op for Gather {
    fn op_type(&self) -> &str {
        "Gather"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let dims = match (fact_dims(fact(inputs, 0)), fact_dims(fact(inputs, 1))) {
            (Some(d), Some(i)) => {
                let a = norm(self.axis, d.len())?;
                let mut out = d[..a].to_vec();
                out.extend(i);
                out.extend_from_slice(&d[a + 1..]);
                Some(out)
            }
            _ => None,
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let ind = input(inputs, 1)?;
        let s = x.shape();
        let a = norm(self.axis, s.len())?;
        let n = s[a];
        let idx = ind
            .to_i64_vec()?
            .into_iter()
            .map(|i| index_in(i, n))
            .collect::<Result<Vec<_>>>()?;
        let outer: usize = s[..a].iter().product();
        let inner: usize = s[a + 1..].iter().product();
        let mut out_shape = s[..a].to_vec();
        out_shape.extend_from_slice(ind.shape());
        out_shape.extend_from_slice(&s[a + 1..]);
        let mut flat = Vec::with_capacity(outer * idx.len() * inner);
        for o in 0..outer {
            for &i in &idx {
                let base = (o * n + i) * inner;
                flat.extend(base..base + inner);
            }
        }
        Ok(vec![take(x, &flat, &out_shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn gather_axis1_negative() {
        let x = ti(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = Attributes::new().with("axis", Attribute::Int(1));
        let r = run_op(
            "Gather",
            a.clone(),
            &[Some(x.clone()), Some(ti(&[2], &[-1, 0]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 2], &[3, 1, 6, 4]));
        assert!(run_op("Gather", a, &[Some(x), Some(ti(&[1], &[3]))], 1).is_err());
    }
}
