//! Depthwise convolution on channels-last (NHWC) data: one input and one output channel per
//! group, any kernel size, stride, dilation and padding. Weights are repacked tap-major
//! (`[kh * kw][c]`) so every tap is a contiguous run of channels, like the input pixels.
//!
//! Work is split over (image, output row) blocks. With AVX-512 each output row is walked in
//! column spans, all channels (16 per vector, masked tail) for each span, so the input is read
//! pixel after pixel. Interior 3x3 spans (stride 1 or 2) hold 8 columns: every input pixel is
//! loaded once and feeds each (column, tap) pair that reads it; other kernels take interior
//! columns 4 at a time; border columns skip their out-of-bounds taps. Bias, residual and
//! Relu/Clip are applied in registers before the single store; other activations run over the
//! finished row. Elsewhere a portable loop over channel runs (which vectorizes) does the same.

use super::activation::Activation;
use super::conv::{ConvGeom, OutputStage};
use rayon::prelude::*;

/// True when depthwise_nhwc handles the geometry: one input channel per group and one output
/// channel per group (g.g == g.c == g.m, g.cg == 1, g.mg == 1), any kernel size/stride/dilation/padding.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    g.cg == 1 && g.mg == 1 && g.g == g.c && g.c == g.m
}

/// Weights `w` in ONNX order [C, 1, kh, kw] repacked as [kh * kw][C] (tap-major, channel contiguous).
pub(crate) fn pack_weights(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let mut p = vec![0.0; taps * g.c];
    for (ch, wc) in w.chunks_exact(taps).take(g.c).enumerate() {
        for (t, &v) in wc.iter().enumerate() {
            p[t * g.c + ch] = v;
        }
    }
    p
}

/// Output values per parallel task at most (several rows when rows are small).
const TASK_VALUES: usize = 16 * 1024;

/// Depthwise conv. `x`: input NHWC [n, ih, iw, c] contiguous; `wp`: from pack_weights;
/// `stage.bias`: per channel (len c) or None; `stage.residual`: NHWC laid out exactly like the
/// output [n, oh, ow, c] or None; `stage.act`: activation applied last (after bias + residual);
/// `out`: NHWC [n, oh, ow, c], every element written. Parallel over (image, output row) blocks.
pub(crate) fn depthwise_nhwc(
    g: &ConvGeom,
    x: &[f32],
    wp: &[f32],
    stage: &OutputStage<'_>,
    out: &mut [f32],
) {
    run(g, x, wp, stage, out, fast_path());
}

/// Whether the AVX-512 rows run here.
fn fast_path() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::packed::has_avx512()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The row geometry shared by every row of one call.
struct Plan<'a> {
    /// The convolution.
    g: &'a ConvGeom,
    /// Output columns `[inner.0, inner.1)` read all `kw` taps in bounds.
    inner: (usize, usize),
    /// Lower and upper bound applied in registers (Relu, Clip); `None`: no clamp.
    clamp: Option<(f32, f32)>,
    /// The activation still to run over each finished row (identity when done in registers).
    post: Activation,
}

impl<'a> Plan<'a> {
    /// The plan of `g` with activation `act`.
    fn new(g: &'a ConvGeom, act: Activation) -> Plan<'a> {
        let full = |o: &usize| tap_range(*o, g.sw, g.dw, g.pw, g.kw, g.iw) == (0, g.kw);
        let a = (0..g.ow).find(full).unwrap_or(g.ow);
        let b = a + (a..g.ow).take_while(full).count();
        let (clamp, post) = match act {
            Activation::Identity => (None, Activation::Identity),
            Activation::Relu => (Some((0.0, f32::INFINITY)), Activation::Identity),
            Activation::Clip(lo, hi) => (Some((lo, hi)), Activation::Identity),
            other => (None, other),
        };
        Plan {
            g,
            inner: (a, b),
            clamp,
            post,
        }
    }
}

/// The taps `[lo, hi)` of a kernel of size `k` (stride `s`, dilation `d`, leading pad `p`)
/// whose input index for output `o` lies in `[0, n)`.
fn tap_range(o: usize, s: usize, d: usize, p: usize, k: usize, n: usize) -> (usize, usize) {
    let base = o * s;
    let lo = if base >= p { 0 } else { (p - base).div_ceil(d) }.min(k);
    let hi = if base >= n + p {
        0
    } else {
        (n + p - base).div_ceil(d)
    };
    (lo, hi.clamp(lo, k))
}

/// The convolution, on the AVX-512 rows when `fast` (which must then be available).
fn run(g: &ConvGeom, x: &[f32], wp: &[f32], stage: &OutputStage<'_>, out: &mut [f32], fast: bool) {
    let (c, row) = (g.c, g.ow * g.c);
    let rows = g.n * g.oh;
    let fits = applies(g)
        && x.len() >= g.n * g.ih * g.iw * c
        && wp.len() >= g.kh * g.kw * c
        && out.len() == rows * row
        && stage.bias.is_none_or(|b| b.len() >= c)
        && stage.residual.is_none_or(|z| z.len() >= rows * row);
    assert!(fits, "depthwise_nhwc: buffers do not fit {g:?}");
    if out.is_empty() {
        return;
    }
    let plan = Plan::new(g, stage.act);
    // Enough tasks to balance the pool (small late layers have only 7 or 14 rows).
    let balanced = rows.div_ceil(4 * rayon::current_num_threads());
    let per_task = TASK_VALUES.div_ceil(row).min(balanced).max(1);
    let image = g.ih * g.iw * c;
    out.par_chunks_mut(per_task * row)
        .enumerate()
        .for_each(|(ti, block)| {
            for (k, dst) in block.chunks_mut(row).enumerate() {
                let r = ti * per_task + k;
                let (img, oy) = (r / g.oh, r % g.oh);
                let xi = &x[img * image..(img + 1) * image];
                let res = stage.residual.map(|z| &z[r * row..(r + 1) * row]);
                #[cfg(target_arch = "x86_64")]
                if fast {
                    // SAFETY: `fast` is only set when AVX-512F is available; slice lengths
                    // were checked above (input image, weights, bias, residual row, row).
                    unsafe {
                        if g.kh == 3 && g.kw == 3 {
                            avx512::row::<3, 3>(&plan, xi, wp, stage.bias, res, oy, dst)
                        } else {
                            avx512::row::<0, 0>(&plan, xi, wp, stage.bias, res, oy, dst)
                        }
                    }
                    plan.post.apply_slice(dst);
                    continue;
                }
                let _ = fast;
                row_portable(&plan, xi, wp, stage.bias, res, oy, dst);
                stage.act.apply_slice(dst);
            }
        });
}

/// One output row `oy` of image `x` (NHWC `[ih, iw, c]`) into `dst` (`[ow, c]`), bias and
/// residual added, activation not applied.
fn row_portable(
    pl: &Plan<'_>,
    x: &[f32],
    wp: &[f32],
    bias: Option<&[f32]>,
    res: Option<&[f32]>,
    oy: usize,
    dst: &mut [f32],
) {
    let g = pl.g;
    let c = g.c;
    let (ky0, ky1) = tap_range(oy, g.sh, g.dh, g.ph, g.kh, g.ih);
    for (ox, acc) in dst.chunks_exact_mut(c).enumerate() {
        match bias {
            Some(b) => acc.copy_from_slice(&b[..c]),
            None => acc.fill(0.0),
        }
        let (kx0, kx1) = tap_range(ox, g.sw, g.dw, g.pw, g.kw, g.iw);
        for ky in ky0..ky1 {
            let iy = oy * g.sh + ky * g.dh - g.ph;
            for kx in kx0..kx1 {
                let ix = ox * g.sw + kx * g.dw - g.pw;
                let xs = &x[(iy * g.iw + ix) * c..][..c];
                let ws = &wp[(ky * g.kw + kx) * c..][..c];
                for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                    *a += xv * wv;
                }
            }
        }
    }
    if let Some(z) = res {
        dst.iter_mut().zip(z).for_each(|(a, &v)| *a += v);
    }
}

/// The AVX-512 rows.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Plan, tap_range};
    use std::arch::x86_64::*;

    /// Interior output columns computed together (independent accumulators per weight load).
    const COLS: usize = 4;

    /// Pointers and strides of one row, shared by its column groups.
    struct Ctx {
        /// Input image (NHWC).
        x: *const f32,
        /// Packed weights.
        w: *const f32,
        /// Output row.
        out: *mut f32,
        /// Residual row, or null.
        res: *const f32,
        /// Bias, or null.
        bias: *const f32,
        /// Valid kernel rows `[ky0, ky1)` of this output row.
        ky: (usize, usize),
        /// Input row of kernel row 0 (may be negative: only valid rows are read).
        iy0: isize,
    }

    /// One output row (see [`super::row_portable`]); Relu/Clip applied when the plan says so.
    /// `KH`/`KW` fix the kernel size at compile time (0: take it from the geometry).
    ///
    /// # Safety
    /// AVX-512F is available; `x` holds an NHWC image, `wp` the packed weights, `bias` at
    /// least `c` values, `res` and `dst` exactly one output row (`ow * c`).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row<const KH: usize, const KW: usize>(
        pl: &Plan<'_>,
        x: &[f32],
        wp: &[f32],
        bias: Option<&[f32]>,
        res: Option<&[f32]>,
        oy: usize,
        dst: &mut [f32],
    ) {
        let g = pl.g;
        let kh = if KH == 0 { g.kh } else { KH };
        let ctx = Ctx {
            x: x.as_ptr(),
            w: wp.as_ptr(),
            out: dst.as_mut_ptr(),
            res: res.map_or(std::ptr::null(), |r| r.as_ptr()),
            bias: bias.map_or(std::ptr::null(), |b| b.as_ptr()),
            ky: tap_range(oy, g.sh, g.dh, g.ph, kh, g.ih),
            iy0: (oy * g.sh) as isize - g.ph as isize,
        };
        let (a, b) = pl.inner;
        let fast3 = KH == 3 && KW == 3 && g.dw == 1 && (g.sw == 1 || g.sw == 2);
        // Column spans in the outer loop and all channels inside, so the input is read
        // pixel after pixel (a whole row per channel block would stride through memory).
        let mut ox = 0;
        while ox < g.ow {
            let inner = ox >= a && ox < b;
            let n = match inner {
                true if fast3 && ox + 8 <= b => 8,
                true if ox + COLS <= b => COLS,
                _ => 1,
            };
            let kx = tap_range(ox, g.sw, g.dw, g.pw, g.kw, g.iw);
            for cb in (0..g.c).step_by(16) {
                let left = (g.c - cb).min(16);
                let m = ((1u32 << left) - 1) as __mmask16;
                // SAFETY: the caller's guarantees; `kx` keeps every tap of column ox in
                // bounds, and spans of more than one column are interior.
                unsafe {
                    match (inner && fast3, g.sw, n) {
                        (true, 1, 8) => group3::<1, 8>(pl, &ctx, ox, cb, m),
                        (true, 1, COLS) => group3::<1, COLS>(pl, &ctx, ox, cb, m),
                        (true, 1, _) => group3::<1, 1>(pl, &ctx, ox, cb, m),
                        (true, _, 8) => group3::<2, 8>(pl, &ctx, ox, cb, m),
                        (true, _, COLS) => group3::<2, COLS>(pl, &ctx, ox, cb, m),
                        (true, _, _) => group3::<2, 1>(pl, &ctx, ox, cb, m),
                        (false, _, COLS) => cols::<KH, KW, COLS>(pl, &ctx, ox, kx, cb, m),
                        (false, _, _) => cols::<KH, KW, 1>(pl, &ctx, ox, kx, cb, m),
                    }
                }
            }
            ox += n;
        }
    }

    /// `N` interior columns from `ox` of a 3x3 kernel with stride `S`, dilation 1: each input
    /// pixel is loaded once and feeds every (column, tap) pair that reads it.
    ///
    /// # Safety
    /// Those of [`row`], and columns `ox..ox + N` interior.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn group3<const S: usize, const N: usize>(
        pl: &Plan<'_>,
        cx: &Ctx,
        ox: usize,
        cb: usize,
        m: __mmask16,
    ) {
        let g = pl.g;
        let c = g.c;
        // SAFETY: masked accesses to channels < c of in-bounds pixels (valid kernel rows,
        // interior columns), weight taps and output positions (the caller's guarantees).
        unsafe {
            let mut acc = [init(cx, cb, m); N];
            let col0 = ox * S - g.pw;
            for ky in 0..3 {
                if ky < cx.ky.0 || ky >= cx.ky.1 {
                    continue;
                }
                let iy = (cx.iy0 + (ky * g.dh) as isize) as usize;
                let xrow = cx.x.add((iy * g.iw + col0) * c + cb);
                let wrow = cx.w.add(ky * 3 * c + cb);
                let w = [0, 1, 2].map(|k| _mm512_maskz_loadu_ps(m, wrow.add(k * c)));
                for i in 0..(N - 1) * S + 3 {
                    let xv = _mm512_maskz_loadu_ps(m, xrow.add(i * c));
                    for (j, a) in acc.iter_mut().enumerate() {
                        if i >= j * S && i - j * S < 3 {
                            *a = _mm512_fmadd_ps(xv, w[i - j * S], *a);
                        }
                    }
                }
            }
            finish(pl, cx, ox, cb, m, acc);
        }
    }

    /// The bias of channels `cb..` (mask `m`), or zeros.
    ///
    /// # Safety
    /// AVX-512F; `cx.bias` null or holding the masked channels.
    // Not a target-feature function so that it can be forced inline into the AVX-512
    // callers (an out-of-line call spills the accumulators).
    #[inline(always)]
    unsafe fn init(cx: &Ctx, cb: usize, m: __mmask16) -> __m512 {
        // SAFETY: AVX-512F is available and the bias holds the masked channels (the
        // caller's guarantees).
        unsafe {
            if cx.bias.is_null() {
                _mm512_setzero_ps()
            } else {
                _mm512_maskz_loadu_ps(m, cx.bias.add(cb))
            }
        }
    }

    /// Add the residual, clamp and store the accumulators of columns `ox..ox + N`.
    ///
    /// # Safety
    /// AVX-512F; the masked channels of those columns lie in the output (and residual) row.
    // Not a target-feature function so that it can be forced inline into the AVX-512
    // callers (an out-of-line call spills the accumulators).
    #[inline(always)]
    unsafe fn finish<const N: usize>(
        pl: &Plan<'_>,
        cx: &Ctx,
        ox: usize,
        cb: usize,
        m: __mmask16,
        acc: [__m512; N],
    ) {
        // SAFETY: AVX-512F is available; masked channels of output positions of this row
        // (the caller's guarantees).
        unsafe {
            let clamp = pl
                .clamp
                .map(|(lo, hi)| (_mm512_set1_ps(lo), _mm512_set1_ps(hi)));
            for (j, mut v) in acc.into_iter().enumerate() {
                let off = (ox + j) * pl.g.c + cb;
                if !cx.res.is_null() {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, cx.res.add(off)));
                }
                if let Some((lo, hi)) = clamp {
                    // max(v, lo) returns lo for NaN, as f32::max does.
                    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                }
                _mm512_mask_storeu_ps(cx.out.add(off), m, v);
            }
        }
    }

    /// `N` consecutive output columns from `ox`, channels `cb..` selected by mask `m`, over
    /// kernel columns `kx` (every one in bounds for all `N` columns).
    ///
    /// # Safety
    /// Those of [`row`], and `kx` in bounds for columns `ox..ox + N`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn cols<const KH: usize, const KW: usize, const N: usize>(
        pl: &Plan<'_>,
        cx: &Ctx,
        ox: usize,
        kx: (usize, usize),
        cb: usize,
        m: __mmask16,
    ) {
        let g = pl.g;
        let kw = if KW == 0 { g.kw } else { KW };
        let c = g.c;
        // SAFETY: every access below is masked to channels < c of a pixel, weight tap or
        // output position that lies in bounds (valid taps only; the caller's guarantees).
        unsafe {
            let mut acc = [init(cx, cb, m); N];
            let col0 = (ox * g.sw) as isize - g.pw as isize;
            for ky in cx.ky.0..cx.ky.1 {
                let iy = (cx.iy0 + (ky * g.dh) as isize) as usize;
                let xrow = cx.x.add(iy * g.iw * c + cb);
                let wrow = cx.w.add(ky * kw * c + cb);
                for k in kx.0..kx.1 {
                    let wv = _mm512_maskz_loadu_ps(m, wrow.add(k * c));
                    let ix = (col0 + (k * g.dw) as isize) as usize;
                    let xp = xrow.add(ix * c);
                    for (j, a) in acc.iter_mut().enumerate() {
                        let xv = _mm512_maskz_loadu_ps(m, xp.add(j * g.sw * c));
                        *a = _mm512_fmadd_ps(xv, wv, *a);
                    }
                }
            }
            finish(pl, cx, ox, cb, m, acc);
        }
    }
}

#[cfg(test)]
#[path = "depthwise_nhwc_tests.rs"]
mod tests;
