//! `Shape`: the shape of the input as a 1-D i64 tensor, optionally a `[start, end)` slice of it.

use super::common::{check_attrs, fact_dims};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Dim, InferInput, Op, Result, Shape as KShape, Tensor, TensorFact};

/// Returns `shape[start..end]` of its input (negative bounds count from the end, clamped).
#[derive(Debug)]
pub struct Shape {
    start: i64,
    end: Option<i64>,
}

/// Build from `start` and `end`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["start", "end"])?;
    Ok(Box::new(Shape {
        start: ctx.attrs.int_or("start", 0)?,
        end: ctx.attrs.int("end")?,
    }))
}

impl Shape {
    fn range(&self, rank: usize) -> (usize, usize) {
        let r = rank as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = clamp(self.start);
        let e = clamp(self.end.unwrap_or(r));
        (s, e.max(s))
    }
}

impl Op for Shape {
    fn op_type(&self) -> &str {
        "Shape"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let len = fact_dims(inputs.first().map(|i| i.fact)).map(|d| {
            let (s, e) = self.range(d.len());
            Dim::Fixed(e - s)
        });
        Ok(vec![TensorFact {
            dtype: Some(DataType::I64),
            shape: Some(KShape(vec![len.unwrap_or(Dim::Unknown)])),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (s, e) = self.range(x.rank());
        let v: Vec<i64> = x.shape()[s..e].iter().map(|&d| d as i64).collect();
        Ok(vec![Tensor::from_vec(&[v.len()], v)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn start_end_clamp() {
        let x = tf(&[2, 3, 4], &[0.0; 24]);
        let a = Attributes::new()
            .with("start", Attribute::Int(-2))
            .with("end", Attribute::Int(10));
        let r = run_op("Shape", a, &[Some(x.clone())], 1).unwrap();
        assert_eq!(r[0], ti(&[2], &[3, 4]));
        let a = Attributes::new()
            .with("start", Attribute::Int(2))
            .with("end", Attribute::Int(1));
        let r = run_op("Shape", a, &[Some(x)], 1).unwrap();
        assert_eq!(r[0].shape(), &[0]);
        assert!(
            run_op(
                "Shape",
                Attributes::new().with("foo", Attribute::Int(1)),
                &[],
                1
            )
            .is_err()
        );
    }
}
