//! `im2col-gemm` tactic of Conv: f32 1-D/2-D convolution (grouped too) as im2col followed
//! by one `gemm` per image and group.

use super::sgemm::{MatLayout, sgemm};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::{Attributes, Error, Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// Conv attributes, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvParams {
    /// `NOTSET`, `SAME_UPPER`, `SAME_LOWER` or `VALID`.
    pub auto_pad: String,
    /// Dilations per spatial dim (empty: all 1).
    pub dilations: Vec<i64>,
    /// Number of groups.
    pub group: i64,
    /// Kernel shape, if given (must match the weights).
    pub kernel_shape: Option<Vec<i64>>,
    /// Pads: all begins, then all ends (empty: all 0).
    pub pads: Vec<i64>,
    /// Strides per spatial dim (empty: all 1).
    pub strides: Vec<i64>,
}

impl ConvParams {
    /// Parse Conv attributes; errors on unknown attributes or bad values.
    pub fn parse(a: &Attributes) -> Result<ConvParams> {
        let unknown = a.unknown(&[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ]);
        if let Some(u) = unknown.first() {
            return Err(Error::attr(u, "unsupported attribute"));
        }
        let p = ConvParams {
            auto_pad: a.string_or("auto_pad", "NOTSET".into())?,
            dilations: a.ints_or("dilations", Vec::new())?,
            group: a.int_or("group", 1)?,
            kernel_shape: a.ints("kernel_shape")?,
            pads: a.ints_or("pads", Vec::new())?,
            strides: a.ints_or("strides", Vec::new())?,
        };
        if !["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(&p.auto_pad.as_str()) {
            return Err(Error::attr(
                "auto_pad",
                format!("unknown value {}", p.auto_pad),
            ));
        }
        if p.group < 1 {
            return Err(Error::attr("group", "must be >= 1"));
        }
        if p.dilations.iter().chain(&p.strides).any(|&v| v < 1) || p.pads.iter().any(|&v| v < 0) {
            return Err(Error::attr(
                "strides",
                "strides/dilations must be >= 1, pads >= 0",
            ));
        }
        Ok(p)
    }
}

/// One spatial dimension of a convolution, resolved against the input.
#[derive(Clone, Copy, Debug)]
struct Axis {
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    output: usize,
}

/// Conv as im2col + gemm (f32, 1-D or 2-D); other cases go to the reference evaluator.
#[derive(Debug, Clone)]
pub struct ConvIm2col {
    op: Arc<dyn Op>,
    params: ConvParams,
}

impl ConvIm2col {
    /// The tactic for a Conv node; `None` when its attributes are not understood.
    pub fn from_node(node: &Node) -> Option<ConvIm2col> {
        Some(ConvIm2col {
            op: node.op.clone(),
            params: ConvParams::parse(&node.attrs).ok()?,
        })
    }

    /// The spatial axes, or `None` when this kernel does not handle the case.
    fn axes(&self, xs: &[usize], ws: &[usize]) -> Result<Vec<Axis>> {
        let nsp = xs.len() - 2;
        let p = &self.params;
        let get = |v: &[i64], i: usize, d: i64| v.get(i).copied().unwrap_or(d);
        if let Some(ks) = &p.kernel_shape
            && (ks.len() != nsp || ks.iter().zip(&ws[2..]).any(|(&a, &b)| a as usize != b))
        {
            return Err(Error::shape(format!(
                "Conv: kernel_shape {ks:?} does not match weights {ws:?}"
            )));
        }
        let mut axes = Vec::with_capacity(nsp);
        for i in 0..nsp {
            let input = xs[i + 2];
            let kernel = ws[i + 2];
            let stride = get(&p.strides, i, 1) as usize;
            let dilation = get(&p.dilations, i, 1) as usize;
            let eff = (kernel.max(1) - 1) * dilation + 1;
            let (pad_begin, output) = match p.auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    let out = input.div_ceil(stride);
                    let total = ((out.max(1) - 1) * stride + eff).saturating_sub(input);
                    let begin = if p.auto_pad == "SAME_UPPER" {
                        total / 2
                    } else {
                        total - total / 2
                    };
                    (begin, out)
                }
                "VALID" => (
                    0,
                    if input >= eff {
                        (input - eff) / stride + 1
                    } else {
                        0
                    },
                ),
                _ => {
                    let pb = get(&p.pads, i, 0) as usize;
                    let pe = get(&p.pads, i + nsp, 0) as usize;
                    let padded = input + pb + pe;
                    (
                        pb,
                        if padded >= eff {
                            (padded - eff) / stride + 1
                        } else {
                            0
                        },
                    )
                }
            };
            axes.push(Axis {
                input,
                kernel,
                stride,
                dilation,
                pad_begin,
                output,
            });
        }
        Ok(axes)
    }

    /// The convolution on f32 arrays of rank 3 or 4.
    pub fn compute(
        &self,
        x: &ArrayD<f32>,
        w: &ArrayD<f32>,
        bias: Option<&ArrayD<f32>>,
    ) -> Result<ArrayD<f32>> {
        let (xs, ws) = (x.shape(), w.shape());
        if !(xs.len() == 3 || xs.len() == 4) || ws.len() != xs.len() {
            return Err(Error::shape(format!(
                "Conv im2col: unsupported ranks {xs:?}, {ws:?}"
            )));
        }
        let g = self.params.group as usize;
        let (n, c, m, cg) = (xs[0], xs[1], ws[0], ws[1]);
        if c != cg * g || m % g != 0 {
            return Err(Error::shape(format!(
                "Conv: input {xs:?}, weights {ws:?} and group {g} do not fit"
            )));
        }
        let mut axes = self.axes(xs, ws)?;
        let mut out_shape = vec![n, m];
        out_shape.extend(axes.iter().map(|a| a.output));
        if axes.len() == 1 {
            axes.insert(
                0,
                Axis {
                    input: 1,
                    kernel: 1,
                    stride: 1,
                    dilation: 1,
                    pad_begin: 0,
                    output: 1,
                },
            );
        }
        let (ay, ax) = (axes[0], axes[1]);
        let (ih, iw, oh, ow) = (ay.input, ax.input, ay.output, ax.output);
        let (kh, kw) = (ay.kernel, ax.kernel);
        let mg = m / g;
        let kc = cg * kh * kw;
        let p = oh * ow;
        let mut out = vec![0f32; n * m * p];
        let bias_data: Option<Vec<f32>> = match bias {
            Some(b) if b.len() != m => {
                return Err(Error::shape(format!(
                    "Conv: bias {:?} for {m} channels",
                    b.shape()
                )));
            }
            Some(b) => Some(b.iter().copied().collect()),
            None => None,
        };
        if let Some(bd) = &bias_data {
            for (i, chunk) in out.chunks_mut(p.max(1)).enumerate() {
                chunk.fill(bd[i % m]);
            }
        }
        let x_std = x.as_standard_layout();
        let w_std = w.as_standard_layout();
        let xd = x_std
            .as_slice()
            .ok_or_else(|| Error::shape("Conv: input not contiguous"))?;
        let wd = w_std
            .as_slice()
            .ok_or_else(|| Error::shape("Conv: weights not contiguous"))?;
        let direct = kh == 1
            && kw == 1
            && ay.stride == 1
            && ax.stride == 1
            && ay.pad_begin == 0
            && ax.pad_begin == 0
            && oh == ih
            && ow == iw;
        let mut col = if direct {
            Vec::new()
        } else {
            vec![0f32; kc * p]
        };
        if p == 0 || n * m == 0 {
            return to_array(&out_shape, out);
        }
        for img in 0..n {
            for grp in 0..g {
                let x_off = (img * c + grp * cg) * ih * iw;
                let (src, src_off): (&[f32], usize) = if direct {
                    (xd, x_off)
                } else {
                    im2col(xd, x_off, cg, ay, ax, &mut col);
                    (&col, 0)
                };
                let o_off = (img * m + grp * mg) * p;
                sgemm(
                    mg,
                    p,
                    kc,
                    1.0,
                    wd,
                    MatLayout::row_major(grp * mg * kc, kc),
                    src,
                    MatLayout::row_major(src_off, p),
                    bias_data.is_some(),
                    &mut out[o_off..o_off + mg * p],
                )?;
            }
        }
        to_array(&out_shape, out)
    }
}

fn to_array(shape: &[usize], out: Vec<f32>) -> Result<ArrayD<f32>> {
    ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| Error::shape(e.to_string()))
}

/// Fill `col` (rows: channel x kernel offsets, columns: output positions) from one image
/// group of `x` starting at `x_off`.
fn im2col(x: &[f32], x_off: usize, cg: usize, ay: Axis, ax: Axis, col: &mut [f32]) {
    let (ih, iw, oh, ow) = (ay.input, ax.input, ay.output, ax.output);
    let p = oh * ow;
    col.par_chunks_mut(p).enumerate().for_each(|(row, dst)| {
        let j = row % ax.kernel;
        let i = (row / ax.kernel) % ay.kernel;
        let ch = row / (ax.kernel * ay.kernel);
        if ch >= cg {
            return;
        }
        let plane = x_off + ch * ih * iw;
        for oy in 0..oh {
            let y = (oy * ay.stride + i * ay.dilation) as isize - ay.pad_begin as isize;
            let line = &mut dst[oy * ow..(oy + 1) * ow];
            if y < 0 || y as usize >= ih {
                line.fill(0.0);
                continue;
            }
            let base = plane + y as usize * iw;
            for (ox, v) in line.iter_mut().enumerate() {
                let xx = (ox * ax.stride + j * ax.dilation) as isize - ax.pad_begin as isize;
                *v = if xx < 0 || xx as usize >= iw {
                    0.0
                } else {
                    x.get(base + xx as usize).copied().unwrap_or(0.0)
                };
            }
        }
    });
}

impl Tactic for ConvIm2col {
    fn name(&self) -> &str {
        "im2col-gemm"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f32_of = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(Some(a)),
            None | Some(None) => Some(None),
            _ => None,
        };
        if let (Some(Some(x)), Some(Some(w)), Some(b)) = (f32_of(0), f32_of(1), f32_of(2))
            && inputs.len() <= 3
            && (x.ndim() == 3 || x.ndim() == 4)
        {
            return Ok(vec![Value::Tensor(Tensor::F32(self.compute(x, w, b)?))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}
