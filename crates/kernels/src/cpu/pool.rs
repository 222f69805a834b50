//! `direct` tactics of MaxPool, AveragePool (2-D and 1-D NCHW, floor mode) and
//! GlobalAveragePool / GlobalMaxPool (any rank): one plane per task, row by row; and of the
//! same pools on NHWC tensors (`NhwcPool`, see [`pool_nhwc`](super::pool_nhwc)).

use super::conv::{ConvGeom, ConvParams};
use super::conv_algos::{input_row, valid_cols};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Attributes, Error, Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Which pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Max,
    Avg { include_pad: bool },
    GlobalMax,
    GlobalAvg,
}

/// A pooling layer on f32 NCHW input; other cases go to the reference evaluator.
#[derive(Debug, Clone)]
pub struct PoolTactic {
    op: Arc<dyn Op>,
    kind: Kind,
    params: Option<ConvParams>,
    kernel: Vec<usize>,
    /// Input and output are NHWC (`NhwcPool`).
    nhwc: bool,
}

impl PoolTactic {
    /// The tactic for a pooling node; `None` for attributes this kernel does not handle
    /// (ceil mode, SAME padding, storage order, the Indices output).
    pub fn from_node(node: &Node) -> Option<PoolTactic> {
        let a = &node.attrs;
        let nhwc = node.op_type() == "NhwcPool";
        let op_type = if nhwc {
            a.string("pool").ok()??
        } else {
            node.op_type().to_string()
        };
        let kind = match op_type.as_str() {
            "MaxPool" => Kind::Max,
            "AveragePool" => Kind::Avg {
                include_pad: a.int_or("count_include_pad", 0).ok()? != 0,
            },
            "GlobalMaxPool" => Kind::GlobalMax,
            "GlobalAveragePool" => Kind::GlobalAvg,
            _ => return None,
        };
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return None;
        }
        if matches!(kind, Kind::GlobalMax | Kind::GlobalAvg) {
            return Some(PoolTactic {
                op: node.op.clone(),
                kind,
                params: None,
                kernel: Vec::new(),
                nhwc,
            });
        }
        if a.int_or("ceil_mode", 0).ok()? != 0 || a.int_or("storage_order", 0).ok()? != 0 {
            return None;
        }
        let auto_pad = a.string_or("auto_pad", "NOTSET".into()).ok()?;
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return None;
        }
        let kernel: Vec<usize> = a
            .ints("kernel_shape")
            .ok()??
            .iter()
            .map(|&k| usize::try_from(k).ok().filter(|&k| k > 0))
            .collect::<Option<_>>()?;
        let mut stripped = Attributes::new();
        for name in ["auto_pad", "dilations", "pads", "strides"] {
            if let Some(v) = a.0.get(name) {
                stripped.0.insert(name.to_string(), v.clone());
            }
        }
        let params = ConvParams::parse(&stripped).ok()?;
        Some(PoolTactic {
            op: node.op.clone(),
            kind,
            params: Some(params),
            kernel,
            nhwc,
        })
    }

    fn window(
        &self,
        x: &ArrayD<f32>,
        xd: &[f32],
        ctx: &RunContext<'_>,
    ) -> Result<Option<ArrayD<f32>>> {
        let Some(params) = &self.params else {
            return Ok(None);
        };
        let xs = x.shape();
        if !(xs.len() == 3 || xs.len() == 4) || self.kernel.len() != xs.len() - 2 {
            return Ok(None);
        }
        let nchw = if self.nhwc {
            if xs.len() != 4 {
                return Ok(None);
            }
            vec![xs[0], xs[3], xs[1], xs[2]]
        } else {
            xs.to_vec()
        };
        let mut ws = vec![nchw[1], 1];
        ws.extend(&self.kernel);
        let mut p = params.clone();
        p.group = nchw[1] as i64;
        let g = ConvGeom::new(&p, &nchw, &ws)?;
        if self.nhwc {
            let mut out = ctx.alloc_f32(g.n * g.c * g.positions());
            super::pool_nhwc::window(&g, self.kind, xd, &mut out);
            return Ok(Some(
                ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, g.c]), out)
                    .map_err(|e| Error::shape(e.to_string()))?,
            ));
        }
        let plane = g.positions();
        let mut out = ctx.alloc_f32(g.n * g.c * plane);
        if self.kind == Kind::Max && max2x2_applies(&g) {
            max2x2(&g, xd, &mut out);
            return Ok(Some(
                ArrayD::from_shape_vec(IxDyn(&g.out_shape), out)
                    .map_err(|e| Error::shape(e.to_string()))?,
            ));
        }
        let ranges: Vec<(usize, usize)> = (0..g.kw).map(|kx| valid_cols(&g, kx)).collect();
        let kind = self.kind;
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(pi, dst)| {
                let src_plane = &xd[pi * g.ih * g.iw..(pi + 1) * g.ih * g.iw];
                let mut count = vec![0f32; g.ow];
                for oy in 0..g.oh {
                    let acc = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    let init = if kind == Kind::Max {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    };
                    acc.fill(init);
                    count.fill(0.0);
                    for ky in 0..g.kh {
                        let Some(y) = input_row(&g, oy, ky) else {
                            continue;
                        };
                        let src = &src_plane[y * g.iw..(y + 1) * g.iw];
                        for (kx, &(lo, hi)) in ranges.iter().enumerate() {
                            if lo >= hi {
                                continue;
                            }
                            let first = lo * g.sw + kx * g.dw - g.pw;
                            let vals = src[first..].iter().step_by(g.sw);
                            let out = &mut acc[lo..hi];
                            if kind == Kind::Max {
                                out.iter_mut().zip(vals).for_each(|(o, v)| *o = o.max(*v));
                            } else {
                                out.iter_mut().zip(vals).for_each(|(o, v)| *o += v);
                                count[lo..hi].iter_mut().for_each(|c| *c += 1.0);
                            }
                        }
                    }
                    match kind {
                        Kind::Avg { include_pad: true } => {
                            let n = (g.kh * g.kw) as f32;
                            acc.iter_mut().for_each(|o| *o /= n);
                        }
                        Kind::Avg { include_pad: false } => acc
                            .iter_mut()
                            .zip(&count)
                            .for_each(|(o, c)| *o = if *c > 0.0 { *o / c } else { 0.0 }),
                        _ => {}
                    }
                }
            });
        Ok(Some(
            ArrayD::from_shape_vec(IxDyn(&g.out_shape), out)
                .map_err(|e| Error::shape(e.to_string()))?,
        ))
    }

    fn global(&self, x: &ArrayD<f32>, xd: &[f32]) -> Result<Option<ArrayD<f32>>> {
        let xs = x.shape();
        if xs.len() < 3 {
            return Ok(None);
        }
        if self.nhwc {
            if xs.len() != 4 || xs[1] * xs[2] == 0 {
                return Ok(None);
            }
            let out = super::pool_nhwc::global(xs, self.kind == Kind::GlobalMax, xd);
            return Ok(Some(
                ArrayD::from_shape_vec(IxDyn(&[xs[0], 1, 1, xs[3]]), out)
                    .map_err(|e| Error::shape(e.to_string()))?,
            ));
        }
        let plane: usize = xs[2..].iter().product();
        let planes = xs[0] * xs[1];
        if plane == 0 {
            return Ok(None);
        }
        let mut out = vec![0f32; planes];
        let max = self.kind == Kind::GlobalMax;
        out.par_iter_mut().enumerate().for_each(|(i, o)| {
            let src = &xd[i * plane..(i + 1) * plane];
            *o = if max {
                src.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
            } else {
                sum_f32(src) / plane as f32
            };
        });
        let mut shape = xs[..2].to_vec();
        shape.extend(std::iter::repeat_n(1, xs.len() - 2));
        Ok(Some(
            ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::shape(e.to_string()))?,
        ))
    }
}

/// True for the 2x2 stride-2 unpadded max pool of most CNNs.
fn max2x2_applies(g: &ConvGeom) -> bool {
    (g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw) == (2, 2, 2, 2, 1, 1, 0, 0)
        && g.oh * 2 <= g.ih
        && g.ow * 2 <= g.iw
}

/// 2x2 stride-2 max pool of NCHW planes: each output row from two input rows, pairs of
/// columns (no per-element window bookkeeping); planes in parallel, several per task.
fn max2x2(g: &ConvGeom, x: &[f32], out: &mut [f32]) {
    let (plane_in, plane_out) = (g.ih * g.iw, g.oh * g.ow);
    if plane_out == 0 {
        return;
    }
    let per_task = (8192 / plane_out).max(1);
    out.par_chunks_mut(plane_out * per_task)
        .enumerate()
        .for_each(|(t, block)| {
            for (k, dst) in block.chunks_mut(plane_out).enumerate() {
                let p = t * per_task + k;
                let src = &x[p * plane_in..(p + 1) * plane_in];
                for (oy, o) in dst.chunks_mut(g.ow).enumerate() {
                    let r0 = &src[2 * oy * g.iw..2 * oy * g.iw + 2 * g.ow];
                    let r1 = &src[(2 * oy + 1) * g.iw..(2 * oy + 1) * g.iw + 2 * g.ow];
                    for ((v, a), b) in o.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2))
                    {
                        *v = a[0].max(a[1]).max(b[0].max(b[1]));
                    }
                }
            }
        });
}

/// Sum with eight independent accumulators (vectorizes, rounds less than a serial sum).
pub(crate) fn sum_f32(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

impl Tactic for PoolTactic {
    fn name(&self) -> &str {
        "direct"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        if let [Some(Value::Tensor(Tensor::F32(x)))] = inputs {
            let x_std = x.as_standard_layout();
            if let Some(xd) = x_std.as_slice() {
                let y = match self.kind {
                    Kind::GlobalMax | Kind::GlobalAvg => self.global(x, xd)?,
                    _ => self.window(x, xd, ctx)?,
                };
                if let Some(y) = y {
                    return Ok(vec![Value::Tensor(Tensor::F32(y))]);
                }
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max2x2_matches_the_window_definition() {
        // Odd sizes too: the last row / column of the input is not read (floor mode).
        for (n, c, h, w) in [(1, 1, 4, 4), (2, 3, 7, 9), (1, 8, 32, 32), (3, 2, 2, 3)] {
            let mut p = ConvParams::parse(&Attributes::new()).unwrap();
            p.strides = vec![2, 2];
            p.group = c as i64;
            let g = ConvGeom::new(&p, &[n, c, h, w], &[c, 1, 2, 2]).unwrap();
            assert!(max2x2_applies(&g));
            let x: Vec<f32> = (0..n * c * h * w)
                .map(|i| ((i * 37 % 101) as f32) - 50.0)
                .collect();
            let mut out = vec![0f32; n * c * g.oh * g.ow];
            max2x2(&g, &x, &mut out);
            for pl in 0..n * c {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let at = |y: usize, x0: usize| x[pl * h * w + y * w + x0];
                        let want = at(2 * oy, 2 * ox)
                            .max(at(2 * oy, 2 * ox + 1))
                            .max(at(2 * oy + 1, 2 * ox))
                            .max(at(2 * oy + 1, 2 * ox + 1));
                        assert_eq!(out[pl * g.oh * g.ow + oy * g.ow + ox], want);
                    }
                }
            }
        }
    }
}
