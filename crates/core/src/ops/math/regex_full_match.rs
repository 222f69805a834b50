//! `RegexFullMatch`: true where the whole string matches the `pattern` (RE2 syntax, which
//! the `regex` crate follows).

use super::common::{check_arity, check_attrs, infer_unary};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};
use regex::Regex;

/// Full-string regular expression match.
#[derive(Debug)]
pub struct RegexFullMatch {
    re: Regex,
}

/// Build `RegexFullMatch` (attribute `pattern`, required).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["pattern"])?;
    check_arity(ctx, "RegexFullMatch", 1, 1)?;
    let pattern = ctx.attrs.string_req("pattern")?;
    let re = Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| Error::attr("pattern", format!("invalid regular expression: {e}")))?;
    Ok(Box::new(RegexFullMatch { re }))
}

impl Op for RegexFullMatch {
    fn op_type(&self) -> &str {
        "RegexFullMatch"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_unary(inputs, Some(DataType::Bool))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0)?.array::<String>()?;
        Ok(vec![Tensor::from(a.map(|s| self.re.is_match(s)))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn matches_whole_string() {
        let attrs = Attributes::new().with(
            "pattern",
            Attribute::String(r"www\.[\w.-]+\.\bcom\b".into()),
        );
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(
            &[3],
            vec![
                "www.google.com".to_string(),
                "www.facebook.com.x".into(),
                "www.bbc.co.uk".into(),
            ],
        )
        .unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[3], vec![true, false, false]).unwrap());
        let bad = Attributes::new().with("pattern", Attribute::String("(".into()));
        let ctx = BuildCtx {
            attrs: &bad,
            num_inputs: 1,
            num_outputs: 1,
        };
        assert!(build(&ctx).is_err());
    }
}
