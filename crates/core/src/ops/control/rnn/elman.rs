//! `RNN`: a simple recurrent layer, `H_t = f(X_t·Wᵀ + H_{t-1}·Rᵀ + Wb + Rb)`.

use crate::ops::control::common::check_attrs;
use crate::ops::control::rnn::common::{Act, COMMON_ATTRS, RnnAttrs, RnnInputs};
use crate::{BuildCtx, Op, Result, Tensor};

/// Elman RNN over a sequence, forward, reverse or bidirectional.
#[derive(Debug)]
pub struct Rnn {
    attrs: RnnAttrs,
}

/// Build from the recurrent attributes (default activation Tanh).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &COMMON_ATTRS)?;
    Ok(Box::new(Rnn {
        attrs: RnnAttrs::parse(ctx.attrs, &[Act::Tanh])?,
    }))
}

impl Op for Rnn {
    fn op_type(&self) -> &str {
        "RNN"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let io = RnnInputs::read(inputs, a, 1)?;
        let hs = io.hidden;
        let mut xw = vec![0.0; hs];
        let mut hr = vec![0.0; hs];
        let c0 = vec![0.0; io.h0.len()];
        let (y, h, _) = io.drive(&a.reverse, &c0, |d, x, h, _c| {
            io.project(&io.w, d, io.input, x, &mut xw);
            io.project(&io.r, d, hs, h, &mut hr);
            let bias = &io.b[d * 2 * hs..(d + 1) * 2 * hs];
            let f = a.act(d, 0);
            for k in 0..hs {
                h[k] = f.apply(a.clip(xw[k] + hr[k] + bias[k] + bias[hs + k]));
            }
        });
        let outs = io.outputs(a.reverse.len(), a.batch_major, y, vec![h])?;
        Ok(outs)
    }
}
