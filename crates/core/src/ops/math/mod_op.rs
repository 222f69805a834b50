//! `Mod`: remainder with numpy broadcasting. `fmod=0` (integers): the result takes the
//! divisor's sign (Python `%`); `fmod=1`: C `fmod`, the dividend's sign. Floats always use
//! `fmod` (ONNX requires `fmod=1` for them; with `fmod=0` NaN results become 0 like the
//! reference). A zero integer divisor gives 0.

use super::common::{check_arity, check_attrs, infer_broadcast, same_dtype, zip2};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Element-wise remainder.
#[derive(Debug)]
pub struct Mod {
    fmod: bool,
}

/// Build `Mod` (attribute `fmod`: 0 or 1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["fmod"])?;
    check_arity(ctx, "Mod", 2, 2)?;
    let fmod = match ctx.attrs.int_or("fmod", 0)? {
        0 => false,
        1 => true,
        v => return Err(Error::attr("fmod", format!("must be 0 or 1, got {v}"))),
    };
    Ok(Box::new(Mod { fmod }))
}

fn rem<T: Num>(x: T, y: T, fmod: bool) -> T {
    if T::IS_FLOAT {
        let r = x.as_f64() % y.as_f64();
        return T::of_f64(if !fmod && r.is_nan() { 0.0 } else { r });
    }
    let (a, b) = (x.as_i128(), y.as_i128());
    if b == 0 {
        return T::of_i128(0);
    }
    let r = a % b;
    if !fmod && r != 0 && ((r < 0) != (b < 0)) {
        T::of_i128(r + b)
    } else {
        T::of_i128(r)
    }
}

impl Op for Mod {
    fn op_type(&self) -> &str {
        "Mod"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        same_dtype(a, b)?;
        let fmod = self.fmod;
        let out = crate::dispatch_numeric!(a, x => {
            Tensor::from(zip2(x, b.array::<T>()?, |&p, &q| rem(p, q, fmod))?)
        });
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs() {
        assert_eq!(rem(-7i32, 3, false), 2);
        assert_eq!(rem(7i32, -3, false), -2);
        assert_eq!(rem(-7i32, 3, true), -1);
        assert_eq!(rem(7i8, 0, false), 0);
        assert_eq!(rem(-4.5f32, 2.0, true), -0.5);
        assert_eq!(rem(200u8, 7, false), 4);
    }
}
