//! The additive attention bias of `Attention`: the attention mask (bool or float, broadcast
//! and padded), the causal mask and the `nonpad_kv_seqlen` padding mask, combined into one
//! `(batch, q_heads, q_len, total_len)` buffer.

use crate::{DataType, Error, Result, Tensor};
use ndarray::{ArrayD, IxDyn};

/// Sizes the bias is built for.
#[derive(Clone, Copy, Debug)]
pub struct BiasDims {
    /// Batch size.
    pub batch: usize,
    /// Number of query heads.
    pub heads: usize,
    /// Query sequence length.
    pub q_len: usize,
    /// Total key sequence length (past + new).
    pub total: usize,
    /// Past sequence length (the causal mask is offset by it).
    pub past: usize,
}

/// The mask as an additive f64 array, its last dim padded to `total` with -inf.
fn additive_mask(mask: &Tensor, total: usize) -> Result<ArrayD<f64>> {
    let shape = mask.shape();
    let Some(&last) = shape.last() else {
        return Err(Error::shape("Attention attn_mask must have rank >= 1"));
    };
    if last > total {
        return Err(Error::shape(format!(
            "Attention attn_mask last dim {last} exceeds the total sequence length {total}"
        )));
    }
    let values: Vec<f64> = match mask.dtype() {
        DataType::Bool => mask
            .array::<bool>()?
            .iter()
            .map(|&b| if b { 0.0 } else { f64::NEG_INFINITY })
            .collect(),
        d if d.is_float() => mask.to_f64_vec()?,
        d => {
            return Err(Error::dtype(format!(
                "Attention attn_mask must be bool or float, got {d}"
            )));
        }
    };
    let rows = values.len().checked_div(last).unwrap_or(0);
    let mut padded = Vec::with_capacity(rows * total);
    for r in 0..rows {
        padded.extend_from_slice(&values[r * last..(r + 1) * last]);
        padded.extend(std::iter::repeat_n(f64::NEG_INFINITY, total - last));
    }
    let mut new_shape = shape.to_vec();
    if let Some(l) = new_shape.last_mut() {
        *l = total;
    }
    ArrayD::from_shape_vec(IxDyn(&new_shape), padded).map_err(|e| Error::shape(e.to_string()))
}

/// The combined bias, row-major over `(batch, heads, q_len, total)`.
pub fn build_bias(
    mask: Option<&Tensor>,
    is_causal: bool,
    nonpad: Option<&Tensor>,
    d: BiasDims,
) -> Result<Vec<f64>> {
    let full = [d.batch, d.heads, d.q_len, d.total];
    let n: usize = full.iter().product();
    let mut bias = match mask {
        None => vec![0.0; n],
        Some(m) => {
            if m.rank() > 4 {
                return Err(Error::shape(format!(
                    "Attention attn_mask must have rank <= 4, got {:?}",
                    m.shape()
                )));
            }
            let a = additive_mask(m, d.total)?;
            let b = a.broadcast(IxDyn(&full)).ok_or_else(|| {
                Error::shape(format!(
                    "Attention attn_mask of shape {:?} does not broadcast to {full:?}",
                    m.shape()
                ))
            })?;
            b.iter().copied().collect()
        }
    };
    let lens = match nonpad {
        None => None,
        Some(t) => {
            let v = t.to_i64_vec()?;
            if t.shape() != [d.batch] {
                return Err(Error::shape(format!(
                    "Attention nonpad_kv_seqlen must have shape [{}], got {:?}",
                    d.batch,
                    t.shape()
                )));
            }
            Some(v)
        }
    };
    for (idx, v) in bias.iter_mut().enumerate() {
        let j = idx % d.total;
        let i = (idx / d.total) % d.q_len.max(1);
        let b = idx / (d.total * d.q_len * d.heads).max(1);
        if is_causal && j > i + d.past {
            *v = f64::NEG_INFINITY;
        }
        if let Some(lens) = &lens {
            let len = lens.get(b).copied().unwrap_or(0);
            if (j as i64) >= len {
                *v = f64::NEG_INFINITY;
            }
        }
    }
    Ok(bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(total: usize, past: usize) -> BiasDims {
        BiasDims {
            batch: 1,
            heads: 1,
            q_len: 2,
            total,
            past,
        }
    }

    #[test]
    fn causal_is_offset_by_past() {
        let b = build_bias(None, true, None, dims(3, 1)).unwrap();
        let ninf = f64::NEG_INFINITY;
        assert_eq!(b, vec![0.0, 0.0, ninf, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn bool_mask_is_padded_and_broadcast() {
        let m = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        let b = build_bias(Some(&m), false, None, dims(3, 0)).unwrap();
        let ninf = f64::NEG_INFINITY;
        assert_eq!(b, vec![0.0, ninf, ninf, 0.0, ninf, ninf]);
        let bad = Tensor::from_vec(&[3, 3], vec![true; 9]).unwrap();
        assert!(build_bias(Some(&bad), false, None, dims(3, 0)).is_err());
    }

    #[test]
    fn nonpad_masks_tail() {
        let lens = Tensor::from_vec(&[1], vec![1i64]).unwrap();
        let b = build_bias(None, false, Some(&lens), dims(2, 0)).unwrap();
        let ninf = f64::NEG_INFINITY;
        assert_eq!(b, vec![0.0, ninf, 0.0, ninf]);
    }
}
