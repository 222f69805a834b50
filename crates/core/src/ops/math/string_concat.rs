//! `StringConcat`: element-wise concatenation of two string tensors (numpy broadcasting).

use super::common::{check_arity, check_attrs, infer_broadcast, zip2};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, InferInput, Op, Result, Tensor, TensorFact};

/// `x + y` for strings.
#[derive(Debug)]
pub struct StringConcat;

/// Build `StringConcat`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    check_arity(ctx, "StringConcat", 2, 2)?;
    Ok(Box::new(StringConcat))
}

impl Op for StringConcat {
    fn op_type(&self) -> &str {
        "StringConcat"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, Some(DataType::String))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0)?.array::<String>()?;
        let b = input(inputs, 1)?.array::<String>()?;
        Ok(vec![Tensor::from(zip2(a, b, |x, y| format!("{x}{y}"))?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn concatenates() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        let a = Tensor::from_vec(&[2], vec!["a".to_string(), "ü".into()]).unwrap();
        let b = Tensor::scalar("!".to_string());
        let y = build(&ctx)
            .unwrap()
            .eval(&[Some(&a), Some(&b)])
            .unwrap()
            .remove(0);
        assert_eq!(
            y,
            Tensor::from_vec(&[2], vec!["a!".to_string(), "ü!".into()]).unwrap()
        );
    }
}
