//! `RotaryEmbedding` (opset 23): rotary positional embeddings (RoPE) on 3-D
//! `(batch, seq, heads * head_size)` or 4-D `(batch, heads, seq, head_size)` inputs,
//! with optional partial rotation and the interleaved pair layout.

use super::common::{check_attrs, float_f64s, float_like};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Rotary positional embedding.
#[derive(Debug)]
pub struct RotaryEmbedding {
    interleaved: bool,
    rotary_dim: Option<usize>,
    num_heads: Option<usize>,
}

/// Build from attributes (`interleaved`, `rotary_embedding_dim`, `num_heads`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let a = ctx.attrs;
    check_attrs(a, &["interleaved", "rotary_embedding_dim", "num_heads"])?;
    let interleaved = match a.int_or("interleaved", 0)? {
        0 => false,
        1 => true,
        v => {
            return Err(Error::attr(
                "interleaved",
                format!("must be 0 or 1, got {v}"),
            ));
        }
    };
    let rotary_dim = match a.int_or("rotary_embedding_dim", 0)? {
        0 => None,
        v if v > 0 && v % 2 == 0 => Some(v as usize),
        v => {
            return Err(Error::attr(
                "rotary_embedding_dim",
                format!("must be a positive even number, got {v}"),
            ));
        }
    };
    let num_heads = match a.int("num_heads")? {
        None | Some(0) => None,
        Some(v) if v > 0 => Some(v as usize),
        Some(v) => {
            return Err(Error::attr(
                "num_heads",
                format!("must be positive, got {v}"),
            ));
        }
    };
    Ok(Box::new(RotaryEmbedding {
        interleaved,
        rotary_dim,
        num_heads,
    }))
}

/// The cos/sin cache as a lookup `(batch, seq, k) -> value`.
struct Cache {
    data: Vec<f64>,
    half: usize,
}

impl Cache {
    /// Gather the cache rows for every (batch, seq) position into a `(batch, seq, half)` buffer.
    fn gather(
        t: &Tensor,
        pos: Option<&[i64]>,
        batch: usize,
        seq: usize,
        half: usize,
        what: &str,
    ) -> Result<Cache> {
        let s = t.shape();
        let raw = float_f64s(t)?;
        let data = match pos {
            Some(pos) => {
                let &[max_pos, h] = s else {
                    return Err(Error::shape(format!(
                        "RotaryEmbedding {what} must be 2-D with position_ids, got {s:?}"
                    )));
                };
                if h != half {
                    return Err(Error::shape(format!(
                        "RotaryEmbedding {what} last dim {h} must be rotary_dim/2 = {half}"
                    )));
                }
                let mut out = Vec::with_capacity(batch * seq * half);
                for &p in pos {
                    if p < 0 || p as usize >= max_pos {
                        return Err(Error::input(format!(
                            "RotaryEmbedding position id {p} is outside [0, {max_pos})"
                        )));
                    }
                    let p = p as usize;
                    out.extend_from_slice(&raw[p * half..(p + 1) * half]);
                }
                out
            }
            None => {
                if s != [batch, seq, half] {
                    return Err(Error::shape(format!(
                        "RotaryEmbedding {what} must have shape [{batch}, {seq}, {half}] \
                         without position_ids, got {s:?}"
                    )));
                }
                raw
            }
        };
        Ok(Cache { data, half })
    }

    fn at(&self, b_s: usize, k: usize) -> f64 {
        self.data[b_s * self.half + k]
    }
}

impl Op for RotaryEmbedding {
    fn op_type(&self) -> &str {
        "RotaryEmbedding"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|i| vec![i.fact.clone()])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let shape = x.shape().to_vec();
        // (batch, heads, seq, head_size) and whether the layout is 3-D.
        let (batch, heads, seq, size, three_d) = match shape.as_slice() {
            &[b, h, s, d] => (b, h, s, d, false),
            &[b, s, hidden] => {
                let h = self.num_heads.ok_or_else(|| {
                    Error::attr("num_heads", "num_heads is required for 3-D inputs")
                })?;
                if hidden % h != 0 {
                    return Err(Error::shape(format!(
                        "RotaryEmbedding hidden size {hidden} is not divisible by {h} heads"
                    )));
                }
                (b, h, s, hidden / h, true)
            }
            other => {
                return Err(Error::shape(format!(
                    "RotaryEmbedding input must be 3-D or 4-D, got {other:?}"
                )));
            }
        };
        let rot = self.rotary_dim.unwrap_or(size);
        if rot > size || !rot.is_multiple_of(2) {
            return Err(Error::shape(format!(
                "RotaryEmbedding rotary dim {rot} must be even and <= head size {size}"
            )));
        }
        let half = rot / 2;
        let pos = match opt_input(inputs, 3) {
            Some(p) => {
                if p.shape() != [batch, seq] {
                    return Err(Error::shape(format!(
                        "RotaryEmbedding position_ids must have shape [{batch}, {seq}], got {:?}",
                        p.shape()
                    )));
                }
                Some(p.to_i64_vec()?)
            }
            None => None,
        };
        let cos = Cache::gather(
            input(inputs, 1)?,
            pos.as_deref(),
            batch,
            seq,
            half,
            "cos_cache",
        )?;
        let sin = Cache::gather(
            input(inputs, 2)?,
            pos.as_deref(),
            batch,
            seq,
            half,
            "sin_cache",
        )?;
        let data = float_f64s(x)?;
        let mut out = data.clone();
        let offset = |b: usize, h: usize, s: usize| {
            if three_d {
                (b * seq + s) * heads * size + h * size
            } else {
                ((b * heads + h) * seq + s) * size
            }
        };
        for b in 0..batch {
            for h in 0..heads {
                for s in 0..seq {
                    let base = offset(b, h, s);
                    for k in 0..half {
                        let (i1, i2) = if self.interleaved {
                            (base + 2 * k, base + 2 * k + 1)
                        } else {
                            (base + k, base + k + half)
                        };
                        let (x1, x2) = (data[i1], data[i2]);
                        let (c, sn) = (cos.at(b * seq + s, k), sin.at(b * seq + s, k));
                        out[i1] = c * x1 - sn * x2;
                        out[i2] = sn * x1 + c * x2;
                    }
                }
            }
        }
        Ok(vec![float_like(x, &shape, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turn_rotates_pairs() {
        let attrs = crate::Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        let op = build(&ctx).unwrap();
        // (1, 1, 1, 4): pairs (x0, x2) and (x1, x3) rotated by 90 degrees.
        let x = Tensor::from_vec(&[1, 1, 1, 4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let cos = Tensor::from_vec(&[1, 1, 2], vec![0.0f32, 0.0]).unwrap();
        let sin = Tensor::from_vec(&[1, 1, 2], vec![1.0f32, 1.0]).unwrap();
        let y = op.eval(&[Some(&x), Some(&cos), Some(&sin)]).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![-3.0, -4.0, 1.0, 2.0]);
        let pos = Tensor::from_vec(&[1, 1], vec![5i64]).unwrap();
        let cos2 = Tensor::from_vec(&[1, 2], vec![0.0f32, 0.0]).unwrap();
        assert!(
            op.eval(&[Some(&x), Some(&cos2), Some(&cos2), Some(&pos)])
                .is_err()
        );
    }
}
