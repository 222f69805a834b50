//! `Transpose`: permute the dims (`perm`, default reversed).

use super::common::{check_attrs, fact, fact_dims, fact_of, for_each_index, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Permutes the dims of its input.
#[derive(Debug)]
pub struct Transpose {
    perm: Option<Vec<i64>>,
}

/// Build from `perm`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["perm"])?;
    let perm = ctx.attrs.ints("perm")?;
    if let Some(p) = &perm {
        let mut seen = vec![false; p.len()];
        for &a in p {
            let ok = usize::try_from(a).ok().and_then(|i| seen.get_mut(i));
            match ok {
                Some(s) if !*s => *s = true,
                _ => return Err(Error::attr("perm", format!("{p:?} is not a permutation"))),
            }
        }
    }
    Ok(Box::new(Transpose { perm }))
}

impl Transpose {
    fn perm(&self, rank: usize) -> Result<Vec<usize>> {
        match &self.perm {
            None => Ok((0..rank).rev().collect()),
            Some(p) if p.len() == rank => Ok(p.iter().map(|&a| a as usize).collect()),
            Some(p) => Err(Error::shape(format!(
                "perm {p:?} does not fit a rank-{rank} input"
            ))),
        }
    }
}

/// Transpose a tensor by a permutation (already validated against its rank).
pub(crate) fn transpose(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let s = x.shape();
    let st = strides(s);
    let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let mut idx = Vec::with_capacity(x.len());
    for_each_index(&out, |o| {
        idx.push(o.iter().zip(&pst).map(|(a, b)| a * b).sum());
        Ok(())
    })?;
    take(x, &idx, &out)
}

impl Op for Transpose {
    fn op_type(&self) -> &str {
        "Transpose"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let dims = match fact_dims(fact(inputs, 0)) {
            Some(d) => Some(self.perm(d.len())?.iter().map(|&p| d[p].clone()).collect()),
            None => None,
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let perm = self.perm(x.rank())?;
        Ok(vec![transpose(x, &perm)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn transpose_2x3() {
        let x = ti(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let r = run_op("Transpose", Attributes::new(), &[Some(x)], 1).unwrap();
        assert_eq!(r[0], ti(&[3, 2], &[1, 4, 2, 5, 3, 6]));
        let bad = Attributes::new().with("perm", Attribute::Ints(vec![0, 0]));
        assert!(run_op("Transpose", bad, &[], 1).is_err());
    }
}
