//! `Gemm`: `alpha * op(A) @ op(B) + beta * C` with optional transposes and broadcast C.

use super::common::{check_attrs, float_tensor, int_tensor, matmul_f64};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};
use ndarray::{ArrayD, IxDyn};

/// General matrix multiply.
#[derive(Debug)]
pub struct Gemm {
    alpha: f64,
    beta: f64,
    trans_a: bool,
    trans_b: bool,
}

fn flag(ctx: &BuildCtx<'_>, name: &str) -> Result<bool> {
    match ctx.attrs.int_or(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::attr(name, format!("must be 0 or 1, got {v}"))),
    }
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["alpha", "beta", "transA", "transB"])?;
    Ok(Box::new(Gemm {
        alpha: ctx.attrs.float_or("alpha", 1.0)? as f64,
        beta: ctx.attrs.float_or("beta", 1.0)? as f64,
        trans_a: flag(ctx, "transA")?,
        trans_b: flag(ctx, "transB")?,
    }))
}

fn matrix(t: &Tensor, trans: bool, what: &str) -> Result<(Vec<f64>, usize, usize)> {
    let s = t.shape();
    if s.len() != 2 {
        return Err(Error::shape(format!("{what} must be 2-D, got {s:?}")));
    }
    let v = t.to_f64_vec()?;
    if !trans {
        return Ok((v, s[0], s[1]));
    }
    let (r, c) = (s[0], s[1]);
    let mut out = vec![0.0; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    Ok((out, c, r))
}

impl Op for Gemm {
    fn op_type(&self) -> &str {
        "Gemm"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let (Some(a), Some(b)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Vec::new());
        };
        let pick = |s: &Option<Shape>, i: usize| -> Dim {
            s.as_ref()
                .and_then(|s| s.0.get(i).cloned())
                .unwrap_or(Dim::Unknown)
        };
        let m = pick(&a.fact.shape, if self.trans_a { 1 } else { 0 });
        let n = pick(&b.fact.shape, if self.trans_b { 0 } else { 1 });
        Ok(vec![TensorFact {
            dtype: a.fact.dtype,
            shape: Some(Shape(vec![m, n])),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let dt = a.dtype();
        if !dt.is_numeric() || b.dtype() != dt {
            return Err(Error::dtype(format!("Gemm of {} and {}", dt, b.dtype())));
        }
        let (av, m, k) = matrix(a, self.trans_a, "A")?;
        let (bv, k2, n) = matrix(b, self.trans_b, "B")?;
        if k != k2 {
            return Err(Error::shape(format!(
                "Gemm: op(A) is {m}x{k} but op(B) is {k2}x{n}"
            )));
        }
        let mut y = matmul_f64(&av, &bv, m, k, n)?;
        y.iter_mut().for_each(|v| *v *= self.alpha);
        if let Some(c) = opt_input(inputs, 2) {
            let ca = ArrayD::from_shape_vec(IxDyn(c.shape()), c.to_f64_vec()?)
                .map_err(|e| Error::shape(e.to_string()))?;
            let cb = ca.broadcast(IxDyn(&[m, n])).ok_or_else(|| {
                Error::shape(format!(
                    "C {:?} does not broadcast to [{m}, {n}]",
                    c.shape()
                ))
            })?;
            for (v, c) in y.iter_mut().zip(cb.iter()) {
                *v += self.beta * c;
            }
        }
        let out = if dt.is_float() {
            float_tensor(dt, &[m, n], y)?
        } else {
            int_tensor(dt, &[m, n], y.into_iter().map(|v| v as i64).collect())?
        };
        Ok(vec![out])
    }
}
