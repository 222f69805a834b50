//! `strided` tactic of Transpose on f32: output rows in parallel, each gathered from the
//! input with the stride of the axis that lands last (a copy when that stride is 1).
//! Permutations that are a batch of 2-D transposes once adjacent axes are merged (NCHW <->
//! NHWC, the layout changes of the CPU conv path) run as cache-blocked tile transposes.

use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Transpose with an explicit or default (reversing) permutation.
#[derive(Debug, Clone)]
pub struct TransposeTactic {
    op: Arc<dyn Op>,
    perm: Option<Vec<usize>>,
}

impl TransposeTactic {
    /// The tactic for a Transpose node.
    pub fn from_node(node: &Node) -> Option<TransposeTactic> {
        let perm = match node.attrs.ints("perm").ok()? {
            Some(p) => Some(
                p.iter()
                    .map(|&v| usize::try_from(v).ok())
                    .collect::<Option<Vec<_>>>()?,
            ),
            None => None,
        };
        Some(TransposeTactic {
            op: node.op.clone(),
            perm,
        })
    }

    fn compute(&self, x: &ArrayD<f32>, ctx: &RunContext<'_>) -> Option<ArrayD<f32>> {
        let rank = x.ndim();
        let perm: Vec<usize> = match &self.perm {
            Some(p) => p.clone(),
            None => (0..rank).rev().collect(),
        };
        let mut seen = vec![false; rank];
        if perm.len() != rank || rank == 0 || perm.iter().any(|&p| p >= rank || seen[p]) {
            return None;
        }
        for &p in &perm {
            seen[p] = true;
        }
        let x_std = x.as_standard_layout();
        let xd = x_std.as_slice()?;
        let shape = x.shape();
        let mut in_strides = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            in_strides[d] = in_strides[d + 1] * shape[d + 1];
        }
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
        let n: usize = out_shape.iter().product();
        let row = out_shape[rank - 1];
        let mut out = ctx.alloc_f32(n);
        if n > 0
            && let Some((b, r, c)) = batched_2d(shape, &perm)
        {
            transpose_2d(xd, b, r, c, &mut out);
        } else if n > 0 && row > 0 {
            let step = strides[rank - 1];
            let rows_per = (4096 / row).max(1);
            out.par_chunks_mut(rows_per * row)
                .enumerate()
                .for_each(|(ci, block)| {
                    for (ri, dst) in block.chunks_mut(row).enumerate() {
                        let mut r = ci * rows_per + ri;
                        let mut base = 0;
                        for d in (0..rank - 1).rev() {
                            base += (r % out_shape[d]) * strides[d];
                            r /= out_shape[d];
                        }
                        if step == 1 {
                            dst.copy_from_slice(&xd[base..base + row]);
                        } else {
                            for (o, v) in dst.iter_mut().zip(xd[base..].iter().step_by(step)) {
                                *o = *v;
                            }
                        }
                    }
                });
        }
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_2d_views() {
        assert_eq!(batched_2d(&[2, 3, 4, 5], &[0, 2, 3, 1]), Some((2, 3, 20)));
        assert_eq!(batched_2d(&[2, 4, 5, 3], &[0, 3, 1, 2]), Some((2, 20, 3)));
        assert_eq!(batched_2d(&[1, 3, 4, 5], &[0, 2, 3, 1]), Some((1, 3, 20)));
        assert_eq!(batched_2d(&[6, 7], &[1, 0]), Some((1, 6, 7)));
        assert_eq!(batched_2d(&[2, 3, 4], &[2, 1, 0]), None);
        assert_eq!(batched_2d(&[2, 3, 4, 5], &[0, 1, 2, 3]), None);
    }

    #[test]
    fn tiled_transpose_matches_the_definition() {
        for (b, r, c) in [
            (1, 3, 50176),
            (2, 70, 33),
            (3, 1, 5),
            (1, 64, 64),
            (2, 33, 1),
        ] {
            let x: Vec<f32> = (0..b * r * c).map(|v| v as f32).collect();
            let mut out = vec![0f32; x.len()];
            transpose_2d(&x, b, r, c, &mut out);
            for img in 0..b {
                for i in 0..r {
                    for j in 0..c {
                        assert_eq!(out[img * r * c + j * r + i], x[img * r * c + i * c + j]);
                    }
                }
            }
        }
    }
}

/// `(batch, rows, cols)` when `perm` of `shape` is `[batch, rows, cols] -> [batch, cols,
/// rows]` after merging the input axes that stay adjacent (size-1 axes ignored).
fn batched_2d(shape: &[usize], perm: &[usize]) -> Option<(usize, usize, usize)> {
    let perm: Vec<usize> = perm.iter().copied().filter(|&p| shape[p] != 1).collect();
    // Runs of consecutive input axes in output order: (first input axis, size).
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &p) in perm.iter().enumerate() {
        match runs.last_mut() {
            Some((_, size)) if i > 0 && perm[i - 1] + 1 == p => *size *= shape[p],
            _ => runs.push((p, shape[p])),
        }
    }
    let mut input_order: Vec<usize> = (0..runs.len()).collect();
    input_order.sort_by_key(|&k| runs[k].0);
    let size = |k: usize| runs[input_order[k]].1;
    // Output position of each merged input axis.
    match runs.len() {
        2 if input_order == [1, 0] => Some((1, size(0), size(1))),
        3 if input_order == [0, 2, 1] => Some((size(0), size(1), size(2))),
        _ => None,
    }
}

/// `out[b][j][i] = x[b][i][j]` for `i < r`, `j < c`, in tiles, output row blocks in parallel.
fn transpose_2d(x: &[f32], b: usize, r: usize, c: usize, out: &mut [f32]) {
    const TILE: usize = 32;
    let per = r * c;
    if per == 0 {
        return;
    }
    // Tasks: per image, blocks of TILE output rows j (rows j * r..(j + TILE) * r).
    out[..b * per]
        .par_chunks_mut(per)
        .zip(x[..b * per].par_chunks(per))
        .for_each(|(img_out, src)| {
            img_out
                .par_chunks_mut(TILE * r)
                .enumerate()
                .for_each(|(jb, dst)| {
                    let j0 = jb * TILE;
                    let rows = dst.len() / r;
                    for i0 in (0..r).step_by(TILE) {
                        let i1 = (i0 + TILE).min(r);
                        for jj in 0..rows {
                            let o = &mut dst[jj * r..(jj + 1) * r];
                            for i in i0..i1 {
                                o[i] = src[i * c + j0 + jj];
                            }
                        }
                    }
                });
        });
}

impl Tactic for TransposeTactic {
    fn name(&self) -> &str {
        "strided"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [Some(Value::Tensor(Tensor::F32(x)))] = inputs
            && let Some(y) = self.compute(x, ctx)
        {
            return Ok(vec![Value::Tensor(Tensor::F32(y))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
