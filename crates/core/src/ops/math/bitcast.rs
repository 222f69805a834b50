//! `BitCast`: reinterpret the bytes of each element as another type of the same size.

use super::cast::onnx_dtype;
use super::common::{check_arity, check_attrs, infer_unary};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Reinterprets element bytes as type `to`.
#[derive(Debug)]
pub struct BitCast {
    to: DataType,
}

/// Build `BitCast` (attribute `to`, a fixed-size type).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["to"])?;
    check_arity(ctx, "BitCast", 1, 1)?;
    let to = onnx_dtype(ctx.attrs.int_req("to")?)?;
    if to == DataType::String {
        return Err(Error::attr("to", "BitCast cannot produce strings"));
    }
    Ok(Box::new(BitCast { to }))
}

impl Op for BitCast {
    fn op_type(&self) -> &str {
        "BitCast"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, Some(self.to))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (from, to) = (x.dtype().size_of(), self.to.size_of());
        if from.is_none() || from != to {
            return Err(Error::dtype(format!(
                "BitCast needs types of the same size, got {} and {}",
                x.dtype(),
                self.to
            )));
        }
        Ok(vec![Tensor::from_le_bytes(
            self.to,
            x.shape(),
            &x.to_le_bytes()?,
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn reinterprets() {
        let attrs = Attributes::new().with("to", Attribute::Int(6));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[2], vec![1.0f32, -2.0]).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(
            y,
            Tensor::from_vec(&[2], vec![0x3f80_0000i32, 0xc000_0000u32 as i32]).unwrap()
        );
        let z = Tensor::from_vec(&[1], vec![1.0f64]).unwrap();
        assert!(op.eval(&[Some(&z)]).is_err());
    }
}
