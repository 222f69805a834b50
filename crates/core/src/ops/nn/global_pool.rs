//! `GlobalAveragePool`, `GlobalMaxPool`, `GlobalLpPool`: pool over all spatial axes.

use super::common::{check_attrs, float_tensor, float_vec, nc_fact, split_nc};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Which reduction a global pool applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlobalKind {
    /// Mean.
    Average,
    /// Maximum.
    Max,
    /// Lp norm with the given p.
    Lp(f64),
}

/// A global pool: output `[N, C, 1, 1, ...]`.
#[derive(Debug)]
pub struct GlobalPool {
    kind: GlobalKind,
}

/// Build `GlobalAveragePool`.
pub fn build_average(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(GlobalPool {
        kind: GlobalKind::Average,
    }))
}

/// Build `GlobalMaxPool`.
pub fn build_max(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(GlobalPool {
        kind: GlobalKind::Max,
    }))
}

/// Build `GlobalLpPool` (attribute `p`, default 2).
pub fn build_lp(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["p"])?;
    let p = ctx.attrs.int_or("p", 2)?;
    if p < 1 {
        return Err(Error::attr("p", format!("must be >= 1, got {p}")));
    }
    Ok(Box::new(GlobalPool {
        kind: GlobalKind::Lp(p as f64),
    }))
}

impl Op for GlobalPool {
    fn op_type(&self) -> &str {
        match self.kind {
            GlobalKind::Average => "GlobalAveragePool",
            GlobalKind::Max => "GlobalMaxPool",
            GlobalKind::Lp(_) => "GlobalLpPool",
        }
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let Some(x) = inputs.first() else {
            return Ok(Vec::new());
        };
        let shape = nc_fact(&x.fact.shape).map(|d| {
            let mut dims = d[..2].to_vec();
            dims.extend(std::iter::repeat_n(Dim::Fixed(1), d.len() - 2));
            Shape(dims)
        });
        Ok(vec![TensorFact {
            dtype: x.fact.dtype,
            shape,
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (n, c, spatial) = split_nc(x.shape(), self.op_type())?;
        let il: usize = spatial.iter().product();
        let xv = float_vec(x)?;
        let y: Vec<f64> = (0..n * c)
            .map(|p| {
                let plane = &xv[p * il..][..il];
                match self.kind {
                    GlobalKind::Average => plane.iter().sum::<f64>() / il.max(1) as f64,
                    GlobalKind::Max => plane.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    GlobalKind::Lp(pw) => plane
                        .iter()
                        .map(|v| v.abs().powf(pw))
                        .sum::<f64>()
                        .powf(1.0 / pw),
                }
            })
            .collect();
        let mut shape = vec![n, c];
        shape.extend(std::iter::repeat_n(1, spatial.len()));
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}
