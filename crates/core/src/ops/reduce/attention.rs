//! `Attention` (opset 23/24): scaled dot-product attention with multi-head, grouped-query
//! and multi-query variants, an optional bool/float mask, causal masking, a KV cache
//! (`past_key`/`past_value` -> `present_key`/`present_value`), softcap and the
//! `qk_matmul_output` diagnostic output. Computes in f64.

use super::attention_mask::{BiasDims, build_bias};
use super::common::{check_attrs, float_f64s, float_like, softmax_lane};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Attention with its attributes.
#[derive(Debug)]
pub struct Attention {
    is_causal: bool,
    q_num_heads: Option<usize>,
    kv_num_heads: Option<usize>,
    scale: Option<f64>,
    softcap: f64,
    qk_mode: u8,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let a = ctx.attrs;
    check_attrs(
        a,
        &[
            "is_causal",
            "q_num_heads",
            "kv_num_heads",
            "scale",
            "softcap",
            "qk_matmul_output_mode",
            "softmax_precision",
        ],
    )?;
    let heads = |name: &str| -> Result<Option<usize>> {
        match a.int(name)? {
            None => Ok(None),
            Some(v) if v > 0 => Ok(Some(v as usize)),
            Some(v) => Err(Error::attr(name, format!("must be positive, got {v}"))),
        }
    };
    let is_causal = match a.int_or("is_causal", 0)? {
        0 => false,
        1 => true,
        v => return Err(Error::attr("is_causal", format!("must be 0 or 1, got {v}"))),
    };
    let qk_mode = match a.int_or("qk_matmul_output_mode", 0)? {
        v @ 0..=3 => v as u8,
        v => {
            return Err(Error::attr(
                "qk_matmul_output_mode",
                format!("must be 0, 1, 2 or 3, got {v}"),
            ));
        }
    };
    // Softmax runs in f64 here, at least as precise as any requested float precision.
    if let Some(p) = a.int("softmax_precision")?
        && ![1, 10, 11, 16].contains(&p)
    {
        return Err(Error::attr(
            "softmax_precision",
            format!("must be a float type code (1, 10, 11, 16), got {p}"),
        ));
    }
    let softcap = a.float_or("softcap", 0.0)? as f64;
    if softcap < 0.0 {
        return Err(Error::attr(
            "softcap",
            format!("must be >= 0, got {softcap}"),
        ));
    }
    Ok(Box::new(Attention {
        is_causal,
        q_num_heads: heads("q_num_heads")?,
        kv_num_heads: heads("kv_num_heads")?,
        scale: a.float("scale")?.map(f64::from),
        softcap,
        qk_mode,
    }))
}

/// A tensor in (batch, heads, seq, head_size) layout as f64.
struct Heads {
    data: Vec<f64>,
    batch: usize,
    heads: usize,
    seq: usize,
    size: usize,
}

impl Heads {
    /// From a 4-D tensor, or a 3-D `(batch, seq, heads * size)` one split into `heads`.
    fn from_tensor(t: &Tensor, heads: Option<usize>, what: &str) -> Result<Heads> {
        let s = t.shape().to_vec();
        let data = float_f64s(t)?;
        match s.as_slice() {
            &[batch, h, seq, size] => Ok(Heads {
                data,
                batch,
                heads: h,
                seq,
                size,
            }),
            &[batch, seq, hidden] => {
                let h = heads.ok_or_else(|| {
                    Error::attr(
                        "q_num_heads",
                        "q_num_heads and kv_num_heads are required for 3-D inputs",
                    )
                })?;
                if hidden % h != 0 {
                    return Err(Error::shape(format!(
                        "Attention {what} hidden size {hidden} is not divisible by {h} heads"
                    )));
                }
                let size = hidden / h;
                let mut out = vec![0.0; data.len()];
                for b in 0..batch {
                    for i in 0..seq {
                        for hh in 0..h {
                            for d in 0..size {
                                out[((b * h + hh) * seq + i) * size + d] =
                                    data[(b * seq + i) * hidden + hh * size + d];
                            }
                        }
                    }
                }
                Ok(Heads {
                    data: out,
                    batch,
                    heads: h,
                    seq,
                    size,
                })
            }
            other => Err(Error::shape(format!(
                "Attention {what} must be 3-D or 4-D, got shape {other:?}"
            ))),
        }
    }

    fn row(&self, b: usize, h: usize, i: usize) -> &[f64] {
        let start = ((b * self.heads + h) * self.seq + i) * self.size;
        &self.data[start..start + self.size]
    }

    /// Concatenate a past cache (4-D) in front along the sequence axis.
    fn with_past(self, past: Option<&Tensor>, what: &str) -> Result<Heads> {
        let Some(p) = past else {
            return Ok(self);
        };
        let ps = p.shape();
        if ps.len() != 4 || ps[0] != self.batch || ps[1] != self.heads || ps[3] != self.size {
            return Err(Error::shape(format!(
                "Attention {what} must have shape [{}, {}, past, {}], got {ps:?}",
                self.batch, self.heads, self.size
            )));
        }
        let pdata = float_f64s(p)?;
        let (pseq, seq) = (ps[2], ps[2] + self.seq);
        let mut data = Vec::with_capacity(self.batch * self.heads * seq * self.size);
        for bh in 0..self.batch * self.heads {
            data.extend_from_slice(&pdata[bh * pseq * self.size..(bh + 1) * pseq * self.size]);
            data.extend_from_slice(
                &self.data[bh * self.seq * self.size..(bh + 1) * self.seq * self.size],
            );
        }
        Ok(Heads { data, seq, ..self })
    }

    fn shape(&self) -> [usize; 4] {
        [self.batch, self.heads, self.seq, self.size]
    }
}

impl Op for Attention {
    fn op_type(&self) -> &str {
        "Attention"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (q_t, k_t, v_t) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        if q_t.rank() != k_t.rank() || q_t.rank() != v_t.rank() {
            return Err(Error::shape(format!(
                "Attention Q, K, V must have the same rank, got {:?}, {:?}, {:?}",
                q_t.shape(),
                k_t.shape(),
                v_t.shape()
            )));
        }
        let three_d = q_t.rank() == 3;
        let (past_k, past_v) = (opt_input(inputs, 4), opt_input(inputs, 5));
        if past_k.is_some() != past_v.is_some() {
            return Err(Error::input(
                "Attention past_key and past_value must be given together",
            ));
        }
        let q = Heads::from_tensor(q_t, self.q_num_heads, "Q")?;
        let k = Heads::from_tensor(k_t, self.kv_num_heads, "K")?.with_past(past_k, "past_key")?;
        let v = Heads::from_tensor(v_t, self.kv_num_heads, "V")?.with_past(past_v, "past_value")?;
        if k.batch != q.batch || v.batch != q.batch {
            return Err(Error::shape(
                "Attention Q, K, V must have the same batch size",
            ));
        }
        if k.size != q.size {
            return Err(Error::shape(format!(
                "Attention Q head size {} differs from K head size {}",
                q.size, k.size
            )));
        }
        if k.heads != v.heads || k.seq != v.seq {
            return Err(Error::shape(
                "Attention K and V must have the same number of heads and sequence length",
            ));
        }
        if k.heads == 0 || q.heads % k.heads != 0 {
            return Err(Error::shape(format!(
                "Attention q_num_heads {} is not a multiple of kv_num_heads {}",
                q.heads, k.heads
            )));
        }
        let group = q.heads / k.heads;
        let total = k.seq;
        let past = past_k.map(|p| p.shape()[2]).unwrap_or(0);
        let dims = BiasDims {
            batch: q.batch,
            heads: q.heads,
            q_len: q.seq,
            total,
            past,
        };
        let bias = build_bias(
            opt_input(inputs, 3),
            self.is_causal,
            opt_input(inputs, 6),
            dims,
        )?;
        let scale = self.scale.unwrap_or(1.0 / (q.size as f64).sqrt());
        let dv = v.size;
        let mut y = vec![0.0; q.batch * q.heads * q.seq * dv];
        let mut qk_out = vec![0.0; q.batch * q.heads * q.seq * total];
        let mut scores = vec![0.0; total];
        let mut probs = vec![0.0; total];
        for b in 0..q.batch {
            for h in 0..q.heads {
                let kh = h / group;
                for i in 0..q.seq {
                    let qrow = q.row(b, h, i);
                    let base = ((b * q.heads + h) * q.seq + i) * total;
                    for (j, s) in scores.iter_mut().enumerate() {
                        let dot: f64 = qrow.iter().zip(k.row(b, kh, j)).map(|(x, y)| x * y).sum();
                        *s = dot * scale;
                        if self.qk_mode == 0 {
                            qk_out[base + j] = *s;
                        }
                        if self.softcap > 0.0 {
                            *s = self.softcap * (*s / self.softcap).tanh();
                        }
                        if self.qk_mode == 1 {
                            qk_out[base + j] = *s;
                        }
                        *s += bias[base + j];
                        if self.qk_mode == 2 {
                            qk_out[base + j] = *s;
                        }
                    }
                    softmax_lane(&scores, &mut probs);
                    if self.qk_mode == 3 {
                        qk_out[base..base + total].copy_from_slice(&probs);
                    }
                    let ybase = ((b * q.heads + h) * q.seq + i) * dv;
                    for (j, &p) in probs.iter().enumerate() {
                        for (o, &x) in y[ybase..ybase + dv].iter_mut().zip(v.row(b, kh, j)) {
                            *o += p * x;
                        }
                    }
                }
            }
        }
        let y_t = if three_d {
            let mut y3 = vec![0.0; y.len()];
            let hidden = q.heads * dv;
            for b in 0..q.batch {
                for h in 0..q.heads {
                    for i in 0..q.seq {
                        let src = ((b * q.heads + h) * q.seq + i) * dv;
                        let dst = (b * q.seq + i) * hidden + h * dv;
                        y3[dst..dst + dv].copy_from_slice(&y[src..src + dv]);
                    }
                }
            }
            float_like(q_t, &[q.batch, q.seq, hidden], &y3)?
        } else {
            float_like(q_t, &[q.batch, q.heads, q.seq, dv], &y)?
        };
        Ok(vec![
            y_t,
            float_like(k_t, &k.shape(), &k.data)?,
            float_like(v_t, &v.shape(), &v.data)?,
            float_like(q_t, &[q.batch, q.heads, q.seq, total], &qk_out)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn op(attrs: Attributes) -> Result<Box<dyn Op>> {
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        build(&ctx)
    }

    #[test]
    fn single_key_returns_its_value() {
        // One key: softmax is 1, so Y equals V whatever Q is.
        let q = Tensor::from_vec(&[1, 1, 2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let k = Tensor::from_vec(&[1, 1, 1, 2], vec![0.5f32, -1.0]).unwrap();
        let v = Tensor::from_vec(&[1, 1, 1, 3], vec![7.0f32, 8.0, 9.0]).unwrap();
        let out = op(Attributes::new())
            .unwrap()
            .eval(&[Some(&q), Some(&k), Some(&v)])
            .unwrap();
        assert_eq!(out[0].shape(), &[1, 1, 2, 3]);
        assert_eq!(
            out[0].to_f64_vec().unwrap(),
            vec![7.0, 8.0, 9.0, 7.0, 8.0, 9.0]
        );
    }

    #[test]
    fn causal_first_query_sees_first_key() {
        let q = Tensor::from_vec(&[1, 2, 2], vec![1.0f64, 0.0, 0.0, 1.0]).unwrap();
        let k = q.clone();
        let v = Tensor::from_vec(&[1, 2, 2], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let attrs = Attributes::new()
            .with("is_causal", Attribute::Int(1))
            .with("q_num_heads", Attribute::Int(1))
            .with("kv_num_heads", Attribute::Int(1));
        let out = op(attrs)
            .unwrap()
            .eval(&[Some(&q), Some(&k), Some(&v)])
            .unwrap();
        let y = out[0].to_f64_vec().unwrap();
        assert_eq!(&y[..2], &[1.0, 2.0]);
        assert_eq!(out[0].shape(), &[1, 2, 2]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let q = Tensor::from_vec(&[1, 3, 1, 2], vec![0.0f32; 6]).unwrap();
        let k = Tensor::from_vec(&[1, 2, 1, 2], vec![0.0f32; 4]).unwrap();
        let a = op(Attributes::new()).unwrap();
        assert!(a.eval(&[Some(&q), Some(&k), Some(&k)]).is_err());
        let q3 = Tensor::from_vec(&[1, 1, 6], vec![0.0f32; 6]).unwrap();
        assert!(a.eval(&[Some(&q3), Some(&q3), Some(&q3)]).is_err());
        let bad = Attributes::new().with("qk_matmul_output_mode", Attribute::Int(7));
        assert!(op(bad).is_err());
        let unknown = Attributes::new().with("mode", Attribute::Int(1));
        assert!(op(unknown).is_err());
    }
}
