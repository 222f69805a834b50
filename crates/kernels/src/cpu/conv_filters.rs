//! The filters of a conv tactic in the form its algorithm reads them, packed once per
//! constant weight tensor (and kept by the tactic's pack cache).

use super::conv::{ConvAlgo, ConvGeom, ConvParams};
use super::conv_packed::{filters_fit, pack_filters};
use super::packed::{PackedA, PackedB};
use super::{conv_nhwc, conv_small, depthwise_nhwc};

/// Filters in the form an algorithm reads them, packed once per constant weight tensor.
#[derive(Debug)]
pub(crate) enum Filters {
    /// Per group, left-operand panels (`packed-<cols>`).
    Nchw(Vec<PackedA>),
    /// Right-operand panels of `(ky, kx, ci) x M` (`nhwc-igemm`).
    Nhwc(PackedB),
    /// `[kh * kw][C]` (`nhwc-depthwise`).
    Depthwise(Vec<f32>),
    /// Blocks of 16 output channels, `[K][16]` each (`direct-small`).
    Small(Vec<f32>),
}

/// The filters packed for `algo` (`None` for algorithms that read them as they are).
pub(crate) fn pack_for(algo: ConvAlgo, g: &ConvGeom, w: &[f32]) -> Option<Filters> {
    match algo {
        ConvAlgo::Packed(_) => Some(Filters::Nchw(pack_filters(g, w))),
        ConvAlgo::NhwcGemm(_) => Some(Filters::Nhwc(conv_nhwc::pack_filters(g, w))),
        ConvAlgo::NhwcDepthwise => Some(Filters::Depthwise(depthwise_nhwc::pack_weights(g, w))),
        ConvAlgo::DirectSmall if conv_small::applies(g) => {
            Some(Filters::Small(conv_small::pack_weights(g, w)))
        }
        _ => None,
    }
}

/// True when packed filters fit this geometry.
pub(crate) fn filters_match(g: &ConvGeom, f: &Filters) -> bool {
    match f {
        Filters::Nchw(pw) => filters_fit(g, pw),
        Filters::Nhwc(pb) => conv_nhwc::filters_fit(g, pb),
        Filters::Depthwise(wp) => wp.len() == g.kh * g.kw * g.c && g.m == g.c,
        Filters::Small(wp) => conv_small::filters_fit(g, wp),
    }
}

/// A geometry that packing NHWC filters needs (channels and kernel size come from the
/// weights alone), before any input is seen.
pub(crate) fn nhwc_geom_of_weights(params: &ConvParams, ws: &[usize]) -> Option<ConvGeom> {
    if ws.len() != 4 {
        return None;
    }
    let g = usize::try_from(params.group).ok()?;
    let c = ws[1] * g;
    let mut p = params.clone();
    p.pads = Vec::new();
    p.auto_pad = "NOTSET".into();
    p.strides = Vec::new();
    p.dilations = Vec::new();
    ConvGeom::new(&p, &[1, c, ws[2], ws[3]], ws).ok()
}
