//! `IsNaN` and `IsInf`: float classification into bool tensors.

use super::common::{check_arity, check_attrs, infer_unary};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// True where the input is NaN (`nan`) or an infinity of an enabled sign.
#[derive(Debug)]
pub struct Classify {
    name: &'static str,
    nan: bool,
    neg_inf: bool,
    pos_inf: bool,
}

/// Build `IsNaN`.
pub fn is_nan(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "IsNaN", 1, 1)?;
    Ok(Box::new(Classify {
        name: "IsNaN",
        nan: true,
        neg_inf: false,
        pos_inf: false,
    }))
}

/// Build `IsInf` (`detect_negative`, `detect_positive`: 0 or 1, default 1).
pub fn is_inf(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["detect_negative", "detect_positive"])?;
    check_arity(ctx, "IsInf", 1, 1)?;
    let flag = |n: &str| -> Result<bool> {
        match ctx.attrs.int_or(n, 1)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::attr(n, format!("must be 0 or 1, got {v}"))),
        }
    };
    Ok(Box::new(Classify {
        name: "IsInf",
        nan: false,
        neg_inf: flag("detect_negative")?,
        pos_inf: flag("detect_positive")?,
    }))
}

impl Op for Classify {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, Some(DataType::Bool))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let test = |v: f64| {
            (self.nan && v.is_nan())
                || (self.pos_inf && v == f64::INFINITY)
                || (self.neg_inf && v == f64::NEG_INFINITY)
        };
        let out = crate::dispatch_float!(x, a => Tensor::from(a.mapv(|v| test(v.as_f64()))));
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn detects() {
        let attrs = Attributes::new().with("detect_positive", Attribute::Int(0));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let x = Tensor::from_vec(&[3], vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN]).unwrap();
        let y = is_inf(&ctx).unwrap().eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[3], vec![false, true, false]).unwrap());
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let y = is_nan(&ctx).unwrap().eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[3], vec![false, false, true]).unwrap());
    }
}
