//! `NegativeLogLikelihoodLoss`, and the loss computation it shares with
//! `SoftmaxCrossEntropyLoss`.

use super::common::{check_attrs, float_f64s, float_like};
use crate::ops::util::{input, opt_input};
use crate::{Attributes, BuildCtx, DataType, Error, Op, Result, Tensor};

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Keep one loss per target element.
    None,
    /// Sum of the weighted losses.
    Sum,
    /// Weighted mean: sum of weighted losses over the sum of the weights.
    Mean,
}

/// The loss attributes shared by both loss ops.
#[derive(Clone, Copy, Debug)]
pub struct LossAttrs {
    /// How to reduce.
    pub reduction: Reduction,
    /// Target value that contributes nothing.
    pub ignore_index: Option<i64>,
}

impl LossAttrs {
    /// Parse `reduction` and `ignore_index`.
    pub fn parse(attrs: &Attributes) -> Result<LossAttrs> {
        let reduction = match attrs.string_or("reduction", "mean".into())?.as_str() {
            "none" => Reduction::None,
            "sum" => Reduction::Sum,
            "mean" => Reduction::Mean,
            other => {
                return Err(Error::attr(
                    "reduction",
                    format!("must be none, sum or mean, got '{other}'"),
                ));
            }
        };
        Ok(LossAttrs {
            reduction,
            ignore_index: attrs.int("ignore_index")?,
        })
    }
}

/// Negative log-likelihood of row-major log-probabilities `logp` of shape `(N, C, d...)`.
/// Returns the loss tensor of the same float type as `like`.
pub fn nll(
    like: &Tensor,
    logp: &[f64],
    shape: &[usize],
    target: &Tensor,
    weight: Option<&Tensor>,
    attrs: LossAttrs,
) -> Result<Tensor> {
    if shape.len() < 2 {
        return Err(Error::shape(format!(
            "loss input must have shape (N, C, ...), got {shape:?}"
        )));
    }
    let (n, c) = (shape[0], shape[1]);
    let d: usize = shape[2..].iter().product();
    let mut tshape = vec![n];
    tshape.extend_from_slice(&shape[2..]);
    if target.shape() != tshape.as_slice() {
        return Err(Error::shape(format!(
            "loss target must have shape {tshape:?} for input {shape:?}, got {:?}",
            target.shape()
        )));
    }
    if !matches!(target.dtype(), DataType::I32 | DataType::I64) {
        return Err(Error::dtype(format!(
            "loss target must be int32 or int64, got {}",
            target.dtype()
        )));
    }
    let labels = target.to_i64_vec()?;
    let weights = match weight {
        Some(w) if w.shape() != [c] => {
            return Err(Error::shape(format!(
                "loss weight must have shape [{c}], got {:?}",
                w.shape()
            )));
        }
        Some(w) if w.dtype() != like.dtype() => {
            return Err(Error::dtype(format!(
                "loss weight must be {}, got {}",
                like.dtype(),
                w.dtype()
            )));
        }
        Some(w) => Some(w.to_f64_vec()?),
        None => None,
    };
    let mut losses = vec![0.0; labels.len()];
    let mut wsum = 0.0;
    for (idx, &t) in labels.iter().enumerate() {
        if Some(t) == attrs.ignore_index {
            continue;
        }
        if t < 0 || t as usize >= c {
            return Err(Error::input(format!(
                "loss target {t} is outside [0, {c}) and is not the ignore_index"
            )));
        }
        let t = t as usize;
        let w = weights
            .as_ref()
            .and_then(|w| w.get(t).copied())
            .unwrap_or(1.0);
        let (i, j) = (idx / d.max(1), idx % d.max(1));
        losses[idx] = -logp[(i * c + t) * d + j] * w;
        wsum += w;
    }
    match attrs.reduction {
        Reduction::None => float_like(like, &tshape, &losses),
        Reduction::Sum => float_like(like, &[], &[losses.iter().sum()]),
        Reduction::Mean => float_like(like, &[], &[losses.iter().sum::<f64>() / wsum]),
    }
}

/// Negative log-likelihood loss of log-probabilities.
#[derive(Debug)]
pub struct NllLoss {
    attrs: LossAttrs,
}

/// Build from attributes (`reduction`, `ignore_index`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["reduction", "ignore_index"])?;
    Ok(Box::new(NllLoss {
        attrs: LossAttrs::parse(ctx.attrs)?,
    }))
}

impl Op for NllLoss {
    fn op_type(&self) -> &str {
        "NegativeLogLikelihoodLoss"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let data = float_f64s(x)?;
        let target = input(inputs, 1)?;
        let out = nll(
            x,
            &data,
            x.shape(),
            target,
            opt_input(inputs, 2),
            self.attrs,
        )?;
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attribute;

    fn op(reduction: &str, ii: Option<i64>) -> Box<dyn Op> {
        let mut attrs = Attributes::new().with("reduction", Attribute::String(reduction.into()));
        if let Some(i) = ii {
            attrs.set("ignore_index", Attribute::Int(i));
        }
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        build(&ctx).unwrap()
    }

    #[test]
    fn weighted_mean_skips_ignored() {
        // N=3, C=2
        let x = Tensor::from_vec(&[3, 2], vec![-1.0f32, -2.0, -3.0, -4.0, -5.0, -6.0]).unwrap();
        let t = Tensor::from_vec(&[3], vec![0i64, 1, -1]).unwrap();
        let w = Tensor::from_vec(&[2], vec![1.0f32, 3.0]).unwrap();
        let y = op("mean", Some(-1))
            .eval(&[Some(&x), Some(&t), Some(&w)])
            .unwrap();
        // (1*1 + 4*3) / (1 + 3)
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![13.0 / 4.0]);
        let y = op("none", Some(-1)).eval(&[Some(&x), Some(&t)]).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![1.0, 4.0, 0.0]);
    }

    #[test]
    fn bad_target_is_error() {
        let x = Tensor::from_vec(&[1, 2], vec![-1.0f32, -2.0]).unwrap();
        let t = Tensor::from_vec(&[1], vec![2i64]).unwrap();
        assert!(op("sum", None).eval(&[Some(&x), Some(&t)]).is_err());
        let t = Tensor::from_vec(&[2], vec![0i64, 0]).unwrap();
        assert!(op("sum", None).eval(&[Some(&x), Some(&t)]).is_err());
        let attrs = Attributes::new().with("reduction", Attribute::String("avg".into()));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        assert!(build(&ctx).is_err());
    }
}
