//! Activations with float attributes, one table line per op: `LeakyRelu`, `Elu`, `Selu`,
//! `Celu`, `HardSigmoid`, `ThresholdedRelu`, `Swish`, `Shrink`. They compute in f64;
//! `Shrink` also takes integers (the result truncates back, like the reference).

use super::common::{check_arity, check_attrs, infer_unary, map_float, map_numeric};
use super::unary::sigmoid;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// An activation `f(x, params)` whose params come from float attributes.
#[derive(Debug)]
pub struct Activation {
    name: &'static str,
    params: Vec<f64>,
    f: fn(f64, &[f64]) -> f64,
    ints: bool,
}

fn make(
    ctx: &BuildCtx<'_>,
    name: &'static str,
    attrs: &[(&str, f32)],
    f: fn(f64, &[f64]) -> f64,
    ints: bool,
) -> Result<Box<dyn Op>> {
    let known: Vec<&str> = attrs.iter().map(|(n, _)| *n).collect();
    check_attrs(ctx, &known)?;
    check_arity(ctx, name, 1, 1)?;
    let params = attrs
        .iter()
        .map(|(n, d)| Ok(ctx.attrs.float_or(n, *d)? as f64))
        .collect::<Result<Vec<f64>>>()?;
    if name == "Celu" && params.first() == Some(&0.0) {
        return Err(Error::attr("alpha", "Celu alpha must not be 0"));
    }
    Ok(Box::new(Activation {
        name,
        params,
        f,
        ints,
    }))
}

impl Op for Activation {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (f, p) = (self.f, self.params.as_slice());
        let out = if self.ints {
            map_numeric(x, |v| f(v, p))?
        } else {
            map_float(x, |v| f(v, p))?
        };
        Ok(vec![out])
    }
}

/// A parameter by position (the table guarantees it exists).
fn p(params: &[f64], i: usize) -> f64 {
    params.get(i).copied().unwrap_or(0.0)
}

macro_rules! activations {
    ($($build:ident: $name:literal, [$(($attr:literal, $def:expr)),*], $ints:literal, $f:expr;)*) => {$(
        #[doc = concat!("Build `", $name, "`.")]
        pub fn $build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
            make(ctx, $name, &[$(($attr, $def)),*], $f, $ints)
        }
    )*};
}

activations! {
    leaky_relu: "LeakyRelu", [("alpha", 0.01)], false,
        |x, a| if x < 0.0 { p(a, 0) * x } else { x };
    elu: "Elu", [("alpha", 1.0)], false,
        |x, a| if x < 0.0 { p(a, 0) * x.exp_m1() } else { x };
    selu: "Selu", [("alpha", 1.673_263_2), ("gamma", 1.050_701)], false,
        |x, a| p(a, 1) * if x > 0.0 { x } else { p(a, 0) * x.exp_m1() };
    celu: "Celu", [("alpha", 1.0)], false,
        |x, a| x.max(0.0) + (p(a, 0) * (x / p(a, 0)).exp_m1()).min(0.0);
    hard_sigmoid: "HardSigmoid", [("alpha", 0.2), ("beta", 0.5)], false,
        |x, a| (p(a, 0) * x + p(a, 1)).clamp(0.0, 1.0);
    thresholded_relu: "ThresholdedRelu", [("alpha", 1.0)], false,
        |x, a| if x > p(a, 0) { x } else { 0.0 };
    swish: "Swish", [("alpha", 1.0)], false,
        |x, a| x * sigmoid(p(a, 0) * x);
    shrink: "Shrink", [("bias", 0.0), ("lambd", 0.5)], true,
        |x, a| if x < -p(a, 1) { x + p(a, 0) } else if x > p(a, 1) { x - p(a, 0) } else { 0.0 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn attributes_are_read_and_checked() {
        let attrs = Attributes::new().with("alpha", Attribute::Float(0.5));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = leaky_relu(&ctx).unwrap();
        let x = Tensor::from_vec(&[2], vec![-2.0f32, 3.0]).unwrap();
        assert_eq!(
            op.eval(&[Some(&x)]).unwrap()[0],
            Tensor::from_vec(&[2], vec![-1.0f32, 3.0]).unwrap()
        );
        assert!(shrink(&ctx).is_err());
        let bad = Attributes::new().with("alpha", Attribute::Int(1));
        let ctx = BuildCtx {
            attrs: &bad,
            num_inputs: 1,
            num_outputs: 1,
        };
        assert!(elu(&ctx).is_err());
    }

    #[test]
    fn shrink_takes_ints() {
        let attrs = Attributes::new()
            .with("lambd", Attribute::Float(1.5))
            .with("bias", Attribute::Float(1.5));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let x = Tensor::from_vec(&[3], vec![-3i32, 1, 3]).unwrap();
        let y = shrink(&ctx).unwrap().eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[3], vec![-1i32, 0, 1]).unwrap());
    }
}
