//! `BitShift`: logical shift of unsigned integers; shifting by the bit width or more gives 0.

use super::common::{check_arity, check_attrs, infer_broadcast, same_dtype, zip2};
use super::scalar::Num;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Shifts `x` left or right by `y` bits (broadcasting).
#[derive(Debug)]
pub struct BitShift {
    left: bool,
}

/// Build `BitShift` (attribute `direction`: `LEFT` or `RIGHT`, required).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["direction"])?;
    check_arity(ctx, "BitShift", 2, 2)?;
    let left = match ctx.attrs.string_req("direction")?.as_str() {
        "LEFT" => true,
        "RIGHT" => false,
        other => {
            return Err(Error::attr(
                "direction",
                format!("must be LEFT or RIGHT, got '{other}'"),
            ));
        }
    };
    Ok(Box::new(BitShift { left }))
}

fn shift<T: Num>(x: T, s: T, left: bool) -> T {
    let (v, s) = (x.as_i128() as u128, s.as_i128());
    if s < 0 || s >= T::BITS as i128 {
        return T::of_i128(0);
    }
    let r = if left { v << s } else { v >> s };
    T::of_i128(r as i128)
}

impl Op for BitShift {
    fn op_type(&self) -> &str {
        "BitShift"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        same_dtype(a, b)?;
        if a.dtype().is_signed() {
            return Err(Error::dtype(format!(
                "BitShift needs unsigned integers, got {}",
                a.dtype()
            )));
        }
        let left = self.left;
        let out = crate::dispatch_int!(a, x => {
            Tensor::from(zip2(x, b.array::<T>()?, |&p, &q| shift(p, q, left))?)
        });
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts() {
        assert_eq!(shift(0x81u8, 1, true), 0x02);
        assert_eq!(shift(0x81u8, 8, true), 0);
        assert_eq!(shift(u64::MAX, 63, false), 1);
        assert_eq!(shift(1u64, 63, true), 1 << 63);
    }
}
