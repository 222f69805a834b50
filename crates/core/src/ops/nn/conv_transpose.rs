//! `ConvTranspose`: N-d grouped transposed convolution (matrix multiply + col2im).

use super::common::{
    AutoPad, check_attrs, float_tensor, float_vec, matmul_f64, nc_fact, split_nc, unravel,
    usize_list,
};
use super::conv::parse_group;
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Transposed convolution.
#[derive(Debug)]
pub struct ConvTranspose {
    auto_pad: AutoPad,
    kernel: Option<Vec<usize>>,
    strides: Option<Vec<usize>>,
    dilations: Option<Vec<usize>>,
    pads: Option<Vec<usize>>,
    output_padding: Option<Vec<usize>>,
    output_shape: Option<Vec<usize>>,
    group: usize,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "output_padding",
            "output_shape",
            "pads",
            "strides",
        ],
    )?;
    Ok(Box::new(ConvTranspose {
        auto_pad: AutoPad::parse(ctx.attrs)?,
        kernel: usize_list(ctx.attrs, "kernel_shape", true)?,
        strides: usize_list(ctx.attrs, "strides", true)?,
        dilations: usize_list(ctx.attrs, "dilations", true)?,
        pads: usize_list(ctx.attrs, "pads", false)?,
        output_padding: usize_list(ctx.attrs, "output_padding", false)?,
        output_shape: usize_list(ctx.attrs, "output_shape", false)?,
        group: parse_group(ctx)?,
    }))
}

/// Resolved geometry: per spatial axis (stride, dilation, kernel, pad_begin, out).
struct TGeom {
    strides: Vec<usize>,
    dilations: Vec<usize>,
    kernel: Vec<usize>,
    pad_begin: Vec<i64>,
    out: Vec<usize>,
}

fn axis_list(v: &Option<Vec<usize>>, name: &str, n: usize, default: usize) -> Result<Vec<usize>> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v.clone()),
        Some(v) => Err(Error::attr(name, format!("{v:?} does not have {n} values"))),
    }
}

impl ConvTranspose {
    fn geometry(&self, input: &[usize], kernel: &[usize]) -> Result<TGeom> {
        let n = input.len();
        let strides = axis_list(&self.strides, "strides", n, 1)?;
        let dilations = axis_list(&self.dilations, "dilations", n, 1)?;
        let op = axis_list(&self.output_padding, "output_padding", n, 0)?;
        let pads = axis_list(&self.pads, "pads", 2 * n, 0)?;
        let target = match &self.output_shape {
            Some(s) if s.len() == n => Some(s.clone()),
            Some(s) if s.len() == n + 2 => Some(s[2..].to_vec()),
            Some(s) => {
                return Err(Error::attr(
                    "output_shape",
                    format!("{s:?} does not fit {n} spatial axes"),
                ));
            }
            None => None,
        };
        let mut g = TGeom {
            strides,
            dilations,
            kernel: kernel.to_vec(),
            pad_begin: vec![0; n],
            out: vec![0; n],
        };
        for i in 0..n {
            let full = (g.strides[i] * (input[i].max(1) - 1)
                + op[i]
                + (kernel[i].max(1) - 1) * g.dilations[i]
                + 1) as i64;
            let same = matches!(self.auto_pad, AutoPad::SameUpper | AutoPad::SameLower);
            let out = match (&target, same) {
                (Some(t), _) => Some(t[i] as i64),
                (None, true) => Some((input[i] * g.strides[i]) as i64),
                (None, false) => None,
            };
            match out {
                Some(o) => {
                    let total = full - o;
                    let half = total.div_euclid(2);
                    g.pad_begin[i] = if self.auto_pad == AutoPad::SameUpper {
                        half
                    } else {
                        total - half
                    };
                    g.out[i] = o as usize;
                }
                None => {
                    let (pb, pe) = if self.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (pads[i], pads[n + i])
                    };
                    let o = full - (pb + pe) as i64;
                    if o < 0 {
                        return Err(Error::shape(format!(
                            "padding leaves a negative output size on axis {i}"
                        )));
                    }
                    g.pad_begin[i] = pb as i64;
                    g.out[i] = o as usize;
                }
            }
        }
        Ok(g)
    }
}

impl Op for ConvTranspose {
    fn op_type(&self) -> &str {
        "ConvTranspose"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let (Some(x), Some(w)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Vec::new());
        };
        let dtype = x.fact.dtype;
        let Some(xd) = nc_fact(&x.fact.shape) else {
            return Ok(vec![TensorFact { dtype, shape: None }]);
        };
        let wd = w.fact.shape.as_ref().map(|s| s.0.clone());
        let m = wd
            .as_ref()
            .and_then(|d| d.get(1).and_then(Dim::fixed))
            .map(|m| Dim::Fixed(m * self.group))
            .unwrap_or(Dim::Unknown);
        let kernel: Option<Vec<usize>> = self.kernel.clone().or_else(|| {
            wd.as_ref()
                .and_then(|d| d.get(2..).map(|k| k.iter().map(Dim::fixed).collect()))
                .flatten()
        });
        let spatial: Option<Vec<usize>> = xd[2..].iter().map(Dim::fixed).collect();
        let mut dims = vec![xd[0].clone(), m];
        match (kernel, spatial) {
            (Some(k), Some(s)) => {
                dims.extend(self.geometry(&s, &k)?.out.into_iter().map(Dim::Fixed))
            }
            _ => dims.extend(vec![Dim::Unknown; xd.len() - 2]),
        }
        Ok(vec![TensorFact {
            dtype,
            shape: Some(Shape(dims)),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        let (xs, ws) = (x.shape(), w.shape());
        let (n, c, spatial) = split_nc(xs, "ConvTranspose")?;
        let group = self.group;
        if ws.len() != xs.len() || ws[0] != c || c % group != 0 {
            return Err(Error::shape(format!(
                "weights {ws:?} do not fit input {xs:?} with group {group}"
            )));
        }
        if let Some(k) = &self.kernel
            && k.as_slice() != &ws[2..]
        {
            return Err(Error::shape(format!(
                "kernel_shape {k:?} does not match weights {ws:?}"
            )));
        }
        let g = self.geometry(&spatial, &ws[2..])?;
        let (cg, mg) = (c / group, ws[1]);
        let m = mg * group;
        let kl: usize = g.kernel.iter().product();
        let il: usize = spatial.iter().product();
        let ol: usize = g.out.iter().product();
        // Scatter table: for kernel position k and input position i, the output offset or -1.
        let nd = spatial.len();
        let mut table = vec![-1i64; kl * il];
        let (mut ki, mut ii) = (vec![0; nd], vec![0; nd]);
        for k in 0..kl {
            unravel(k, &g.kernel, &mut ki);
            for i in 0..il {
                unravel(i, &spatial, &mut ii);
                let mut off = 0i64;
                let mut ok = true;
                for d in 0..nd {
                    let o = (ii[d] * g.strides[d] + ki[d] * g.dilations[d]) as i64 - g.pad_begin[d];
                    if o < 0 || o >= g.out[d] as i64 {
                        ok = false;
                    }
                    off = off * g.out[d] as i64 + o;
                }
                table[k * il + i] = if ok { off } else { -1 };
            }
        }
        let xv = float_vec(x)?;
        let wv = float_vec(w)?;
        let bias = match opt_input(inputs, 2) {
            Some(b) => {
                let v = float_vec(b)?;
                if v.len() != m {
                    return Err(Error::shape(format!(
                        "bias has {} values for {m} channels",
                        v.len()
                    )));
                }
                v
            }
            None => vec![0.0; m],
        };
        let mut y = vec![0.0; n * m * ol];
        let rows = mg * kl;
        for gi in 0..group {
            // W_g is [cg, mg*kl]; transpose it to [mg*kl, cg].
            let wg = &wv[gi * cg * rows..][..cg * rows];
            let mut wt = vec![0.0; rows * cg];
            for ci in 0..cg {
                for r in 0..rows {
                    wt[r * cg + ci] = wg[ci * rows + r];
                }
            }
            for b in 0..n {
                let xg = &xv[(b * c + gi * cg) * il..][..cg * il];
                let cols = matmul_f64(&wt, xg, rows, cg, il)?;
                for mi in 0..mg {
                    let ch = gi * mg + mi;
                    let dst = &mut y[(b * m + ch) * ol..][..ol];
                    for k in 0..kl {
                        let src = &cols[(mi * kl + k) * il..][..il];
                        for (i, &off) in table[k * il..][..il].iter().enumerate() {
                            if off >= 0 {
                                dst[off as usize] += src[i];
                            }
                        }
                    }
                    dst.iter_mut().for_each(|v| *v += bias[ch]);
                }
            }
        }
        let mut shape = vec![n, m];
        shape.extend(&g.out);
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}
