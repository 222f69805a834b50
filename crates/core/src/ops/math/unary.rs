//! Unary element-wise math without attributes, one table line per op. Floats compute in
//! f64 and round back to their type; ops that also take integers give an i128 function.

use super::common::{check_arity, check_attrs, infer_unary, map_float, map_int};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// A unary op given by a float function and, for ops that accept integers, an integer one.
#[derive(Debug)]
pub struct Unary {
    name: &'static str,
    float: fn(f64) -> f64,
    int: Option<fn(i128) -> i128>,
}

fn make(
    ctx: &BuildCtx<'_>,
    name: &'static str,
    float: fn(f64) -> f64,
    int: Option<fn(i128) -> i128>,
) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, name, 1, 1)?;
    Ok(Box::new(Unary { name, float, int }))
}

impl Op for Unary {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let out = match self.int {
            Some(g) if x.dtype().is_integer() => map_int(x, g)?,
            _ if x.dtype().is_float() => map_float(x, self.float)?,
            _ => {
                return Err(Error::dtype(format!(
                    "{} does not support {} tensors",
                    self.name,
                    x.dtype()
                )));
            }
        };
        Ok(vec![out])
    }
}

/// Sign that keeps zeros and NaN (numpy `sign`).
fn signum(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// Logistic sigmoid, stable for large |x|.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)`, stable for large |x|.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The error function (series near 0, continued fraction for the tail); ~1e-15 accurate.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 2.5 {
        // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, x2) = (a, a, a * a);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else if a < 6.0 {
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        let mut f = a;
        for k in (1..80).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / (f * std::f64::consts::PI.sqrt())
    } else {
        1.0
    };
    r.copysign(x)
}

macro_rules! unary_ops {
    ($($build:ident: $name:literal, $float:expr, $int:expr;)*) => {$(
        #[doc = concat!("Build `", $name, "`.")]
        pub fn $build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
            make(ctx, $name, $float, $int)
        }
    )*};
}

unary_ops! {
    abs: "Abs", f64::abs, Some(|x: i128| x.abs());
    neg: "Neg", |x: f64| -x, Some(|x: i128| -x);
    sign: "Sign", signum, Some(|x: i128| x.signum());
    relu: "Relu", |x: f64| if x > 0.0 { x } else { 0.0 }, Some(|x: i128| x.max(0));
    reciprocal: "Reciprocal", |x: f64| 1.0 / x, None;
    floor: "Floor", f64::floor, None;
    ceil: "Ceil", f64::ceil, None;
    round: "Round", f64::round_ties_even, None;
    sqrt: "Sqrt", f64::sqrt, None;
    exp: "Exp", f64::exp, None;
    log: "Log", f64::ln, None;
    sin: "Sin", f64::sin, None;
    cos: "Cos", f64::cos, None;
    tan: "Tan", f64::tan, None;
    tanh: "Tanh", f64::tanh, None;
    asin: "Asin", f64::asin, None;
    acos: "Acos", f64::acos, None;
    atan: "Atan", f64::atan, None;
    sinh: "Sinh", f64::sinh, None;
    cosh: "Cosh", f64::cosh, None;
    asinh: "Asinh", f64::asinh, None;
    acosh: "Acosh", f64::acosh, None;
    atanh: "Atanh", f64::atanh, None;
    erf_op: "Erf", erf, None;
    sigmoid_op: "Sigmoid", sigmoid, None;
    softplus_op: "Softplus", softplus, None;
    softsign: "Softsign", |x: f64| x / (1.0 + x.abs()), None;
    hard_swish: "HardSwish", |x: f64| x * (x / 6.0 + 0.5).clamp(0.0, 1.0), None;
    mish: "Mish", |x: f64| x * softplus(x).tanh(), None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    fn run(b: crate::OpBuilder, x: Tensor) -> Result<Tensor> {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        Ok(b(&ctx)?.eval(&[Some(&x)])?.remove(0))
    }

    #[test]
    fn erf_is_accurate() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (-2.0, -0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (1e-8, 1.128_379_167_095_512_6e-8),
        ] {
            assert!(
                (erf(x) - want).abs() <= 1e-14 * want.abs().max(1e-300) + 1e-16,
                "erf({x}) = {}",
                erf(x)
            );
        }
    }

    #[test]
    fn round_is_half_to_even_and_ints_work() {
        let x = Tensor::from_vec(&[4], vec![0.5f32, 1.5, 2.5, -2.5]).unwrap();
        assert_eq!(
            run(round, x).unwrap(),
            Tensor::from_vec(&[4], vec![0.0f32, 2.0, 2.0, -2.0]).unwrap()
        );
        let i = Tensor::from_vec(&[3], vec![-128i8, 5, 0]).unwrap();
        assert_eq!(
            run(abs, i.clone()).unwrap(),
            Tensor::from_vec(&[3], vec![-128i8, 5, 0]).unwrap()
        );
        assert_eq!(
            run(sign, i.clone()).unwrap(),
            Tensor::from_vec(&[3], vec![-1i8, 1, 0]).unwrap()
        );
        assert_eq!(
            run(relu, i.clone()).unwrap(),
            Tensor::from_vec(&[3], vec![0i8, 5, 0]).unwrap()
        );
        assert!(run(sqrt, i).is_err());
    }
}
