//! Conv and FusedConv tactics (f32, 1-D and 2-D, grouped): the attributes, the geometry
//! resolved against the input, and the tactic that runs one of the algorithms of
//! [`conv_algos`](super::conv_algos) with bias, residual and activation fused into its
//! output stage.

use super::activation::Activation;
use super::conv_algos::{conv_direct, conv_gemm, conv_tiled};
use super::conv_filters::{Filters, filters_match, nhwc_geom_of_weights, pack_for};
use super::conv_packed::conv_packed;
use super::packed::{PackCache, PackedA};
use super::{conv_nhwc, conv_small, depthwise_nhwc};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, CowArray, IxDyn};
use kiln_core::{Attributes, Error, Node, Op, Result, Tensor, Value};
use std::sync::Arc;

/// Attributes of fused layers that do not change the convolution.
const FUSED_EXTRA: &[&str] = &[
    "activation",
    "activation_alpha",
    "activation_beta",
    "fusion",
    "fused_nodes",
    "layout",
];

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
        Self::parse_with(a, &[])
    }

    /// Parse Conv attributes, also accepting the attribute names in `extra`.
    pub fn parse_with(a: &Attributes, extra: &[&str]) -> Result<ConvParams> {
        let mut known = vec![
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ];
        known.extend_from_slice(extra);
        if let Some(u) = a.unknown(&known).first() {
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

/// A 1-D or 2-D convolution resolved against its input and weight shapes (1-D as height 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub m: usize,
    /// Groups.
    pub g: usize,
    /// Input channels per group.
    pub cg: usize,
    /// Output channels per group.
    pub mg: usize,
    /// Input height, width.
    pub ih: usize,
    /// Input width.
    pub iw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides (h, w).
    pub sh: usize,
    /// Stride w.
    pub sw: usize,
    /// Dilations (h, w).
    pub dh: usize,
    /// Dilation w.
    pub dw: usize,
    /// Leading pads (h, w).
    pub ph: usize,
    /// Leading pad w.
    pub pw: usize,
    /// Output shape (rank of the input).
    pub out_shape: Vec<usize>,
}

impl ConvGeom {
    /// Resolve `params` for input shape `xs` and weight shape `ws` (rank 3 or 4).
    pub fn new(params: &ConvParams, xs: &[usize], ws: &[usize]) -> Result<ConvGeom> {
        if !(xs.len() == 3 || xs.len() == 4) || ws.len() != xs.len() {
            return Err(Error::shape(format!(
                "Conv: unsupported ranks {xs:?}, {ws:?}"
            )));
        }
        let nsp = xs.len() - 2;
        if let Some(ks) = &params.kernel_shape
            && (ks.len() != nsp || ks.iter().zip(&ws[2..]).any(|(&a, &b)| a as usize != b))
        {
            return Err(Error::shape(format!(
                "Conv: kernel_shape {ks:?} does not match weights {ws:?}"
            )));
        }
        let g = params.group as usize;
        let (n, c, m, cg) = (xs[0], xs[1], ws[0], ws[1]);
        if c != cg * g || m % g != 0 {
            return Err(Error::shape(format!(
                "Conv: input {xs:?}, weights {ws:?} and group {g} do not fit"
            )));
        }
        let get = |v: &[i64], i: usize, d: i64| v.get(i).copied().unwrap_or(d) as usize;
        // (input, kernel, stride, dilation, pad_begin, output) per spatial axis.
        let mut axes = Vec::with_capacity(2);
        for i in 0..nsp {
            let (input, kernel) = (xs[i + 2], ws[i + 2]);
            let stride = get(&params.strides, i, 1);
            let dilation = get(&params.dilations, i, 1);
            let eff = (kernel.max(1) - 1) * dilation + 1;
            let (pad, output) = match params.auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    let out = input.div_ceil(stride);
                    let total = ((out.max(1) - 1) * stride + eff).saturating_sub(input);
                    let begin = if params.auto_pad == "SAME_UPPER" {
                        total / 2
                    } else {
                        total - total / 2
                    };
                    (begin, out)
                }
                "VALID" => (0, input.checked_sub(eff).map_or(0, |d| d / stride + 1)),
                _ => {
                    let padded = input + get(&params.pads, i, 0) + get(&params.pads, i + nsp, 0);
                    (
                        get(&params.pads, i, 0),
                        padded.checked_sub(eff).map_or(0, |d| d / stride + 1),
                    )
                }
            };
            axes.push((input, kernel, stride, dilation, pad, output));
        }
        if nsp == 1 {
            axes.insert(0, (1, 1, 1, 1, 0, 1));
        }
        let (y, x) = (axes[0], axes[1]);
        let mut out_shape = vec![n, m];
        out_shape.extend(if nsp == 1 { vec![x.5] } else { vec![y.5, x.5] });
        Ok(ConvGeom {
            n,
            c,
            m,
            g,
            cg,
            mg: m / g,
            ih: y.0,
            iw: x.0,
            oh: y.5,
            ow: x.5,
            kh: y.1,
            kw: x.1,
            sh: y.2,
            sw: x.2,
            dh: y.3,
            dw: x.3,
            ph: y.4,
            pw: x.4,
            out_shape,
        })
    }

    /// Output positions per image.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Rows of the im2col matrix per group (`cg * kh * kw`).
    pub fn kc(&self) -> usize {
        self.cg * self.kh * self.kw
    }

    /// True when the input itself is the im2col matrix (1x1, stride 1, no padding).
    pub fn pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.oh == self.ih
            && self.ow == self.iw
    }

    /// Multiply-accumulates of the whole convolution.
    pub fn macs(&self) -> usize {
        self.n * self.m * self.positions() * self.kc()
    }
}

/// Which convolution algorithm a [`ConvTactic`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgo {
    /// im2col of a whole image (skipped for pointwise convs) and one pool-parallel GEMM per
    /// image and group (`im2col-gemm`).
    Gemm,
    /// Blocks of output positions in parallel: im2col of the block, single-threaded GEMM, the
    /// output stage while the block is in cache (`im2col-tiled-<cols>`).
    Tiled(usize),
    /// Direct loops over output rows, one plane per task (`direct`; the depthwise kernel of
    /// MobileNets).
    Direct,
    /// Filters packed once (constant weights), blocks of `cols` positions im2col'ed into
    /// panels per task, the register-blocked micro-kernel (`packed-<cols>`).
    Packed(usize),
    /// NHWC layers (`layout = "NHWC"`, group 1): implicit GEMM over output positions x
    /// output channels, no im2col, large tasks (`nhwc-igemm`) or small ones with smaller
    /// filter chunks (`nhwc-igemm-small`).
    NhwcGemm(conv_nhwc::Blocking),
    /// NHWC depthwise layers: channels in the vector lanes (`nhwc-depthwise`).
    NhwcDepthwise,
    /// Dense NCHW layers with few input channels (at most 16), stride 1: output rows
    /// computed in registers from the input rows, no im2col (`direct-small`; other
    /// geometries run `im2col-tiled-256`).
    DirectSmall,
}

/// A Conv or FusedConv layer run by one algorithm.
#[derive(Debug, Clone)]
pub struct ConvTactic {
    op: Arc<dyn Op>,
    params: ConvParams,
    act: Activation,
    fused: bool,
    algo: ConvAlgo,
    name: String,
    /// Input, residual and output are NHWC (`layout = "NHWC"` of FusedConv).
    nhwc: bool,
    filters: PackCache<Filters>,
}

impl ConvTactic {
    /// The tactic for a Conv or FusedConv node with `algo`; `None` when the attributes are
    /// not understood (the reference tactic then runs alone).
    pub fn from_node(node: &Node, algo: ConvAlgo) -> Option<ConvTactic> {
        let fused = node.op_type() == "FusedConv";
        let params = if fused {
            ConvParams::parse_with(&node.attrs, FUSED_EXTRA).ok()?
        } else {
            ConvParams::parse(&node.attrs).ok()?
        };
        let act = if fused {
            Activation::from_attrs(&node.attrs).ok()?
        } else {
            Activation::Identity
        };
        let nhwc = fused && node.attrs.string_or("layout", "NCHW".into()).ok()? == "NHWC";
        if nhwc != matches!(algo, ConvAlgo::NhwcGemm(_) | ConvAlgo::NhwcDepthwise) {
            return None;
        }
        let name = match algo {
            ConvAlgo::NhwcGemm(b) if b == conv_nhwc::Blocking::SMALL => {
                "nhwc-igemm-small".to_string()
            }
            ConvAlgo::NhwcGemm(_) => "nhwc-igemm".to_string(),
            ConvAlgo::NhwcDepthwise => "nhwc-depthwise".to_string(),
            ConvAlgo::Gemm => "im2col-gemm".to_string(),
            ConvAlgo::Tiled(cols) => format!("im2col-tiled-{cols}"),
            ConvAlgo::Direct => "direct".to_string(),
            ConvAlgo::Packed(cols) => format!("packed-{cols}"),
            ConvAlgo::DirectSmall => "direct-small".to_string(),
        };
        Some(ConvTactic {
            op: node.op.clone(),
            params,
            act,
            fused,
            algo,
            name,
            nhwc,
            filters: PackCache::new(),
        })
    }

    /// All tactics for a Conv / FusedConv node, the preferred default first: grouped convs
    /// (depthwise in MobileNets) prefer the direct kernel, dense ones the tiled GEMM (the
    /// direct kernel is not offered for dense convs: far slower there, and slow to time).
    pub fn candidates(node: &Node) -> Vec<ConvTactic> {
        let grouped = node.attrs.int_or("group", 1).is_ok_and(|g| g > 1);
        let nhwc = node.attrs.string_or("layout", "NCHW".into()).ok() == Some("NHWC".into());
        let algos: &[ConvAlgo] = if nhwc && grouped {
            &[ConvAlgo::NhwcDepthwise]
        } else if nhwc {
            &[
                ConvAlgo::NhwcGemm(conv_nhwc::Blocking::WIDE),
                ConvAlgo::NhwcGemm(conv_nhwc::Blocking::SMALL),
            ]
        } else if grouped {
            &[ConvAlgo::Direct, ConvAlgo::Gemm, ConvAlgo::Packed(128)]
        } else {
            &[
                ConvAlgo::Packed(128),
                ConvAlgo::Packed(512),
                ConvAlgo::Tiled(256),
                ConvAlgo::Gemm,
                ConvAlgo::Tiled(96),
                ConvAlgo::DirectSmall,
            ]
        };
        algos
            .iter()
            .filter_map(|&a| ConvTactic::from_node(node, a))
            .collect()
    }

    /// The algorithm.
    pub fn algo(&self) -> ConvAlgo {
        self.algo
    }

    /// The convolution with its output stage on f32 arrays of rank 3 or 4.
    pub fn compute(
        &self,
        x: &ArrayD<f32>,
        w: &ArrayD<f32>,
        bias: Option<&ArrayD<f32>>,
        residual: Option<&ArrayD<f32>>,
        ctx: &RunContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let geom = if self.nhwc {
            let s = x.shape();
            if s.len() != 4 {
                return Err(Error::shape(format!("NHWC Conv: input {s:?} is not 4-D")));
            }
            let mut g = ConvGeom::new(&self.params, &[s[0], s[3], s[1], s[2]], w.shape())?;
            let nhwc_ok = match self.algo {
                ConvAlgo::NhwcDepthwise => depthwise_nhwc::applies(&g),
                _ => conv_nhwc::applies(&g),
            };
            if !nhwc_ok {
                return Err(Error::shape(format!(
                    "NHWC Conv: input {s:?} and weights {:?} do not fit {}",
                    w.shape(),
                    self.name
                )));
            }
            g.out_shape = vec![g.n, g.oh, g.ow, g.m];
            g
        } else {
            ConvGeom::new(&self.params, x.shape(), w.shape())?
        };
        let x_std = x.as_standard_layout();
        let w_std = w.as_standard_layout();
        let xd = x_std
            .as_slice()
            .ok_or_else(|| Error::shape("Conv: input not contiguous"))?;
        let wd = w_std
            .as_slice()
            .ok_or_else(|| Error::shape("Conv: weights not contiguous"))?;
        let bias_std = bias.map(|b| b.as_standard_layout());
        let bd = match &bias_std {
            Some(b) if b.len() != geom.m => {
                return Err(Error::shape(format!(
                    "Conv: bias {:?} for {} channels",
                    b.shape(),
                    geom.m
                )));
            }
            Some(b) => b.as_slice(),
            None => None,
        };
        let z_std = match residual {
            Some(z) if z.shape() != geom.out_shape.as_slice() => {
                let zb = z.broadcast(IxDyn(&geom.out_shape)).ok_or_else(|| {
                    Error::shape(format!(
                        "FusedConv: residual {:?} does not broadcast to the output {:?}",
                        z.shape(),
                        geom.out_shape
                    ))
                })?;
                Some(CowArray::from(zb.as_standard_layout().into_owned()))
            }
            // A residual of the output's shape is read in place (no copy when contiguous).
            Some(z) => Some(z.as_standard_layout()),
            None => None,
        };
        let zd = z_std.as_ref().and_then(|z| z.as_slice());
        let total = geom.n * geom.m * geom.positions();
        let packed = match self.filters.get(w) {
            Some(f) if filters_match(&geom, &f) => Some(f),
            _ => pack_for(self.algo, &geom, wd).map(Arc::new),
        };
        let mut out = ctx.alloc_f32(total);
        if total > 0 {
            let stage = OutputStage {
                bias: bd,
                residual: zd,
                act: self.act,
            };
            match self.algo {
                ConvAlgo::Gemm => conv_gemm(&geom, xd, wd, &stage, &mut out, ctx),
                ConvAlgo::Tiled(cols) => conv_tiled(&geom, xd, wd, &stage, cols, &mut out),
                ConvAlgo::Direct => conv_direct(&geom, xd, wd, &stage, &mut out),
                ConvAlgo::Packed(cols) => match packed.as_deref() {
                    Some(Filters::Nchw(pw)) => conv_packed(&geom, xd, pw, &stage, cols, &mut out),
                    _ => conv_tiled(&geom, xd, wd, &stage, cols, &mut out),
                },
                ConvAlgo::NhwcGemm(blk) => match packed.as_deref() {
                    Some(Filters::Nhwc(pb)) => {
                        conv_nhwc::conv_nhwc(&geom, xd, pb, &stage, None, blk, &mut out)
                    }
                    _ => return Err(Error::shape("NHWC Conv: filters not packed")),
                },
                ConvAlgo::NhwcDepthwise => match packed.as_deref() {
                    Some(Filters::Depthwise(wp)) => {
                        depthwise_nhwc::depthwise_nhwc(&geom, xd, wp, &stage, &mut out)
                    }
                    _ => return Err(Error::shape("NHWC Conv: filters not packed")),
                },
                ConvAlgo::DirectSmall => match packed.as_deref() {
                    Some(Filters::Small(wp)) if conv_small::applies(&geom) => {
                        conv_small::conv_small(&geom, xd, wp, &stage, &mut out)
                    }
                    _ => conv_tiled(&geom, xd, wd, &stage, 256, &mut out),
                },
            }
        }
        ArrayD::from_shape_vec(IxDyn(&geom.out_shape), out).map_err(|e| Error::shape(e.to_string()))
    }
}

/// What a convolution adds after the products: bias per output channel, residual (same
/// shape as the output), activation.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage<'a> {
    /// Bias, one per output channel.
    pub bias: Option<&'a [f32]>,
    /// Residual, laid out like the output.
    pub residual: Option<&'a [f32]>,
    /// Activation.
    pub act: Activation,
}

impl OutputStage<'_> {
    /// Finish `line`: positions `start..start + line.len()` of output plane `plane`
    /// (image * m + channel) of a layer with `channels` output channels and `positions`
    /// positions per plane.
    #[inline]
    pub fn finish(
        &self,
        line: &mut [f32],
        plane: usize,
        channels: usize,
        positions: usize,
        start: usize,
    ) {
        if let Some(b) = self.bias {
            let v = b[plane % channels];
            line.iter_mut().for_each(|x| *x += v);
        }
        if let Some(z) = self.residual {
            let off = plane * positions + start;
            let len = line.len();
            line.iter_mut()
                .zip(&z[off..off + len])
                .for_each(|(x, v)| *x += v);
        }
        self.act.apply_slice(line);
    }

    /// True when nothing is added or applied.
    pub fn is_noop(&self) -> bool {
        self.bias.is_none() && self.residual.is_none() && self.act.is_identity()
    }
}

impl Tactic for ConvTactic {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f32_of = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(Some(a)),
            None | Some(None) => Some(None),
            _ => None,
        };
        let max_inputs = if self.fused { 4 } else { 3 };
        if let (Some(Some(x)), Some(Some(w)), Some(b), Some(z)) =
            (f32_of(0), f32_of(1), f32_of(2), f32_of(3))
            && inputs.len() <= max_inputs
            && (x.ndim() == 3 || x.ndim() == 4)
        {
            return Ok(vec![Value::Tensor(Tensor::F32(
                self.compute(x, w, b, z, ctx)?,
            ))]);
        }
        self.op.eval_values(inputs, &ctx.eval)
    }

    fn prepare(&self, constants: &[Option<&Value>]) {
        let packed = match constants.get(1) {
            Some(Some(Value::Tensor(Tensor::F32(w)))) if w.is_standard_layout() => {
                match self.algo {
                    ConvAlgo::Packed(_) => {
                        pack_constant_filters(&self.params, w).map(|p| (w, Filters::Nchw(p)))
                    }
                    ConvAlgo::NhwcGemm(_) | ConvAlgo::NhwcDepthwise | ConvAlgo::DirectSmall => {
                        nhwc_geom_of_weights(&self.params, w.shape())
                            .and_then(|g| pack_for(self.algo, &g, w.as_slice()?))
                            .map(|p| (w, p))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        self.filters.set(packed);
    }
}

/// The filters `w` packed per group, when `params` and the weight shape make sense.
fn pack_constant_filters(params: &ConvParams, w: &ArrayD<f32>) -> Option<Vec<PackedA>> {
    let ws = w.shape();
    if !(ws.len() == 3 || ws.len() == 4) {
        return None;
    }
    let g = usize::try_from(params.group).ok()?;
    let m = ws[0];
    if g == 0 || m % g != 0 || m == 0 {
        return None;
    }
    let kc: usize = ws[1..].iter().product();
    let mg = m / g;
    let wd = w.as_slice()?;
    Some(
        (0..g)
            .map(|grp| PackedA::pack(mg, kc, &wd[grp * mg * kc..(grp + 1) * mg * kc], kc, 1))
            .collect(),
    )
}
