//! `FusedMatMul` (domain `kiln`): `act(alpha * MatMul(A, op(B)) + bias + Z)`, a batched
//! matrix product with its scale, bias, residual add and activation in one layer. See the
//! family docs for the spec.

use super::{Activation, check_attrs, run_builtin};
use crate::ops::util::{input, opt_input};
use crate::{
    Attribute, Attributes, BuildCtx, Error, InferInput, Op, Result, Shape, Tensor, TensorFact,
};

/// A matrix product with fused scale, bias, residual add and activation.
#[derive(Debug)]
pub struct FusedMatMul {
    /// Scale of the product, applied before the bias.
    pub alpha: f32,
    /// B's last two dims are swapped before the product.
    pub trans_b: bool,
    /// The activation applied last.
    pub activation: Activation,
}

/// Build from attributes (`alpha`, `trans_b`, the activation and provenance attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["alpha", "trans_b"])?;
    if !(2..=4).contains(&ctx.num_inputs) {
        return Err(Error::input(format!(
            "FusedMatMul takes 2 to 4 inputs (A, B, bias, Z), got {}",
            ctx.num_inputs
        )));
    }
    let trans_b = match ctx.attrs.int_or("trans_b", 0)? {
        0 => false,
        1 => true,
        v => return Err(Error::attr("trans_b", format!("must be 0 or 1, got {v}"))),
    };
    Ok(Box::new(FusedMatMul {
        alpha: ctx.attrs.float_or("alpha", 1.0)?,
        trans_b,
        activation: Activation::from_attrs(ctx.attrs)?,
    }))
}

/// Swap the last two dims of a shape of rank >= 2.
fn swap_last(dims: &mut [impl Sized]) {
    let r = dims.len();
    if r >= 2 {
        dims.swap(r - 2, r - 1);
    }
}

impl FusedMatMul {
    fn add_checked(y: Tensor, t: &Tensor, what: &str) -> Result<Tensor> {
        let s = run_builtin("Add", &Attributes::new(), &[Some(&y), Some(t)])?;
        if s.shape() != y.shape() {
            return Err(Error::shape(format!(
                "{what} {:?} does not broadcast to the product {:?}",
                t.shape(),
                y.shape()
            )));
        }
        Ok(s)
    }
}

impl Op for FusedMatMul {
    fn op_type(&self) -> &str {
        "FusedMatMul"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let (Some(a), Some(b)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Vec::new());
        };
        let mut bf = b.fact.clone();
        if self.trans_b {
            match &mut bf.shape {
                Some(Shape(d)) if d.len() >= 2 => swap_last(d),
                Some(s) => {
                    return Err(Error::shape(format!(
                        "trans_b needs B of rank >= 2, got rank {}",
                        s.rank()
                    )));
                }
                None => {}
            }
        }
        let matmul = crate::builtin_ops().build(
            "MatMul",
            &BuildCtx {
                attrs: &Attributes::new(),
                num_inputs: 2,
                num_outputs: 1,
            },
        )?;
        let b_in = InferInput {
            fact: &bf,
            value: None,
        };
        matmul.infer(&[*a, b_in])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        if !self.activation.accepts(a.dtype()) {
            return Err(Error::dtype(format!(
                "activation {} does not take {}",
                self.activation.name(),
                a.dtype()
            )));
        }
        let bt;
        let b = if self.trans_b {
            if b.rank() < 2 {
                return Err(Error::shape(format!(
                    "trans_b needs B of rank >= 2, got {:?}",
                    b.shape()
                )));
            }
            let mut perm: Vec<i64> = (0..b.rank() as i64).collect();
            swap_last(&mut perm);
            let attrs = Attributes::new().with("perm", Attribute::Ints(perm));
            bt = run_builtin("Transpose", &attrs, &[Some(b)])?;
            &bt
        } else {
            b
        };
        let mut y = run_builtin("MatMul", &Attributes::new(), &[Some(a), Some(b)])?;
        if self.alpha != 1.0 {
            let s = Tensor::scalar(self.alpha).cast(y.dtype())?;
            y = run_builtin("Mul", &Attributes::new(), &[Some(&y), Some(&s)])?;
        }
        if let Some(bias) = opt_input(inputs, 2) {
            y = Self::add_checked(y, bias, "bias")?;
        }
        if let Some(z) = opt_input(inputs, 3) {
            y = Self::add_checked(y, z, "residual Z")?;
        }
        Ok(vec![self.activation.apply(y)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_ops;

    fn op(attrs: &Attributes, n: usize) -> Result<Box<dyn Op>> {
        builtin_ops().build(
            "FusedMatMul",
            &BuildCtx {
                attrs,
                num_inputs: n,
                num_outputs: 1,
            },
        )
    }

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) * scale)
            .collect();
        Tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn equals_unfused_with_trans_b_alpha_bias_residual() {
        let attrs = Attributes::new()
            .with("trans_b", Attribute::Int(1))
            .with("alpha", Attribute::Float(0.5))
            .with("activation", Attribute::String("Tanh".into()));
        let f = op(&attrs, 4).unwrap();
        let a = ramp(&[2, 3, 4], 0.1);
        let b = ramp(&[5, 4], 0.2);
        let bias = ramp(&[5], 0.3);
        let z = ramp(&[3, 5], 0.05);
        let y = f
            .eval(&[Some(&a), Some(&b), Some(&bias), Some(&z)])
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), &[2, 3, 5]);
        let none = Attributes::new();
        let perm = Attributes::new().with("perm", Attribute::Ints(vec![1, 0]));
        let bt = run_builtin("Transpose", &perm, &[Some(&b)]).unwrap();
        let m = run_builtin("MatMul", &none, &[Some(&a), Some(&bt)]).unwrap();
        let half = Tensor::scalar(0.5f32);
        let m = run_builtin("Mul", &none, &[Some(&m), Some(&half)]).unwrap();
        let m = run_builtin("Add", &none, &[Some(&m), Some(&bias)]).unwrap();
        let m = run_builtin("Add", &none, &[Some(&m), Some(&z)]).unwrap();
        let m = run_builtin("Tanh", &none, &[Some(&m)]).unwrap();
        assert_eq!(y, m);
        let fa = TensorFact::new(crate::DataType::F32, Shape::fixed(&[2, 3, 4]));
        let fb = TensorFact::new(crate::DataType::F32, Shape::fixed(&[5, 4]));
        let out = f
            .infer(&[
                InferInput {
                    fact: &fa,
                    value: None,
                },
                InferInput {
                    fact: &fb,
                    value: None,
                },
            ])
            .unwrap();
        assert_eq!(out[0].shape, Some(Shape::fixed(&[2, 3, 5])));
    }

    #[test]
    fn bias_that_grows_the_output_is_an_error() {
        let f = op(&Attributes::new(), 3).unwrap();
        let (a, b) = (ramp(&[3, 4], 1.0), ramp(&[4, 5], 1.0));
        let bias = ramp(&[2, 1, 5], 1.0);
        assert!(f.eval(&[Some(&a), Some(&b), Some(&bias)]).is_err());
        let bad = Attributes::new().with("trans_b", Attribute::Int(2));
        assert!(op(&bad, 2).is_err());
    }
}
