//! `NhwcPool` (domain `kiln`): a pooling op of the default domain run channels-last, made by
//! the optimizer's CPU layout selection so that pools between NHWC convolutions need no
//! Transposes. Attribute `pool` names the op (`MaxPool`, `AveragePool`, `GlobalAveragePool`
//! or `GlobalMaxPool`); the other attributes are that op's. X and Y are `[N, H, W, C]`
//! (2-D pooling only); one output (no MaxPool Indices).

use super::{FUSED_NODES_ATTR, FUSION_ATTR};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact, builtin_ops};

/// The pools this op can run.
pub const POOLS: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
];

/// NCHW -> NHWC and back.
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// A pooling op on NHWC tensors.
#[derive(Debug)]
pub struct NhwcPool {
    /// The pool on NCHW tensors (the reference).
    inner: Box<dyn Op>,
    /// Its op type.
    pub pool: String,
}

/// Build from attributes (`pool` plus the pool's own).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let pool = ctx
        .attrs
        .string("pool")?
        .ok_or_else(|| Error::attr("pool", "required: the pooling op type"))?;
    if !POOLS.contains(&pool.as_str()) {
        return Err(Error::attr(
            "pool",
            format!("'{pool}' is not one of {POOLS:?}"),
        ));
    }
    if ctx.num_inputs != 1 || ctx.num_outputs != 1 {
        return Err(Error::input(
            "NhwcPool takes one input and gives one output",
        ));
    }
    let mut attrs = ctx.attrs.clone();
    for a in ["pool", FUSION_ATTR, FUSED_NODES_ATTR] {
        attrs.0.remove(a);
    }
    let inner = builtin_ops().build(
        &pool,
        &BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        },
    )?;
    Ok(Box::new(NhwcPool { inner, pool }))
}

/// `t` (4-D) permuted by `perm`.
fn permuted(t: &Tensor, perm: &[usize; 4]) -> Result<Tensor> {
    if t.shape().len() != 4 {
        return Err(Error::shape(format!(
            "NhwcPool takes a 4-D input, got {:?}",
            t.shape()
        )));
    }
    crate::ops::array::transpose::transpose(t, perm)
}

fn permute_fact(f: &TensorFact, perm: &[usize; 4]) -> Result<TensorFact> {
    let mut f = f.clone();
    if let Some(s) = &f.shape {
        if s.0.len() != 4 {
            return Err(Error::shape("NhwcPool takes a 4-D input"));
        }
        f.shape = Some(crate::Shape(perm.iter().map(|&p| s.0[p].clone()).collect()));
    }
    Ok(f)
}

impl Op for NhwcPool {
    fn op_type(&self) -> &str {
        "NhwcPool"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let x = permute_fact(inputs[0].fact, &TO_NCHW)?;
        let ins = [InferInput {
            fact: &x,
            value: None,
        }];
        self.inner
            .infer(&ins)?
            .iter()
            .map(|f| permute_fact(f, &TO_NHWC))
            .collect()
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = crate::ops::util::input(inputs, 0)?;
        let y = self
            .inner
            .eval(&[Some(&permuted(x, &TO_NCHW)?)])?
            .swap_remove(0);
        Ok(vec![permuted(&y, &TO_NHWC)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn op(attrs: &Attributes) -> Result<Box<dyn Op>> {
        builtin_ops().build(
            "NhwcPool",
            &BuildCtx {
                attrs,
                num_inputs: 1,
                num_outputs: 1,
            },
        )
    }

    #[test]
    fn equals_the_nchw_pool_transposed() {
        let x = Tensor::from_vec(
            &[1, 3, 4, 2],
            (0..24).map(|v| (v * 7 % 11) as f32).collect(),
        )
        .unwrap();
        let a = Attributes::new()
            .with("pool", Attribute::String("MaxPool".into()))
            .with("kernel_shape", Attribute::Ints(vec![2, 2]));
        let y = op(&a).unwrap().eval(&[Some(&x)]).unwrap().remove(0);
        let plain = Attributes::new().with("kernel_shape", Attribute::Ints(vec![2, 2]));
        let xc = permuted(&x, &TO_NCHW).unwrap();
        let want = super::super::run_builtin("MaxPool", &plain, &[Some(&xc)]).unwrap();
        assert_eq!(y, permuted(&want, &TO_NHWC).unwrap());
        assert_eq!(y.shape(), [1, 2, 3, 2]);
    }

    #[test]
    fn rejects_unknown_pools_and_missing_pool() {
        let a = Attributes::new().with("pool", Attribute::String("LpPool".into()));
        assert!(op(&a).is_err());
        assert!(op(&Attributes::new()).is_err());
    }
}
