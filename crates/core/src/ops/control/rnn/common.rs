//! Shared machinery of `RNN`, `GRU` and `LSTM`: attributes, activation functions, input
//! unpacking (layouts, directions, sequence lengths) and the time-step driver.

use crate::ops::control::common::{float_data, from_f64};
use crate::ops::util::{input, opt_input};
use crate::{Attributes, DataType, Error, Result, Tensor};

/// An activation function of a recurrent cell, with its alpha/beta.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f64, f64),
    LeakyRelu(f64),
    ThresholdedRelu(f64),
    ScaledTanh(f64, f64),
    HardSigmoid(f64, f64),
    Elu(f64),
    Softsign,
    Softplus,
}

impl Act {
    /// Apply to one value.
    pub(crate) fn apply(self, x: f64) -> f64 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Affine(a, b) => a * x + b,
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * (x.exp() - 1.0)
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => (1.0 + x.exp()).ln(),
        }
    }
}

/// Parse `activations` with `activation_alpha`/`activation_beta` (consumed in order by the
/// activations that take them), or use `defaults`; one set per direction.
fn parse_acts(attrs: &Attributes, defaults: &[Act], dirs: usize) -> Result<Vec<Act>> {
    let Some(names) = attrs.strings("activations")? else {
        return Ok((0..dirs).flat_map(|_| defaults.iter().copied()).collect());
    };
    let alphas = attrs.floats("activation_alpha")?.unwrap_or_default();
    let betas = attrs.floats("activation_beta")?.unwrap_or_default();
    let (mut ai, mut bi) = (0, 0);
    let next = |list: &[f32], i: &mut usize, d: f64| {
        let v = list.get(*i).map(|&x| x as f64).unwrap_or(d);
        *i += 1;
        v
    };
    let mut acts = Vec::with_capacity(names.len());
    for n in &names {
        let act = match n.to_ascii_lowercase().as_str() {
            "relu" => Act::Relu,
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "affine" => Act::Affine(next(&alphas, &mut ai, 1.0), next(&betas, &mut bi, 0.0)),
            "leakyrelu" => Act::LeakyRelu(next(&alphas, &mut ai, 0.01)),
            "thresholdedrelu" => Act::ThresholdedRelu(next(&alphas, &mut ai, 1.0)),
            "scaledtanh" => {
                Act::ScaledTanh(next(&alphas, &mut ai, 1.0), next(&betas, &mut bi, 1.0))
            }
            "hardsigmoid" => {
                Act::HardSigmoid(next(&alphas, &mut ai, 0.2), next(&betas, &mut bi, 0.5))
            }
            "elu" => Act::Elu(next(&alphas, &mut ai, 1.0)),
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            other => {
                return Err(Error::attr(
                    "activations",
                    format!("unknown activation function '{other}'"),
                ));
            }
        };
        acts.push(act);
    }
    if acts.len() == defaults.len() && dirs == 2 {
        let again = acts.clone();
        acts.extend(again);
    }
    if acts.len() != defaults.len() * dirs {
        return Err(Error::attr(
            "activations",
            format!(
                "expected {} activation functions, got {}",
                defaults.len() * dirs,
                acts.len()
            ),
        ));
    }
    Ok(acts)
}

/// Attributes common to the three recurrent ops.
#[derive(Clone, Debug)]
pub(crate) struct RnnAttrs {
    /// `hidden_size`, if given (otherwise taken from `R`).
    pub hidden: Option<usize>,
    /// Per direction: true when it runs backwards in time.
    pub reverse: Vec<bool>,
    /// Activations, `per_dir` of them per direction.
    pub acts: Vec<Act>,
    /// Number of activations per direction.
    pub per_dir: usize,
    /// Clip threshold on gate pre-activations.
    pub clip: Option<f64>,
    /// Batch-major (`layout = 1`) inputs/outputs.
    pub batch_major: bool,
}

/// The attribute names every recurrent op knows.
pub(crate) const COMMON_ATTRS: [&str; 7] = [
    "activation_alpha",
    "activation_beta",
    "activations",
    "clip",
    "direction",
    "hidden_size",
    "layout",
];

impl RnnAttrs {
    /// Parse the common attributes; `defaults` are the activations of one direction.
    pub(crate) fn parse(attrs: &Attributes, defaults: &[Act]) -> Result<RnnAttrs> {
        let reverse = match attrs.string_or("direction", "forward".into())?.as_str() {
            "forward" => vec![false],
            "reverse" => vec![true],
            "bidirectional" => vec![false, true],
            other => {
                return Err(Error::attr(
                    "direction",
                    format!("unknown direction '{other}'"),
                ));
            }
        };
        let hidden = match attrs.int("hidden_size")? {
            Some(h) if h <= 0 => return Err(Error::attr("hidden_size", "must be positive")),
            h => h.map(|h| h as usize),
        };
        let clip = match attrs.float("clip")? {
            Some(c) if c.is_nan() || c <= 0.0 => {
                return Err(Error::attr("clip", "must be positive"));
            }
            c => c.map(f64::from),
        };
        let layout = attrs.int_or("layout", 0)?;
        if layout != 0 && layout != 1 {
            return Err(Error::attr("layout", "must be 0 or 1"));
        }
        Ok(RnnAttrs {
            hidden,
            acts: parse_acts(attrs, defaults, reverse.len())?,
            per_dir: defaults.len(),
            reverse,
            clip,
            batch_major: layout == 1,
        })
    }

    /// Clip a gate pre-activation.
    pub(crate) fn clip(&self, x: f64) -> f64 {
        match self.clip {
            Some(c) => x.clamp(-c, c),
            None => x,
        }
    }

    /// Activation `k` of direction `d`.
    pub(crate) fn act(&self, d: usize, k: usize) -> Act {
        self.acts[d * self.per_dir + k]
    }
}

/// The unpacked inputs of a recurrent op, all in f64, time-major.
pub(crate) struct RnnInputs {
    /// Output element type (that of X).
    pub dtype: DataType,
    /// Sequence length.
    pub seq: usize,
    /// Batch size.
    pub batch: usize,
    /// Input feature size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// X as [seq, batch, input].
    pub x: Vec<f64>,
    /// W as [dirs, gates*hidden, input].
    pub w: Vec<f64>,
    /// R as [dirs, gates*hidden, hidden].
    pub r: Vec<f64>,
    /// B as [dirs, 2*gates*hidden] (zeros when absent).
    pub b: Vec<f64>,
    /// Valid steps per batch entry.
    pub lens: Vec<usize>,
    /// Initial hidden state as [dirs, batch, hidden].
    pub h0: Vec<f64>,
}

fn check_shape(t: &Tensor, want: &[usize], what: &str) -> Result<()> {
    if t.shape() != want {
        return Err(Error::shape(format!(
            "{what} has shape {:?}, expected {want:?}",
            t.shape()
        )));
    }
    Ok(())
}

/// Convert a batch-major [batch, dirs, hidden] state to [dirs, batch, hidden] or back.
pub(crate) fn swap01(v: &[f64], a: usize, b: usize, inner: usize) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for i in 0..a {
        for j in 0..b {
            let src = (i * b + j) * inner;
            let dst = (j * a + i) * inner;
            out[dst..dst + inner].copy_from_slice(&v[src..src + inner]);
        }
    }
    out
}

/// Read an initial state input (`initial_h` / `initial_c`) at input index `idx`.
pub(crate) fn read_state(
    inputs: &[Option<&Tensor>],
    idx: usize,
    a: &RnnAttrs,
    batch: usize,
    hidden: usize,
    what: &str,
) -> Result<Vec<f64>> {
    let dirs = a.reverse.len();
    match opt_input(inputs, idx) {
        None => Ok(vec![0.0; dirs * batch * hidden]),
        Some(t) => {
            if a.batch_major {
                check_shape(t, &[batch, dirs, hidden], what)?;
                Ok(swap01(&float_data(t, what)?, batch, dirs, hidden))
            } else {
                check_shape(t, &[dirs, batch, hidden], what)?;
                float_data(t, what)
            }
        }
    }
}

impl RnnInputs {
    /// Unpack X, W, R, B, sequence_lens and initial_h for an op with `gates` gates.
    pub(crate) fn read(inputs: &[Option<&Tensor>], a: &RnnAttrs, gates: usize) -> Result<Self> {
        let x = input(inputs, 0)?;
        let w = input(inputs, 1)?;
        let r = input(inputs, 2)?;
        let dirs = a.reverse.len();
        let &[d0, d1, input] = x.shape() else {
            return Err(Error::shape(format!(
                "X must have rank 3, got {:?}",
                x.shape()
            )));
        };
        let (seq, batch) = if a.batch_major { (d1, d0) } else { (d0, d1) };
        let hidden = match a.hidden {
            Some(h) => h,
            None => *r
                .shape()
                .last()
                .ok_or_else(|| Error::shape("R must have rank 3"))?,
        };
        check_shape(w, &[dirs, gates * hidden, input], "W")?;
        check_shape(r, &[dirs, gates * hidden, hidden], "R")?;
        let mut xv = float_data(x, "X")?;
        if a.batch_major {
            xv = swap01(&xv, batch, seq, input);
        }
        let b = match opt_input(inputs, 3) {
            None => vec![0.0; dirs * 2 * gates * hidden],
            Some(t) => {
                check_shape(t, &[dirs, 2 * gates * hidden], "B")?;
                float_data(t, "B")?
            }
        };
        let lens = match opt_input(inputs, 4) {
            None => vec![seq; batch],
            Some(t) => {
                check_shape(t, &[batch], "sequence_lens")?;
                t.to_i64_vec()?
                    .into_iter()
                    .map(|l| {
                        if l < 0 || l as usize > seq {
                            Err(Error::input(format!(
                                "sequence length {l} is outside 0..={seq}"
                            )))
                        } else {
                            Ok(l as usize)
                        }
                    })
                    .collect::<Result<_>>()?
            }
        };
        let h0 = read_state(inputs, 5, a, batch, hidden, "initial_h")?;
        Ok(RnnInputs {
            dtype: x.dtype(),
            seq,
            batch,
            input,
            hidden,
            x: xv,
            w: float_data(w, "W")?,
            r: float_data(r, "R")?,
            b,
            lens,
            h0,
        })
    }

    /// `out = mat[d] · v`, where `mat` is [dirs, out.len(), cols] row-major.
    pub(crate) fn project(&self, mat: &[f64], d: usize, cols: usize, v: &[f64], out: &mut [f64]) {
        let rows = out.len();
        let base = d * rows * cols;
        for (k, o) in out.iter_mut().enumerate() {
            let row = &mat[base + k * cols..base + (k + 1) * cols];
            *o = row.iter().zip(v).map(|(a, b)| a * b).sum();
        }
    }

    /// Run every direction over time. `cell(d, x_t, h, c)` updates one batch entry's state.
    /// Returns Y as [seq, dirs, batch, hidden] and the final states as [dirs, batch, hidden].
    pub(crate) fn drive(
        &self,
        dirs: &[bool],
        c0: &[f64],
        mut cell: impl FnMut(usize, &[f64], &mut [f64], &mut [f64]),
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (hs, nb, nd) = (self.hidden, self.batch, dirs.len());
        let mut y = vec![0.0; self.seq * nd * nb * hs];
        let mut h_last = self.h0.clone();
        let mut c_last = c0.to_vec();
        for (d, &rev) in dirs.iter().enumerate() {
            for bi in 0..nb {
                let off = (d * nb + bi) * hs;
                let mut h = self.h0[off..off + hs].to_vec();
                let mut c = c0[off..off + hs].to_vec();
                let len = self.lens[bi];
                for step in 0..len {
                    let t = if rev { len - 1 - step } else { step };
                    let xo = (t * nb + bi) * self.input;
                    cell(d, &self.x[xo..xo + self.input], &mut h, &mut c);
                    let yo = ((t * nd + d) * nb + bi) * hs;
                    y[yo..yo + hs].copy_from_slice(&h);
                }
                h_last[off..off + hs].copy_from_slice(&h);
                c_last[off..off + hs].copy_from_slice(&c);
            }
        }
        (y, h_last, c_last)
    }

    /// Package Y and final states into output tensors in the op's layout.
    pub(crate) fn outputs(
        &self,
        dirs: usize,
        batch_major: bool,
        y: Vec<f64>,
        states: Vec<Vec<f64>>,
    ) -> Result<Vec<Tensor>> {
        let (s, b, h) = (self.seq, self.batch, self.hidden);
        let mut out = Vec::with_capacity(1 + states.len());
        if batch_major {
            // [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]
            let mut yb = vec![0.0; y.len()];
            for t in 0..s {
                for d in 0..dirs {
                    for bi in 0..b {
                        let src = ((t * dirs + d) * b + bi) * h;
                        let dst = ((bi * s + t) * dirs + d) * h;
                        yb[dst..dst + h].copy_from_slice(&y[src..src + h]);
                    }
                }
            }
            out.push(from_f64(self.dtype, &[b, s, dirs, h], yb)?);
            for st in states {
                out.push(from_f64(
                    self.dtype,
                    &[b, dirs, h],
                    swap01(&st, dirs, b, h),
                )?);
            }
        } else {
            out.push(from_f64(self.dtype, &[s, dirs, b, h], y)?);
            for st in states {
                out.push(from_f64(self.dtype, &[dirs, b, h], st)?);
            }
        }
        Ok(out)
    }
}
