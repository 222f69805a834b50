//! `SoftmaxCrossEntropyLoss`: log-softmax over the class axis (1), then the negative
//! log-likelihood loss; the optional second output is the log-probabilities.

use super::common::{check_attrs, float_f64s, float_like, for_each_lane, log_softmax_lane};
use super::nll_loss::{LossAttrs, nll};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Softmax cross-entropy loss.
#[derive(Debug)]
pub struct SoftmaxCrossEntropyLoss {
    attrs: LossAttrs,
}

/// Build from attributes (`reduction`, `ignore_index`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["reduction", "ignore_index"])?;
    Ok(Box::new(SoftmaxCrossEntropyLoss {
        attrs: LossAttrs::parse(ctx.attrs)?,
    }))
}

impl Op for SoftmaxCrossEntropyLoss {
    fn op_type(&self) -> &str {
        "SoftmaxCrossEntropyLoss"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        if x.rank() < 2 {
            return Err(Error::shape(format!(
                "SoftmaxCrossEntropyLoss scores must have shape (N, C, ...), got {:?}",
                x.shape()
            )));
        }
        let data = float_f64s(x)?;
        let logp = for_each_lane(&data, x.shape(), 1, log_softmax_lane);
        let target = input(inputs, 1)?;
        let loss = nll(
            x,
            &logp,
            x.shape(),
            target,
            opt_input(inputs, 2),
            self.attrs,
        )?;
        Ok(vec![loss, float_like(x, x.shape(), &logp)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn uniform_scores_give_log_c() {
        let attrs = Attributes::new().with("reduction", Attribute::String("sum".into()));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 2,
        };
        let x = Tensor::from_vec(&[2, 4], vec![0.5f64; 8]).unwrap();
        let t = Tensor::from_vec(&[2], vec![1i32, 3]).unwrap();
        let y = build(&ctx).unwrap().eval(&[Some(&x), Some(&t)]).unwrap();
        let l = y[0].to_f64_vec().unwrap()[0];
        assert!((l - 2.0 * 4f64.ln()).abs() < 1e-12);
        assert_eq!(y[1].shape(), &[2, 4]);
    }
}
