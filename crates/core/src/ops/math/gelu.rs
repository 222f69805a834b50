//! `Gelu`: Gaussian error linear unit, exact (`approximate="none"`) or tanh-approximated.

use super::common::{check_arity, check_attrs, infer_unary, map_float};
use super::unary::erf;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// `x * Phi(x)`, with `Phi` exact or its tanh approximation.
#[derive(Debug)]
pub struct Gelu {
    tanh: bool,
}

/// Build `Gelu` (attribute `approximate`: `none` or `tanh`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["approximate"])?;
    check_arity(ctx, "Gelu", 1, 1)?;
    let tanh = match ctx.attrs.string_or("approximate", "none".into())?.as_str() {
        "none" => false,
        "tanh" => true,
        other => {
            return Err(Error::attr(
                "approximate",
                format!("unknown value '{other}'"),
            ));
        }
    };
    Ok(Box::new(Gelu { tanh }))
}

fn gelu_exact(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
}

impl Op for Gelu {
    fn op_type(&self) -> &str {
        "Gelu"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let f = if self.tanh { gelu_tanh } else { gelu_exact };
        Ok(vec![map_float(x, f)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!((gelu_exact(1.0) - 0.841_344_746_068_542_9).abs() < 1e-12);
        assert!((gelu_tanh(1.0) - 0.841_191_990_607_477_6).abs() < 1e-12);
        assert_eq!(gelu_exact(0.0), 0.0);
    }
}
