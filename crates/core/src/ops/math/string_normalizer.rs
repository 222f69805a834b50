//! `StringNormalizer`: drop stop words from a `[C]` or `[1, C]` string tensor, then
//! optionally change case. An all-dropped input gives one empty string.

use super::common::{check_arity, check_attrs};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Case change applied after stop-word removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    None,
    Lower,
    Upper,
}

/// Removes stop words and changes case.
#[derive(Debug)]
pub struct StringNormalizer {
    case: Case,
    case_sensitive: bool,
    stopwords: Vec<String>,
}

/// Build `StringNormalizer` (`case_change_action`, `is_case_sensitive`, `stopwords`,
/// `locale` — only the default/`en_US` behaviour).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx,
        &[
            "case_change_action",
            "is_case_sensitive",
            "stopwords",
            "locale",
        ],
    )?;
    check_arity(ctx, "StringNormalizer", 1, 1)?;
    let case = match ctx
        .attrs
        .string_or("case_change_action", "NONE".into())?
        .as_str()
    {
        "NONE" => Case::None,
        "LOWER" => Case::Lower,
        "UPPER" => Case::Upper,
        other => {
            return Err(Error::attr(
                "case_change_action",
                format!("unknown action '{other}'"),
            ));
        }
    };
    let case_sensitive = ctx.attrs.int_or("is_case_sensitive", 0)? != 0;
    let mut stopwords = ctx.attrs.strings_or("stopwords", Vec::new())?;
    if !case_sensitive {
        stopwords = stopwords.iter().map(|s| s.to_lowercase()).collect();
    }
    Ok(Box::new(StringNormalizer {
        case,
        case_sensitive,
        stopwords,
    }))
}

impl Op for StringNormalizer {
    fn op_type(&self) -> &str {
        "StringNormalizer"
    }

    fn infer(&self, _inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(vec![TensorFact::dtype_only(DataType::String)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let a = x.array::<String>()?;
        let two_d = match x.shape() {
            [_] => false,
            [1, _] => true,
            s => {
                return Err(Error::shape(format!(
                    "StringNormalizer takes [C] or [1, C], got {s:?}"
                )));
            }
        };
        let mut kept: Vec<String> = a
            .iter()
            .filter(|s| {
                let key = if self.case_sensitive {
                    (*s).clone()
                } else {
                    s.to_lowercase()
                };
                !self.stopwords.contains(&key)
            })
            .map(|s| match self.case {
                Case::None => s.clone(),
                Case::Lower => s.to_lowercase(),
                Case::Upper => s.to_uppercase(),
            })
            .collect();
        if kept.is_empty() {
            kept.push(String::new());
        }
        let n = kept.len();
        let shape: Vec<usize> = if two_d { vec![1, n] } else { vec![n] };
        Ok(vec![Tensor::from_vec(&shape, kept)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn removes_and_uppercases() {
        let attrs = Attributes::new()
            .with("stopwords", Attribute::Strings(vec!["the".into()]))
            .with("case_change_action", Attribute::String("UPPER".into()));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        let x =
            Tensor::from_vec(&[1, 3], vec!["The".to_string(), "cat".into(), "the".into()]).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(
            y,
            Tensor::from_vec(&[1, 1], vec!["CAT".to_string()]).unwrap()
        );
        let x = Tensor::from_vec(&[1], vec!["THE".to_string()]).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[1], vec![String::new()]).unwrap());
    }
}
