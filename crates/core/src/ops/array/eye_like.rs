//! `EyeLike`: a 2-D tensor shaped like the input with ones on diagonal `k`.

use super::common::{check_attrs, dtype_from_onnx, from_f64s};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Identity-like matrix.
#[derive(Debug)]
pub struct EyeLike {
    dtype: Option<DataType>,
    k: i64,
}

/// Build from `dtype` (an ONNX data type code) and `k`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["dtype", "k"])?;
    let dtype = match ctx.attrs.int("dtype")? {
        None => None,
        Some(c) => match dtype_from_onnx(c) {
            Some(DataType::String) | None => {
                return Err(Error::attr("dtype", format!("unsupported data type {c}")));
            }
            d => d,
        },
    };
    Ok(Box::new(EyeLike {
        dtype,
        k: ctx.attrs.int_or("k", 0)?,
    }))
}

impl Op for EyeLike {
    fn op_type(&self) -> &str {
        "EyeLike"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let f = inputs.first().map(|i| i.fact.clone()).unwrap_or_default();
        Ok(vec![TensorFact {
            dtype: self.dtype.or(f.dtype),
            shape: f.shape,
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let [r, c] = *x.shape() else {
            return Err(Error::shape(format!(
                "EyeLike needs a 2-D input, got {:?}",
                x.shape()
            )));
        };
        let dtype = self.dtype.unwrap_or(x.dtype());
        let mut v = vec![0.0; r * c];
        for i in 0..r {
            let j = i as i64 + self.k;
            if j >= 0 && (j as usize) < c {
                v[i * c + j as usize] = 1.0;
            }
        }
        Ok(vec![from_f64s(dtype, &[r, c], &v)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf};
    use crate::{Attribute, Attributes, Tensor};

    #[test]
    fn shifted_diagonal_and_dtype() {
        let x = tf(&[2, 3], &[0.0; 6]);
        let a = Attributes::new()
            .with("k", Attribute::Int(1))
            .with("dtype", Attribute::Int(7));
        let r = run_op("EyeLike", a, &[Some(x.clone())], 1).unwrap();
        assert_eq!(
            r[0],
            Tensor::from_vec(&[2, 3], vec![0i64, 1, 0, 0, 0, 1]).unwrap()
        );
        assert!(
            run_op(
                "EyeLike",
                Attributes::new().with("dtype", Attribute::Int(8)),
                &[],
                1
            )
            .is_err()
        );
        assert!(
            run_op(
                "EyeLike",
                Attributes::new(),
                &[Some(tf(&[2], &[0.0, 0.0]))],
                1
            )
            .is_err()
        );
    }
}
