//! `StringSplit`: split each string on a delimiter (or on runs of whitespace when the
//! delimiter is empty), padding to the longest split with empty strings; the second output
//! counts the pieces of each element.

use super::common::{check_arity, check_attrs};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Dim, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Splits strings into a new last axis.
#[derive(Debug)]
pub struct StringSplit {
    delimiter: String,
    maxsplit: Option<usize>,
}

/// Build `StringSplit` (`delimiter`, default empty; `maxsplit`, default unlimited).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["delimiter", "maxsplit"])?;
    check_arity(ctx, "StringSplit", 1, 1)?;
    let delimiter = ctx.attrs.string_or("delimiter", String::new())?;
    let maxsplit = match ctx.attrs.int("maxsplit")? {
        None => None,
        Some(n) if n >= 0 => Some(n as usize),
        Some(n) => return Err(Error::attr("maxsplit", format!("must be >= 0, got {n}"))),
    };
    Ok(Box::new(StringSplit {
        delimiter,
        maxsplit,
    }))
}

impl StringSplit {
    fn split(&self, s: &str) -> Vec<String> {
        let max = self.maxsplit.unwrap_or(usize::MAX);
        if self.delimiter.is_empty() {
            let mut out = Vec::new();
            let mut rest = s.trim_start();
            while !rest.is_empty() {
                if out.len() == max {
                    out.push(rest.trim_end().to_string());
                    break;
                }
                match rest.find(char::is_whitespace) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = rest[i..].trim_start();
                    }
                    None => {
                        out.push(rest.to_string());
                        break;
                    }
                }
            }
            out
        } else {
            s.splitn(max.saturating_add(1), self.delimiter.as_str())
                .map(str::to_string)
                .collect()
        }
    }
}

impl Op for StringSplit {
    fn op_type(&self) -> &str {
        "StringSplit"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let shape = inputs.first().and_then(|i| i.fact.shape.clone());
        let pieces = shape.clone().map(|mut s| {
            s.0.push(Dim::Unknown);
            s
        });
        Ok(vec![
            TensorFact {
                dtype: Some(DataType::String),
                shape: pieces,
            },
            TensorFact {
                dtype: Some(DataType::I64),
                shape,
            },
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let a = x.array::<String>()?;
        let parts: Vec<Vec<String>> = a.iter().map(|s| self.split(s)).collect();
        let width = parts.iter().map(Vec::len).max().unwrap_or(0);
        let counts: Vec<i64> = parts.iter().map(|p| p.len() as i64).collect();
        let mut flat = Vec::with_capacity(parts.len() * width);
        for mut p in parts {
            p.resize(width, String::new());
            flat.extend(p);
        }
        let mut shape = x.shape().to_vec();
        let count_shape = shape.clone();
        shape.push(width);
        Ok(vec![
            Tensor::from_vec(&shape, flat)?,
            Tensor::from_vec(&count_shape, counts)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn op(attrs: Attributes) -> StringSplit {
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 2,
        };
        let _ = build(&ctx).unwrap();
        StringSplit {
            delimiter: attrs.string_or("delimiter", String::new()).unwrap(),
            maxsplit: attrs.int("maxsplit").unwrap().map(|n| n as usize),
        }
    }

    #[test]
    fn splits_and_pads() {
        let o = op(Attributes::new().with("delimiter", Attribute::String("-".into())));
        assert_eq!(o.split("a--b"), vec!["a", "", "b"]);
        let o = op(Attributes::new());
        assert_eq!(o.split("  a  b c "), vec!["a", "b", "c"]);
        assert!(o.split("   ").is_empty());
        let o = op(Attributes::new().with("maxsplit", Attribute::Int(1)));
        assert_eq!(o.split("a b  c "), vec!["a", "b  c"]);
        let x = Tensor::from_vec(&[2], vec!["a b".to_string(), "c".into()]).unwrap();
        let y = o.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].shape(), &[2, 2]);
        assert_eq!(y[1], Tensor::from_vec(&[2], vec![2i64, 1]).unwrap());
    }
}
