//! `Pow`: `x ^ y` with numpy broadcasting; the output has the base's type. The exponent
//! may be any numeric type: a float on either side computes in f64, two integers compute
//! exactly with wrap-around (a negative exponent gives 0 unless the base is ±1).

use super::common::{check_arity, check_attrs, infer_broadcast, zip2};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, DataType, InferInput, Op, Result, Tensor, TensorFact};
use ndarray::ArrayD;

/// Element-wise power.
#[derive(Debug)]
pub struct Pow;

/// Build `Pow`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "Pow", 2, 2)?;
    Ok(Box::new(Pow))
}

/// Integer power with wrap-around.
fn int_pow(base: i128, exp: i64) -> i128 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 if exp % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let (mut result, mut b, mut e) = (1i128, base, exp as u64);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
        // Low 64 bits are all the narrowing keeps; keep the intermediates bounded.
        result = result as i64 as i128;
        b = b as i64 as i128;
    }
    result
}

fn pow_float_exp<T: Num>(x: &ArrayD<T>, e: &ArrayD<f64>) -> Result<ArrayD<T>> {
    zip2(x, e, |&b, &e| T::of_f64(b.as_f64().powf(e)))
}

fn pow_int_exp<T: Num>(x: &ArrayD<T>, e: &ArrayD<i64>) -> Result<ArrayD<T>> {
    if T::IS_FLOAT {
        zip2(x, e, |&b, &e| T::of_f64(b.as_f64().powf(e as f64)))
    } else {
        zip2(x, e, |&b, &e| T::of_i128(int_pow(b.as_i128(), e)))
    }
}

impl Op for Pow {
    fn op_type(&self) -> &str {
        "Pow"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, y) = (input(inputs, 0)?, input(inputs, 1)?);
        let out = if y.dtype().is_float() && !x.dtype().is_float() {
            // Integer base, float exponent: compute in f64, convert back with Cast rules.
            let b = x.cast(DataType::F64)?.into_array::<f64>()?;
            let e = y.cast(DataType::F64)?.into_array::<f64>()?;
            Tensor::from(pow_float_exp(&b, &e)?).cast(x.dtype())?
        } else if y.dtype().is_float() {
            let e = y.cast(DataType::F64)?.into_array::<f64>()?;
            crate::dispatch_numeric!(x, a => Tensor::from(pow_float_exp(a, &e)?))
        } else {
            let e = y.cast(DataType::I64)?.into_array::<i64>()?;
            crate::dispatch_numeric!(x, a => Tensor::from(pow_int_exp(a, &e)?))
        };
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn mixed_types() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[3], vec![2i32, -3, 5]).unwrap();
        let y = Tensor::from_vec(&[3], vec![10i64, 3, -1]).unwrap();
        assert_eq!(
            op.eval(&[Some(&x), Some(&y)]).unwrap()[0],
            Tensor::from_vec(&[3], vec![1024i32, -27, 0]).unwrap()
        );
        let f = Tensor::scalar(0.5f32);
        assert_eq!(
            op.eval(&[Some(&x), Some(&f)]).unwrap()[0],
            Tensor::from_vec(&[3], vec![1i32, i32::MIN, 2]).unwrap()
        );
        let b = Tensor::from_vec(&[2], vec![2.0f32, 4.0]).unwrap();
        let e = Tensor::scalar(3u64);
        assert_eq!(
            op.eval(&[Some(&b), Some(&e)]).unwrap()[0],
            Tensor::from_vec(&[2], vec![8.0f32, 64.0]).unwrap()
        );
        assert_eq!(int_pow(3, 40) as i32, 3i32.wrapping_pow(40));
        assert_eq!(int_pow(-1, -3), -1);
    }
}
