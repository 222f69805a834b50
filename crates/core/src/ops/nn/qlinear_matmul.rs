//! `QLinearMatMul`: quantized matrix product with requantization to the output scale.

use super::common::{check_attrs, int_tensor};
use super::matmul::MatMulPlan;
use super::matmul_integer::{check_8bit, sub_zero_point};
use super::quant::{qrange, round_sat, scale_values, to_precision};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Quantized matrix product.
#[derive(Debug)]
pub struct QLinearMatMul;

/// Build from attributes (none).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(QLinearMatMul))
}

impl Op for QLinearMatMul {
    fn op_type(&self) -> &str {
        "QLinearMatMul"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0)?;
        let b = input(inputs, 3)?;
        let yzp = input(inputs, 7)?;
        check_8bit(a, "a")?;
        check_8bit(b, "b")?;
        check_8bit(yzp, "y_zero_point")?;
        let plan = MatMulPlan::new(a.shape(), b.shape())?;
        let mut av = a.to_i64_vec()?;
        let mut bv = b.to_i64_vec()?;
        sub_zero_point(
            &mut av,
            a.shape(),
            Some(input(inputs, 2)?),
            a.rank().saturating_sub(2),
            "a_zero_point",
        )?;
        sub_zero_point(
            &mut bv,
            b.shape(),
            Some(input(inputs, 5)?),
            b.rank() - 1,
            "b_zero_point",
        )?;
        let c = plan.run_i64(av, a.shape(), bv, b.shape())?;
        let st = input(inputs, 1)?.dtype();
        let sa = scale_values(input(inputs, 1)?, "a_scale")?;
        let sb = scale_values(input(inputs, 4)?, "b_scale")?;
        let sy = scale_values(input(inputs, 6)?, "y_scale")?;
        if sa.len() != 1 || sb.len() != 1 || sy.len() != 1 {
            return Err(Error::unsupported("QLinearMatMul with per-axis scales"));
        }
        let mult = to_precision(to_precision(sa[0] * sb[0], st) / sy[0], st);
        let zp = yzp.to_f64_vec()?;
        if zp.len() != 1 {
            return Err(Error::unsupported(
                "QLinearMatMul with a per-axis output zero point",
            ));
        }
        let (lo, hi) = qrange(yzp.dtype())?;
        let y = c
            .into_iter()
            .map(|v| round_sat(v as f64 * mult + zp[0], lo, hi) as i64)
            .collect();
        Ok(vec![int_tensor(yzp.dtype(), &plan.out_shape, y)?])
    }
}
