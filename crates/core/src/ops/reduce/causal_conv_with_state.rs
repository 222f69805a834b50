//! `CausalConvWithState` (opset 27): causal depthwise 1-D convolution over
//! `(batch, channels, length)` with a carried state of the last `k - 1` positions and an
//! optional fused SiLU activation.

use super::common::{check_attrs, float_f64s, float_like};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Stateful causal depthwise convolution.
#[derive(Debug)]
pub struct CausalConvWithState {
    silu: bool,
}

/// Build from attributes (`activation`: none, silu or swish).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["activation"])?;
    let silu = match ctx.attrs.string_or("activation", "none".into())?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        other => {
            return Err(Error::attr(
                "activation",
                format!("must be none, silu or swish, got '{other}'"),
            ));
        }
    };
    Ok(Box::new(CausalConvWithState { silu }))
}

impl Op for CausalConvWithState {
    fn op_type(&self) -> &str {
        "CausalConvWithState"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|i| vec![i.fact.clone()])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let w = input(inputs, 1)?;
        let &[batch, ch, len] = x.shape() else {
            return Err(Error::shape(format!(
                "CausalConvWithState input must be (batch, channels, length), got {:?}",
                x.shape()
            )));
        };
        let k = match w.shape() {
            &[c, 1, k] if c == ch && k >= 1 => k,
            s => {
                return Err(Error::shape(format!(
                    "CausalConvWithState weight must be [{ch}, 1, k], got {s:?}"
                )));
            }
        };
        let xs = float_f64s(x)?;
        let ws = float_f64s(w)?;
        let bias = match opt_input(inputs, 2) {
            Some(b) if b.shape() != [ch] => {
                return Err(Error::shape(format!(
                    "CausalConvWithState bias must be [{ch}], got {:?}",
                    b.shape()
                )));
            }
            Some(b) => float_f64s(b)?,
            None => vec![0.0; ch],
        };
        let state_len = k - 1;
        let past = match opt_input(inputs, 3) {
            Some(p) if p.shape() != [batch, ch, state_len] => {
                return Err(Error::shape(format!(
                    "CausalConvWithState past_state must be [{batch}, {ch}, {state_len}], got {:?}",
                    p.shape()
                )));
            }
            Some(p) => float_f64s(p)?,
            None => vec![0.0; batch * ch * state_len],
        };
        let total = state_len + len;
        let mut out = vec![0.0; batch * ch * len];
        let mut present = vec![0.0; batch * ch * state_len];
        let mut padded = vec![0.0; total];
        for bc in 0..batch * ch {
            let c = bc % ch;
            padded[..state_len].copy_from_slice(&past[bc * state_len..(bc + 1) * state_len]);
            padded[state_len..].copy_from_slice(&xs[bc * len..(bc + 1) * len]);
            let kernel = &ws[c * k..(c + 1) * k];
            for (t, o) in out[bc * len..(bc + 1) * len].iter_mut().enumerate() {
                let acc: f64 = kernel
                    .iter()
                    .zip(&padded[t..t + k])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    + bias[c];
                *o = if self.silu {
                    acc / (1.0 + (-acc).exp())
                } else {
                    acc
                };
            }
            present[bc * state_len..(bc + 1) * state_len]
                .copy_from_slice(&padded[total - state_len..]);
        }
        Ok(vec![
            float_like(x, &[batch, ch, len], &out)?,
            float_like(x, &[batch, ch, state_len], &present)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_past_state_and_carries_tail() {
        let attrs = crate::Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 4,
            num_outputs: 2,
        };
        let op = build(&ctx).unwrap();
        let x = Tensor::from_vec(&[1, 1, 2], vec![3.0f32, 4.0]).unwrap();
        let w = Tensor::from_vec(&[1, 1, 3], vec![1.0f32, 10.0, 100.0]).unwrap();
        let past = Tensor::from_vec(&[1, 1, 2], vec![1.0f32, 2.0]).unwrap();
        let y = op.eval(&[Some(&x), Some(&w), None, Some(&past)]).unwrap();
        // [1,2,3]·w = 1+20+300, [2,3,4]·w = 2+30+400
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![321.0, 432.0]);
        assert_eq!(y[1].to_f64_vec().unwrap(), vec![3.0, 4.0]);
        let bad = Tensor::from_vec(&[2, 1, 3], vec![0.0f32; 6]).unwrap();
        assert!(op.eval(&[Some(&x), Some(&bad)]).is_err());
    }
}
