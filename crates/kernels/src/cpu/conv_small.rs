//! Dense NCHW convolution with few input channels (`direct-small`): the first layers of
//! image networks and small CNNs (`C <= 16`, stride 1, no dilation), where an im2col block
//! costs about as much as the products. Output rows are computed directly in registers from a
//! zero-bordered copy of the few input rows they read: a tile is `MC` output channels x
//! `NV * 16` output columns (16 accumulators); for each `(ci, ky, kx)` it loads `NV` input
//! vectors and broadcasts `MC` weights. Filters are packed so those `MC` weights are
//! consecutive. Bias, residual and Relu/Clip are applied in registers before the single store;
//! other activations run over each finished row while it is in cache.

use super::activation::Activation;
use super::conv::{ConvGeom, OutputStage};
use super::conv_algos::OutPtr;
use rayon::prelude::*;

/// Input channels at most (beyond them the GEMM kernels win).
pub(crate) const MAX_C: usize = 16;
/// Output channels of one weight block (the widest tile).
const WB: usize = 16;
/// Output columns of one vector.
const LANES: usize = 16;
/// Columns the padded rows are rounded to (the widest tile reads that far).
const COL_ROUND: usize = 2 * LANES;

/// True when [`conv_small`] handles the geometry.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    g.g == 1
        && g.c > 0
        && g.c <= MAX_C
        && g.m > 0
        && g.sh == 1
        && g.sw == 1
        && g.dh == 1
        && g.dw == 1
        && g.oh > 0
        && g.ow > 0
}

/// The filters `w` (`[M, C, kh, kw]`) as blocks of [`WB`] output channels, each `[K][WB]`
/// with `K` in `(ci, ky, kx)` order (zeros past `M`).
pub(crate) fn pack_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let k = g.c * g.kh * g.kw;
    let blocks = g.m.div_ceil(WB);
    let mut p = vec![0f32; blocks * k * WB];
    for oc in 0..g.m {
        let (b, j) = (oc / WB, oc % WB);
        for (kk, &v) in w[oc * k..(oc + 1) * k].iter().enumerate() {
            p[(b * k + kk) * WB + j] = v;
        }
    }
    p
}

/// True when packed filters fit this geometry.
pub(crate) fn filters_fit(g: &ConvGeom, wp: &[f32]) -> bool {
    wp.len() == g.m.div_ceil(WB) * g.c * g.kh * g.kw * WB
}

/// The convolution with its output stage: `x` NCHW `[n, c, ih, iw]`, `wp` from
/// [`pack_weights`], output NCHW `[n, m, oh, ow]` (every element written).
pub(crate) fn conv_small(
    g: &ConvGeom,
    x: &[f32],
    wp: &[f32],
    stage: &OutputStage<'_>,
    out: &mut [f32],
) {
    assert!(applies(g) && filters_fit(g, wp));
    assert!(x.len() >= g.n * g.c * g.ih * g.iw && out.len() >= g.n * g.m * g.oh * g.ow);
    // Rows per task: enough tasks for every worker, whole images when there are many.
    let want = 4 * rayon::current_num_threads();
    let per_img = want.div_ceil(g.n).clamp(1, g.oh);
    let band = g.oh.div_ceil(per_img);
    let bands = g.oh.div_ceil(band);
    // Padded row: left pad, the input row, zeros up to what the widest tile reads.
    let ws = (g.pw + g.iw).max(g.ow.div_ceil(COL_ROUND) * COL_ROUND + g.kw - 1);
    let y = OutPtr(out.as_mut_ptr());
    (0..g.n * bands)
        .into_par_iter()
        .for_each_init(Vec::new, |buf: &mut Vec<f32>, t| {
            let (img, b) = (t / bands, t % bands);
            let y0 = b * band;
            let y1 = (y0 + band).min(g.oh);
            // SAFETY: this task writes output rows y0..y1 of image img only (all channels);
            // tasks differ in (img, band).
            unsafe { run_band(g, x, wp, stage, img, (y0, y1), ws, buf, y) };
        });
}

/// Output rows `y0..y1` of image `img`, all channels.
///
/// # Safety
/// `y` is the `[n, m, oh, ow]` output; no other task touches these rows during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn run_band(
    g: &ConvGeom,
    x: &[f32],
    wp: &[f32],
    stage: &OutputStage<'_>,
    img: usize,
    (y0, y1): (usize, usize),
    ws: usize,
    buf: &mut Vec<f32>,
    y: OutPtr,
) {
    // The input rows the band reads, zero-bordered: [c][rows][ws].
    let rows = y1 - y0 + g.kh - 1;
    buf.clear();
    buf.resize(g.c * rows * ws, 0.0);
    for ci in 0..g.c {
        for r in 0..rows {
            let iy = (y0 + r) as isize - g.ph as isize;
            if iy < 0 || iy >= g.ih as isize {
                continue;
            }
            let src = ((img * g.c + ci) * g.ih + iy as usize) * g.iw;
            let dst = (ci * rows + r) * ws + g.pw;
            buf[dst..dst + g.iw].copy_from_slice(&x[src..src + g.iw]);
        }
    }
    let k = g.c * g.kh * g.kw;
    let p = g.oh * g.ow;
    // Relu and Clip run in registers with the bias and residual; others over each row.
    let (clamp, rest) = match stage.act {
        Activation::Relu => (Some((0.0, f32::INFINITY)), None),
        Activation::Clip(lo, hi) => (Some((lo, hi)), None),
        a if a.is_identity() => (None, None),
        a => (None, Some(a)),
    };
    let wide = g.ow > LANES;
    let mc = if wide { WB / 2 } else { WB };
    let cols = if wide { 2 * LANES } else { LANES };
    for oy in y0..y1 {
        for oc0 in (0..g.m).step_by(mc) {
            let wblk = &wp[(oc0 / WB) * k * WB + oc0 % WB..];
            for ox0 in (0..g.ow).step_by(cols) {
                let off = (img * g.m + oc0) * p + oy * g.ow + ox0;
                let t = Tile {
                    src: buf[(oy - y0) * ws + ox0..].as_ptr(),
                    ws,
                    plane: rows * ws,
                    c: g.c,
                    kh: g.kh,
                    kw: g.kw,
                    w: wblk.as_ptr(),
                    // SAFETY: channel oc0, row oy, column ox0 of image img: inside the output.
                    out: unsafe { y.get().add(off) },
                    ldo: p,
                    chans: mc.min(g.m - oc0),
                    cols: cols.min(g.ow - ox0),
                    bias: stage.bias.map(|b| b[oc0..].as_ptr()),
                    // The residual is laid out like the output.
                    z: stage.residual.map(|z| z[off..].as_ptr()),
                    clamp,
                };
                // SAFETY: the tile reads c planes of kh rows of ws values from src (inside
                // buf: rows - kh + 1 > oy - y0, and ox0 + cols + kw - 1 <= ws), K rows of the
                // weight block, and writes chans x cols values this task owns.
                unsafe { run_tile(&t, wide) };
            }
        }
        if let Some(act) = rest {
            for oc in 0..g.m {
                let plane = img * g.m + oc;
                // SAFETY: row oy of channel oc, written above by this task only.
                let line = unsafe {
                    std::slice::from_raw_parts_mut(y.get().add(plane * p + oy * g.ow), g.ow)
                };
                act.apply_slice(line);
            }
        }
    }
}

/// One tile: `chans` output channels x `cols` output columns of one output row.
struct Tile {
    /// Row 0, column 0 of channel 0 of the padded input the tile reads.
    src: *const f32,
    /// Stride of padded rows.
    ws: usize,
    /// Stride of padded channels.
    plane: usize,
    c: usize,
    kh: usize,
    kw: usize,
    /// The weights of the tile's first channel at `k = 0`; `k` advances by [`WB`].
    w: *const f32,
    out: *mut f32,
    /// Stride of output channels.
    ldo: usize,
    chans: usize,
    cols: usize,
    /// The bias of the tile's first channel (`chans` values).
    bias: Option<*const f32>,
    /// The residual at the tile's first output (laid out like the output).
    z: Option<*const f32>,
    /// Bounds applied last (Relu, Clip).
    clamp: Option<(f32, f32)>,
}

/// Run a tile on the best kernel here.
///
/// # Safety
/// The [`Tile`] pointers cover what it reads and writes (see [`run_band`]).
unsafe fn run_tile(t: &Tile, wide: bool) {
    #[cfg(target_arch = "x86_64")]
    if super::packed::has_avx512() {
        // SAFETY: AVX-512F available (checked); forwarded guarantees.
        unsafe {
            if wide {
                tile_avx512::<8, 2>(t);
            } else {
                tile_avx512::<16, 1>(t);
            }
        }
        return;
    }
    let _ = wide;
    // SAFETY: forwarded guarantees.
    unsafe { tile_portable(t) }
}

/// The portable tile (also the reference of the tests).
///
/// # Safety
/// As [`run_tile`].
unsafe fn tile_portable(t: &Tile) {
    let mut acc = [[0f32; 2 * LANES]; WB];
    let mut k = 0;
    for ci in 0..t.c {
        for ky in 0..t.kh {
            for kx in 0..t.kw {
                // SAFETY: the tile's input row (cols values from kx) and weight row k.
                unsafe {
                    let row = std::slice::from_raw_parts(
                        t.src.add(ci * t.plane + ky * t.ws + kx),
                        t.cols,
                    );
                    let wk = std::slice::from_raw_parts(t.w.add(k * WB), t.chans);
                    for (a, &wv) in acc.iter_mut().zip(wk) {
                        for (s, &xv) in a.iter_mut().zip(row) {
                            *s += wv * xv;
                        }
                    }
                }
                k += 1;
            }
        }
    }
    for (j, a) in acc.iter().enumerate().take(t.chans) {
        // SAFETY: channel j < chans, cols values of the output row (and of the residual);
        // bias value j.
        unsafe {
            let o = std::slice::from_raw_parts_mut(t.out.add(j * t.ldo), t.cols);
            let b = t.bias.map_or(0.0, |b| *b.add(j));
            for (i, (d, &v)) in o.iter_mut().zip(&a[..t.cols]).enumerate() {
                let mut v = v + b;
                if let Some(z) = t.z {
                    v += *z.add(j * t.ldo + i);
                }
                if let Some((lo, hi)) = t.clamp {
                    v = v.max(lo).min(hi);
                }
                *d = v;
            }
        }
    }
}

/// The AVX-512 tile: `MC` channels x `NV` vectors of 16 columns.
///
/// # Safety
/// As [`run_tile`]; AVX-512F available; `MC * NV` accumulators, `chans <= MC`,
/// `cols <= NV * 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const MC: usize, const NV: usize>(t: &Tile) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); NV]; MC];
    let mut wp = t.w;
    for ci in 0..t.c {
        for ky in 0..t.kh {
            // SAFETY: row ky of input channel ci (inside the padded band).
            let row = unsafe { t.src.add(ci * t.plane + ky * t.ws) };
            for kx in 0..t.kw {
                // SAFETY: NV vectors from column kx (the padded row holds them: see
                // run_band) and MC weights of row k (a block holds WB >= MC per row).
                unsafe {
                    let xv: [__m512; NV] =
                        std::array::from_fn(|v| _mm512_loadu_ps(row.add(kx + v * LANES)));
                    for (j, a) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wp.add(j));
                        for v in 0..NV {
                            a[v] = _mm512_fmadd_ps(wv, xv[v], a[v]);
                        }
                    }
                    wp = wp.add(WB);
                }
            }
        }
    }
    let masks: [__mmask16; NV] = std::array::from_fn(|v| {
        let n = t.cols.saturating_sub(v * LANES).min(LANES);
        if n == LANES { 0xffff } else { (1u16 << n) - 1 }
    });
    let (lo, hi) = t.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
    for (j, a) in acc.iter().enumerate() {
        if j >= t.chans {
            break;
        }
        // SAFETY: bias value j < chans.
        let b = _mm512_set1_ps(t.bias.map_or(0.0, |b| unsafe { *b.add(j) }));
        for v in 0..NV {
            let at = j * t.ldo + v * LANES;
            let mut r = _mm512_add_ps(a[v], b);
            if let Some(z) = t.z {
                // SAFETY: the masked columns < cols of the residual row (laid out like the
                // output).
                r = _mm512_add_ps(r, unsafe { _mm512_maskz_loadu_ps(masks[v], z.add(at)) });
            }
            if t.clamp.is_some() {
                r = _mm512_min_ps(_mm512_max_ps(r, vlo), vhi);
            }
            // SAFETY: channel j < chans, the masked columns < cols of the output row.
            unsafe { _mm512_mask_storeu_ps(t.out.add(at), masks[v], r) };
        }
    }
}

#[cfg(test)]
#[path = "conv_small_tests.rs"]
mod tests;
