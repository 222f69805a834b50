//! `GRU`: gated recurrent unit with update (z), reset (r) and hidden (h) gates.

use crate::ops::control::common::check_attrs;
use crate::ops::control::rnn::common::{Act, COMMON_ATTRS, RnnAttrs, RnnInputs};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// GRU layer; `linear_before_reset` applies the reset gate after the recurrent projection.
#[derive(Debug)]
pub struct Gru {
    attrs: RnnAttrs,
    linear_before_reset: bool,
}

/// Build from the recurrent attributes (default activations Sigmoid, Tanh) and
/// `linear_before_reset`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let mut known = COMMON_ATTRS.to_vec();
    known.push("linear_before_reset");
    check_attrs(ctx.attrs, &known)?;
    let lbr = ctx.attrs.int_or("linear_before_reset", 0)?;
    if lbr != 0 && lbr != 1 {
        return Err(Error::attr("linear_before_reset", "must be 0 or 1"));
    }
    Ok(Box::new(Gru {
        attrs: RnnAttrs::parse(ctx.attrs, &[Act::Sigmoid, Act::Tanh])?,
        linear_before_reset: lbr == 1,
    }))
}

impl Op for Gru {
    fn op_type(&self) -> &str {
        "GRU"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let io = RnnInputs::read(inputs, a, 3)?;
        let hs = io.hidden;
        let mut xw = vec![0.0; 3 * hs];
        let mut hr = vec![0.0; 3 * hs];
        let mut rh = vec![0.0; hs];
        let mut rh_proj = vec![0.0; hs];
        let c0 = vec![0.0; io.h0.len()];
        let lbr = self.linear_before_reset;
        let (y, h, _) = io.drive(&a.reverse, &c0, |d, x, h, _c| {
            let (f, g) = (a.act(d, 0), a.act(d, 1));
            io.project(&io.w, d, io.input, x, &mut xw);
            io.project(&io.r, d, hs, h, &mut hr);
            let bias = &io.b[d * 6 * hs..(d + 1) * 6 * hs];
            let (wb, rb) = bias.split_at(3 * hs);
            let mut z = vec![0.0; hs];
            let mut r = vec![0.0; hs];
            for k in 0..hs {
                z[k] = f.apply(a.clip(xw[k] + hr[k] + wb[k] + rb[k]));
                r[k] = f.apply(a.clip(xw[hs + k] + hr[hs + k] + wb[hs + k] + rb[hs + k]));
            }
            if !lbr {
                for k in 0..hs {
                    rh[k] = r[k] * h[k];
                }
                // (r ⊙ H)·Rhᵀ: rows 2h..3h of R[d].
                let base = d * 3 * hs * hs + 2 * hs * hs;
                for (k, o) in rh_proj.iter_mut().enumerate() {
                    let row = &io.r[base + k * hs..base + (k + 1) * hs];
                    *o = row.iter().zip(&rh).map(|(p, q)| p * q).sum();
                }
            }
            for k in 0..hs {
                let rec = if lbr {
                    r[k] * (hr[2 * hs + k] + rb[2 * hs + k])
                } else {
                    rh_proj[k] + rb[2 * hs + k]
                };
                let cand = g.apply(a.clip(xw[2 * hs + k] + wb[2 * hs + k] + rec));
                h[k] = (1.0 - z[k]) * cand + z[k] * h[k];
            }
        });
        let outs = io.outputs(a.reverse.len(), a.batch_major, y, vec![h])?;
        Ok(outs)
    }
}
