//! `LSTM`: long short-term memory with input (i), output (o), forget (f) and cell (c)
//! gates, optional peepholes and coupled input/forget gates.

use crate::ops::control::common::{check_attrs, float_data};
use crate::ops::control::rnn::common::{Act, COMMON_ATTRS, RnnAttrs, RnnInputs, read_state};
use crate::ops::util::opt_input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// LSTM layer. Outputs Y, Y_h and Y_c.
#[derive(Debug)]
pub struct Lstm {
    attrs: RnnAttrs,
    input_forget: bool,
}

/// Build from the recurrent attributes (default activations Sigmoid, Tanh, Tanh) and
/// `input_forget`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let mut known = COMMON_ATTRS.to_vec();
    known.push("input_forget");
    check_attrs(ctx.attrs, &known)?;
    let input_forget = ctx.attrs.int_or("input_forget", 0)?;
    if input_forget != 0 && input_forget != 1 {
        return Err(Error::attr("input_forget", "must be 0 or 1"));
    }
    Ok(Box::new(Lstm {
        attrs: RnnAttrs::parse(ctx.attrs, &[Act::Sigmoid, Act::Tanh, Act::Tanh])?,
        input_forget: input_forget == 1,
    }))
}

impl Op for Lstm {
    fn op_type(&self) -> &str {
        "LSTM"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = &self.attrs;
        let io = RnnInputs::read(inputs, a, 4)?;
        let (hs, dirs) = (io.hidden, a.reverse.len());
        let c0 = read_state(inputs, 6, a, io.batch, hs, "initial_c")?;
        let p = match opt_input(inputs, 7) {
            None => vec![0.0; dirs * 3 * hs],
            Some(t) => {
                if t.shape() != [dirs, 3 * hs] {
                    return Err(Error::shape(format!(
                        "P has shape {:?}, expected [{dirs}, {}]",
                        t.shape(),
                        3 * hs
                    )));
                }
                float_data(t, "P")?
            }
        };
        let mut xw = vec![0.0; 4 * hs];
        let mut hr = vec![0.0; 4 * hs];
        let coupled = self.input_forget;
        let (y, h, c) = io.drive(&a.reverse, &c0, |d, x, h, c| {
            let (f, g, hact) = (a.act(d, 0), a.act(d, 1), a.act(d, 2));
            io.project(&io.w, d, io.input, x, &mut xw);
            io.project(&io.r, d, hs, h, &mut hr);
            let bias = &io.b[d * 8 * hs..(d + 1) * 8 * hs];
            let pd = &p[d * 3 * hs..(d + 1) * 3 * hs];
            let pre = |gate: usize, k: usize| {
                let j = gate * hs + k;
                xw[j] + hr[j] + bias[j] + bias[4 * hs + j]
            };
            for k in 0..hs {
                let i = f.apply(a.clip(pre(0, k) + pd[k] * c[k]));
                let fg = if coupled {
                    1.0 - i
                } else {
                    f.apply(a.clip(pre(2, k) + pd[2 * hs + k] * c[k]))
                };
                let cand = g.apply(a.clip(pre(3, k)));
                let cn = fg * c[k] + i * cand;
                let o = f.apply(a.clip(pre(1, k) + pd[hs + k] * cn));
                c[k] = cn;
                h[k] = o * hact.apply(cn);
            }
        });
        let outs = io.outputs(dirs, a.batch_major, y, vec![h, c])?;
        Ok(outs)
    }
}
