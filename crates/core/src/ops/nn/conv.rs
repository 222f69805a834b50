//! `Conv`: N-d grouped convolution (im2col + matrix multiply), with optional bias.

use super::common::{
    Geometry, WindowAttrs, check_attrs, float_tensor, float_vec, matmul_f64, nc_fact, split_nc,
};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Attributes Conv-like ops accept.
pub const CONV_ATTRS: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
];

/// Grouped N-d convolution.
#[derive(Debug)]
pub struct Conv {
    /// Window attributes.
    pub window: WindowAttrs,
    /// Number of groups.
    pub group: usize,
}

/// Parse `group` (>= 1).
pub fn parse_group(ctx: &BuildCtx<'_>) -> Result<usize> {
    let g = ctx.attrs.int_or("group", 1)?;
    if g < 1 {
        return Err(Error::attr("group", format!("must be >= 1, got {g}")));
    }
    Ok(g as usize)
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, CONV_ATTRS)?;
    Ok(Box::new(Conv {
        window: WindowAttrs::parse(ctx.attrs)?,
        group: parse_group(ctx)?,
    }))
}

/// Validate X/W shapes for a convolution and resolve the geometry.
pub fn conv_geometry(
    window: &WindowAttrs,
    group: usize,
    xs: &[usize],
    ws: &[usize],
) -> Result<Geometry> {
    let (_, c, spatial) = split_nc(xs, "Conv")?;
    if ws.len() != xs.len() {
        return Err(Error::shape(format!(
            "weights {ws:?} must have the rank of the input {xs:?}"
        )));
    }
    if !c.is_multiple_of(group) || !ws[0].is_multiple_of(group) {
        return Err(Error::shape(format!(
            "group {group} must divide input channels {c} and output channels {}",
            ws[0]
        )));
    }
    if ws[1] * group != c {
        return Err(Error::shape(format!(
            "weights {ws:?} expect {} input channels, input {xs:?} has {c}",
            ws[1] * group
        )));
    }
    if let Some(k) = &window.kernel
        && k.as_slice() != &ws[2..]
    {
        return Err(Error::shape(format!(
            "kernel_shape {k:?} does not match weights {ws:?}"
        )));
    }
    window.geometry(&spatial, &ws[2..])
}

/// The convolution itself on f64 data: `x` is `[N, C, in...]`, `w` is `[M, C/group, k...]`;
/// returns `[N, M, out...]` in row-major order.
pub fn conv_f64(
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    ws: &[usize],
    group: usize,
    g: &Geometry,
) -> Result<Vec<f64>> {
    let (n, c, m) = (xs[0], xs[1], ws[0]);
    let (cg, mg) = (c / group, m / group);
    let (kl, ol, il) = (g.kernel_len(), g.out_len(), g.in_len());
    let table = g.gather_table();
    let mut out = vec![0.0; n * m * ol];
    let mut col = vec![0.0; cg * kl * ol];
    for b in 0..n {
        for gi in 0..group {
            for ci in 0..cg {
                let plane = &x[(b * c + gi * cg + ci) * il..][..il];
                for (k, row) in table.chunks(ol).enumerate() {
                    let dst = &mut col[(ci * kl + k) * ol..][..ol];
                    for (d, &off) in dst.iter_mut().zip(row) {
                        *d = if off >= 0 { plane[off as usize] } else { 0.0 };
                    }
                }
            }
            let wg = &w[gi * mg * cg * kl..][..mg * cg * kl];
            let r = matmul_f64(wg, &col, mg, cg * kl, ol)?;
            out[(b * m + gi * mg) * ol..][..mg * ol].copy_from_slice(&r);
        }
    }
    Ok(out)
}

/// Shape inference shared by conv-like ops: `[N, M, out...]` with `dtype`.
pub fn infer_conv(
    window: &WindowAttrs,
    x: &TensorFact,
    w: &TensorFact,
    dtype: Option<crate::DataType>,
) -> Vec<TensorFact> {
    let Some(xd) = nc_fact(&x.shape) else {
        return vec![TensorFact { dtype, shape: None }];
    };
    let wd = w.shape.as_ref().map(|s| s.0.clone());
    let m = wd
        .as_ref()
        .and_then(|d| d.first().cloned())
        .unwrap_or(crate::Dim::Unknown);
    let kernel: Option<Vec<usize>> = window.kernel.clone().or_else(|| {
        wd.as_ref()
            .and_then(|d| {
                d.get(2..)
                    .map(|k| k.iter().map(crate::Dim::fixed).collect())
            })
            .flatten()
    });
    let mut dims = vec![xd[0].clone(), m];
    match kernel {
        Some(k) => dims.extend(window.infer_spatial(&xd[2..], &k)),
        None => dims.extend(vec![crate::Dim::Unknown; xd.len() - 2]),
    }
    vec![TensorFact {
        dtype,
        shape: Some(Shape(dims)),
    }]
}

impl Op for Conv {
    fn op_type(&self) -> &str {
        "Conv"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        match (inputs.first(), inputs.get(1)) {
            (Some(x), Some(w)) => Ok(infer_conv(&self.window, x.fact, w.fact, x.fact.dtype)),
            _ => Ok(Vec::new()),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        if x.dtype() != w.dtype() {
            return Err(Error::dtype(format!(
                "X is {} but W is {}",
                x.dtype(),
                w.dtype()
            )));
        }
        let g = conv_geometry(&self.window, self.group, x.shape(), w.shape())?;
        let mut y = conv_f64(
            &float_vec(x)?,
            x.shape(),
            &float_vec(w)?,
            w.shape(),
            self.group,
            &g,
        )?;
        let m = w.shape()[0];
        if let Some(b) = opt_input(inputs, 2) {
            let bv = float_vec(b)?;
            if bv.len() != m {
                return Err(Error::shape(format!(
                    "bias has {} values for {m} output channels",
                    bv.len()
                )));
            }
            let ol = g.out_len();
            for (i, chunk) in y.chunks_mut(ol.max(1)).enumerate() {
                let bias = bv[i % m];
                chunk.iter_mut().for_each(|v| *v += bias);
            }
        }
        let mut shape = vec![x.shape()[0], m];
        shape.extend(&g.out);
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn conv(attrs: Attributes, x: Tensor, w: Tensor, b: Option<Tensor>) -> Result<Tensor> {
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        let op = build(&ctx)?;
        Ok(op.eval(&[Some(&x), Some(&w), b.as_ref()])?.remove(0))
    }

    #[test]
    fn grouped_conv_with_bias_matches_direct() {
        // 1 batch, 4 channels, 3x3 input; 2 groups, 2 output channels, 2x2 kernel.
        let x: Vec<f32> = (0..36).map(|v| v as f32 * 0.5 - 3.0).collect();
        let w: Vec<f32> = (0..16).map(|v| (v % 5) as f32 - 2.0).collect();
        let attrs = Attributes::new().with("group", Attribute::Int(2));
        let y = conv(
            attrs,
            Tensor::from_vec(&[1, 4, 3, 3], x.clone()).unwrap(),
            Tensor::from_vec(&[2, 2, 2, 2], w.clone()).unwrap(),
            Some(Tensor::from_vec(&[2], vec![1.0f32, -1.0]).unwrap()),
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 2, 2, 2]);
        let yv = y.to_f64_vec().unwrap();
        for m in 0..2 {
            for oy in 0..2 {
                for ox in 0..2 {
                    let mut s = if m == 0 { 1.0 } else { -1.0 };
                    for ci in 0..2 {
                        for ky in 0..2 {
                            for kx in 0..2 {
                                let c = m * 2 + ci;
                                s += x[c * 9 + (oy + ky) * 3 + ox + kx] as f64
                                    * w[((m * 2 + ci) * 2 + ky) * 2 + kx] as f64;
                            }
                        }
                    }
                    assert!((yv[(m * 2 + oy) * 2 + ox] - s).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn bad_channels_and_attrs_are_errors() {
        let x = Tensor::zeros(crate::DataType::F32, &[1, 3, 4, 4]);
        let w = Tensor::zeros(crate::DataType::F32, &[2, 2, 3, 3]);
        assert!(conv(Attributes::new(), x.clone(), w.clone(), None).is_err());
        let a = Attributes::new().with("foo", Attribute::Int(1));
        assert!(conv(a, x, w, None).is_err());
    }
}
