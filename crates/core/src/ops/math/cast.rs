//! `Cast` and `CastLike`: element type conversion (see [`Tensor::cast`]).

use super::common::{check_arity, check_attrs, infer_unary};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// The kiln type of an ONNX `TensorProto.DataType` code; `Error::Unsupported` naming the
/// type for the ones kiln does not have.
pub(crate) fn onnx_dtype(code: i64) -> Result<DataType> {
    Ok(match code {
        1 => DataType::F32,
        2 => DataType::U8,
        3 => DataType::I8,
        4 => DataType::U16,
        5 => DataType::I16,
        6 => DataType::I32,
        7 => DataType::I64,
        8 => DataType::String,
        9 => DataType::Bool,
        10 => DataType::F16,
        11 => DataType::F64,
        12 => DataType::U32,
        13 => DataType::U64,
        16 => DataType::BF16,
        other => {
            let name = match other {
                0 => "UNDEFINED",
                14 => "COMPLEX64",
                15 => "COMPLEX128",
                17 => "FLOAT8E4M3FN",
                18 => "FLOAT8E4M3FNUZ",
                19 => "FLOAT8E5M2",
                20 => "FLOAT8E5M2FNUZ",
                21 => "UINT4",
                22 => "INT4",
                23 => "FLOAT4E2M1",
                24 => "FLOAT8E8M0",
                25 => "UINT2",
                26 => "INT2",
                _ => "unknown type code",
            };
            return Err(Error::unsupported(format!(
                "data type {name} ({other}) is not supported"
            )));
        }
    })
}

/// Validate the attributes shared by `Cast` and `CastLike`.
fn check_cast_attrs(ctx: &BuildCtx<'_>, known: &[&str]) -> Result<()> {
    check_attrs(ctx, known)?;
    let saturate = ctx.attrs.int_or("saturate", 1)?;
    if saturate != 0 && saturate != 1 {
        return Err(Error::attr(
            "saturate",
            format!("must be 0 or 1, got {saturate}"),
        ));
    }
    let mode = ctx.attrs.string_or("round_mode", "up".into())?;
    if !["up", "down", "nearest"].contains(&mode.as_str()) {
        return Err(Error::attr("round_mode", format!("unknown mode '{mode}'")));
    }
    Ok(())
}

/// Converts its input to the type of attribute `to`.
#[derive(Debug)]
pub struct Cast {
    to: DataType,
}

/// Build `Cast` (`to` required; `saturate` and `round_mode` only matter for float8 types).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_cast_attrs(ctx, &["to", "saturate", "round_mode"])?;
    check_arity(ctx, "Cast", 1, 1)?;
    let to = onnx_dtype(ctx.attrs.int_req("to")?)?;
    Ok(Box::new(Cast { to }))
}

impl Op for Cast {
    fn op_type(&self) -> &str {
        "Cast"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, Some(self.to))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![input(inputs, 0)?.cast(self.to)?])
    }
}

/// Converts its first input to the type of its second.
#[derive(Debug)]
pub struct CastLike;

/// Build `CastLike`.
pub fn build_like(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_cast_attrs(ctx, &["saturate", "round_mode"])?;
    check_arity(ctx, "CastLike", 2, 2)?;
    Ok(Box::new(CastLike))
}

impl Op for CastLike {
    fn op_type(&self) -> &str {
        "CastLike"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match inputs.get(1).and_then(|i| i.fact.dtype) {
            Some(d) => infer_unary(inputs, Some(d)),
            None => Ok(Vec::new()),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let like = input(inputs, 1)?;
        Ok(vec![input(inputs, 0)?.cast(like.dtype())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn builds_and_rejects() {
        let attrs = Attributes::new().with("to", Attribute::Int(7));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[2], vec![1.7f32, -2.2]).unwrap();
        assert_eq!(
            op.eval(&[Some(&x)]).unwrap()[0],
            Tensor::from_vec(&[2], vec![1i64, -2]).unwrap()
        );
        for code in [17, 22, 14] {
            let attrs = Attributes::new().with("to", Attribute::Int(code));
            let ctx = BuildCtx {
                attrs: &attrs,
                num_inputs: 1,
                num_outputs: 1,
            };
            assert!(matches!(build(&ctx), Err(Error::Unsupported(_))));
        }
        let attrs = Attributes::new()
            .with("to", Attribute::Int(1))
            .with("foo", Attribute::Int(1));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        assert!(matches!(build(&ctx), Err(Error::Attribute { .. })));
    }

    #[test]
    fn cast_like_takes_second_type() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let op = build_like(&ctx).unwrap();
        let x = Tensor::from_vec(&[1], vec![3u8]).unwrap();
        let like = Tensor::scalar(0.0f64);
        assert_eq!(
            op.eval(&[Some(&x), Some(&like)]).unwrap()[0],
            Tensor::from_vec(&[1], vec![3.0f64]).unwrap()
        );
    }
}
