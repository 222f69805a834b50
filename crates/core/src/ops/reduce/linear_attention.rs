//! `LinearAttention` (opset 27): recurrent linear attention over packed
//! `(batch, time, heads * dim)` inputs with the `linear`, `gated`, `delta` and
//! `gated_delta` update rules, grouped-query heads and a carried `(B, H_kv, d_k, d_v)` state.
//! Runs the recurrence token by token, in f64.

use super::common::{check_attrs, float_f64s, float_like};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Linear attention with its attributes.
#[derive(Debug)]
pub struct LinearAttention {
    q_heads: usize,
    kv_heads: usize,
    scale: Option<f64>,
    gated: bool,
    delta: bool,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let a = ctx.attrs;
    check_attrs(
        a,
        &[
            "chunk_size",
            "kv_num_heads",
            "q_num_heads",
            "scale",
            "update_rule",
        ],
    )?;
    let heads = |name: &str| -> Result<usize> {
        match a.int_req(name)? {
            v if v > 0 => Ok(v as usize),
            v => Err(Error::attr(name, format!("must be positive, got {v}"))),
        }
    };
    let (q_heads, kv_heads) = (heads("q_num_heads")?, heads("kv_num_heads")?);
    if q_heads % kv_heads != 0 {
        return Err(Error::attr(
            "q_num_heads",
            format!("{q_heads} is not a multiple of kv_num_heads {kv_heads}"),
        ));
    }
    let (gated, delta) = match a.string_or("update_rule", "gated_delta".into())?.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        other => {
            return Err(Error::attr(
                "update_rule",
                format!("must be linear, gated, delta or gated_delta, got '{other}'"),
            ));
        }
    };
    let scale = a.float_or("scale", 0.0)?;
    Ok(Box::new(LinearAttention {
        q_heads,
        kv_heads,
        scale: (scale != 0.0).then_some(scale as f64),
        gated,
        delta,
    }))
}

/// A packed `(B, T, H * D)` tensor with an accessor for one head's vector.
struct Packed {
    data: Vec<f64>,
    t: usize,
    heads: usize,
    dim: usize,
}

impl Packed {
    fn new(x: &Tensor, b: usize, t: usize, heads: usize, dim: usize, what: &str) -> Result<Self> {
        if x.shape() != [b, t, heads * dim] {
            return Err(Error::shape(format!(
                "LinearAttention {what} must have shape [{b}, {t}, {}], got {:?}",
                heads * dim,
                x.shape()
            )));
        }
        Ok(Packed {
            data: float_f64s(x)?,
            t,
            heads,
            dim,
        })
    }

    fn at(&self, b: usize, i: usize, h: usize) -> &[f64] {
        let s = ((b * self.t + i) * self.heads + h) * self.dim;
        &self.data[s..s + self.dim]
    }
}

impl Op for LinearAttention {
    fn op_type(&self) -> &str {
        "LinearAttention"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (q_t, k_t, v_t) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        let &[b, t, qh] = q_t.shape() else {
            return Err(Error::shape(format!(
                "LinearAttention query must be (B, T, H*D), got {:?}",
                q_t.shape()
            )));
        };
        let (hq, hkv) = (self.q_heads, self.kv_heads);
        if qh % hq != 0 {
            return Err(Error::shape(format!(
                "LinearAttention query last dim {qh} is not divisible by {hq} heads"
            )));
        }
        let dk = qh / hq;
        let vlast = v_t.shape().last().copied().unwrap_or(0);
        if vlast % hkv != 0 {
            return Err(Error::shape(format!(
                "LinearAttention value last dim {vlast} is not divisible by {hkv} heads"
            )));
        }
        let dv = vlast / hkv;
        let q = Packed::new(q_t, b, t, hq, dk, "query")?;
        let k = Packed::new(k_t, b, t, hkv, dk, "key")?;
        let v = Packed::new(v_t, b, t, hkv, dv, "value")?;
        let decay = match (opt_input(inputs, 4), self.gated) {
            (Some(d), true) => {
                let last = d.shape().last().copied().unwrap_or(0);
                let dim = if last == hkv * dk { dk } else { 1 };
                Some(Packed::new(d, b, t, hkv, dim, "decay")?)
            }
            (None, false) => None,
            (Some(_), false) => return Err(Error::input("this update_rule forbids decay")),
            (None, true) => return Err(Error::input("this update_rule requires decay")),
        };
        let beta = match (opt_input(inputs, 5), self.delta) {
            (Some(x), true) => {
                let heads = if x.shape().last() == Some(&1) { 1 } else { hkv };
                Some(Packed::new(x, b, t, heads, 1, "beta")?)
            }
            (None, false) => None,
            (Some(_), false) => return Err(Error::input("this update_rule forbids beta")),
            (None, true) => return Err(Error::input("this update_rule requires beta")),
        };
        let past = opt_input(inputs, 3);
        let mut state = match past {
            Some(p) if p.shape() != [b, hkv, dk, dv] => {
                return Err(Error::shape(format!(
                    "LinearAttention past_state must be [{b}, {hkv}, {dk}, {dv}], got {:?}",
                    p.shape()
                )));
            }
            Some(p) => float_f64s(p)?,
            None => vec![0.0; b * hkv * dk * dv],
        };
        let scale = self.scale.unwrap_or(1.0 / (dk as f64).sqrt());
        let group = hq / hkv;
        let mut out = vec![0.0; b * t * hq * dv];
        let mut vt = vec![0.0; dv];
        for bi in 0..b {
            for i in 0..t {
                for h in 0..hkv {
                    let s = &mut state[(bi * hkv + h) * dk * dv..(bi * hkv + h + 1) * dk * dv];
                    if let Some(d) = &decay {
                        let g = d.at(bi, i, h);
                        for r in 0..dk {
                            let f = g.get(r).or(g.first()).copied().unwrap_or(0.0).exp();
                            s[r * dv..(r + 1) * dv].iter_mut().for_each(|x| *x *= f);
                        }
                    }
                    let kv = k.at(bi, i, h);
                    vt.copy_from_slice(v.at(bi, i, h));
                    if let Some(bt) = &beta {
                        let beta_h = if bt.heads == 1 { 0 } else { h };
                        let be = bt.at(bi, i, beta_h)[0];
                        for (m, x) in vt.iter_mut().enumerate() {
                            let retrieved: f64 = (0..dk).map(|r| s[r * dv + m] * kv[r]).sum();
                            *x = be * (*x - retrieved);
                        }
                    }
                    for r in 0..dk {
                        for m in 0..dv {
                            s[r * dv + m] += kv[r] * vt[m];
                        }
                    }
                    for hh in h * group..(h + 1) * group {
                        let qv = q.at(bi, i, hh);
                        let o = ((bi * t + i) * hq + hh) * dv;
                        for m in 0..dv {
                            out[o + m] =
                                scale * (0..dk).map(|r| qv[r] * s[r * dv + m]).sum::<f64>();
                        }
                    }
                }
            }
        }
        let state_like = past.unwrap_or(q_t);
        Ok(vec![
            float_like(q_t, &[b, t, hq * dv], &out)?,
            float_like(state_like, &[b, hkv, dk, dv], &state)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn linear_rule_accumulates_outer_products() {
        let attrs = Attributes::new()
            .with("q_num_heads", Attribute::Int(1))
            .with("kv_num_heads", Attribute::Int(1))
            .with("scale", Attribute::Float(1.0))
            .with("update_rule", Attribute::String("linear".into()));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 2,
        };
        let op = build(&ctx).unwrap();
        // d_k = d_v = 1, T = 2: S1 = k1 v1, S2 = S1 + k2 v2; o_t = q_t S_t.
        let q = Tensor::from_vec(&[1, 2, 1], vec![1.0f32, 2.0]).unwrap();
        let k = Tensor::from_vec(&[1, 2, 1], vec![3.0f32, 4.0]).unwrap();
        let v = Tensor::from_vec(&[1, 2, 1], vec![5.0f32, 6.0]).unwrap();
        let y = op.eval(&[Some(&q), Some(&k), Some(&v)]).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![15.0, 2.0 * (15.0 + 24.0)]);
        assert_eq!(y[1].to_f64_vec().unwrap(), vec![39.0]);
        let beta = Tensor::from_vec(&[1, 2, 1], vec![1.0f32, 1.0]).unwrap();
        assert!(
            op.eval(&[Some(&q), Some(&k), Some(&v), None, None, Some(&beta)])
                .is_err()
        );
    }
}
