//! `MatMulInteger`: product of 8-bit integer matrices with zero points, into i32.

use super::common::{check_attrs, int_tensor};
use super::matmul::{MatMul, MatMulPlan};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Integer matrix product.
#[derive(Debug)]
pub struct MatMulInteger;

/// Build from attributes (none).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(MatMulInteger))
}

/// Subtract a zero point that is a scalar or one value per index along `axis` of `shape`.
pub fn sub_zero_point(
    v: &mut [i64],
    shape: &[usize],
    zp: Option<&Tensor>,
    axis: usize,
    what: &str,
) -> Result<()> {
    let Some(zp) = zp else { return Ok(()) };
    let z = zp.to_i64_vec()?;
    if z.len() == 1 {
        v.iter_mut().for_each(|x| *x -= z[0]);
        return Ok(());
    }
    let n = shape.get(axis).copied().unwrap_or(0);
    if z.len() != n {
        return Err(Error::shape(format!(
            "{what} has {} values; expected 1 or {n}",
            z.len()
        )));
    }
    let inner: usize = shape[axis + 1..].iter().product();
    for (i, x) in v.iter_mut().enumerate() {
        *x -= z[(i / inner.max(1)) % n.max(1)];
    }
    Ok(())
}

/// Check that a tensor is i8 or u8.
pub fn check_8bit(t: &Tensor, what: &str) -> Result<()> {
    match t.dtype() {
        DataType::I8 | DataType::U8 => Ok(()),
        d => Err(Error::dtype(format!(
            "{what} must be int8 or uint8, got {d}"
        ))),
    }
}

impl Op for MatMulInteger {
    fn op_type(&self) -> &str {
        "MatMulInteger"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let mut f = MatMul.infer(inputs)?;
        f.iter_mut().for_each(|f| f.dtype = Some(DataType::I32));
        Ok(f)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        check_8bit(a, "A")?;
        check_8bit(b, "B")?;
        let plan = MatMulPlan::new(a.shape(), b.shape())?;
        let mut av = a.to_i64_vec()?;
        let mut bv = b.to_i64_vec()?;
        let ra = a.rank();
        let rb = b.rank();
        sub_zero_point(
            &mut av,
            a.shape(),
            opt_input(inputs, 2),
            ra.saturating_sub(2),
            "a_zero_point",
        )?;
        sub_zero_point(
            &mut bv,
            b.shape(),
            opt_input(inputs, 3),
            rb - 1,
            "b_zero_point",
        )?;
        let y = plan.run_i64(av, a.shape(), bv, b.shape())?;
        Ok(vec![int_tensor(DataType::I32, &plan.out_shape, y)?])
    }
}
