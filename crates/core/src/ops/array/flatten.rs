//! `Flatten`: reshape to 2-D, splitting the dims at `axis`.

use super::common::{check_attrs, dim_product, fact, fact_dims, fact_of};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Flattens its input to `[prod(dims[..axis]), prod(dims[axis..])]`.
#[derive(Debug)]
pub struct Flatten {
    axis: i64,
}

/// Build from `axis` (default 1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(Flatten {
        axis: ctx.attrs.int_or("axis", 1)?,
    }))
}

impl Flatten {
    fn split(&self, rank: usize) -> Result<usize> {
        let r = rank as i64;
        let a = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if a < 0 || a > r {
            return Err(Error::attr(
                "axis",
                format!("axis {} is out of range for rank {rank}", self.axis),
            ));
        }
        Ok(a as usize)
    }
}

impl Op for Flatten {
    fn op_type(&self) -> &str {
        "Flatten"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let dims = match fact_dims(fact(inputs, 0)) {
            Some(d) => {
                let a = self.split(d.len())?;
                Some(vec![dim_product(&d[..a]), dim_product(&d[a..])])
            }
            None => None,
        };
        Ok(vec![fact_of(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let a = self.split(x.rank())?;
        let s = x.shape();
        Ok(vec![x.reshape(&[
            s[..a].iter().product(),
            s[a..].iter().product(),
        ])?])
    }
}
