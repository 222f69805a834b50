//! Dense (group 1) convolution in NHWC as an implicit GEMM (`nhwc-igemm`): output positions
//! are the GEMM rows, output channels the columns (the vector lanes), and the reduction runs
//! over `(ky, kx, ci)`. The filters are packed once into [`PackedB`] panels of [`NR`]
//! channels; the activations are never copied into an im2col matrix: each row of a micro-tile
//! reads its input through a pointer per kernel row (a whole `kw * C` run is contiguous in
//! NHWC; per tap with dilation), over a zero-bordered copy of the input when the conv pads.
//! The reduction is blocked by [`KC_NHWC`] so the filter block stays in L2; bias, residual
//! (NHWC like the output) and Relu/Clip are applied in registers at the last block.

use super::activation::Activation;
use super::conv::{ConvGeom, OutputStage};
use super::conv_algos::OutPtr;
use super::packed::{NR, PackedB};
use rayon::prelude::*;

/// Rows (output positions) of one micro-tile.
pub(crate) const MR_NHWC: usize = 8;
/// Depth of one block of the reduction.
pub(crate) const KC_NHWC: usize = 256;
/// The blocking of one [`conv_nhwc`] call (the tactics time both and keep the faster).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Output positions per task at most (fewer when every worker would not get two tasks).
    pub max_rows: usize,
    /// Bytes of filter panels one pass over a task's tiles reads.
    pub panel_bytes: usize,
}

impl Blocking {
    /// Large tasks and L2-sized filter chunks (`nhwc-igemm`; MatMul's blocking).
    pub const WIDE: Blocking = Blocking {
        max_rows: 256,
        panel_bytes: 256 * 1024,
    };
    /// Small tasks and L1/L2-sized filter chunks (`nhwc-igemm-small`).
    pub const SMALL: Blocking = Blocking {
        max_rows: 64,
        panel_bytes: 64 * 1024,
    };
}

/// Output positions per task at least (a multiple of [`MR_NHWC`]): more rows per task read
/// the filters fewer times (each task streams all of its panels).
const MIN_ROWS_PER_TASK: usize = 64;

/// True when [`conv_nhwc`] handles the geometry (one group).
pub(crate) fn applies(g: &ConvGeom) -> bool {
    g.g == 1 && g.c > 0 && g.m > 0
}

/// The filters `w` (`[M, C, kh, kw]`) as the `K x M` right operand, `K` in `(ky, kx, ci)`
/// order, packed in panels of [`NR`] output channels.
pub(crate) fn pack_filters(g: &ConvGeom, w: &[f32]) -> PackedB {
    let (taps, c, m) = (g.kh * g.kw, g.c, g.m);
    let k = taps * c;
    let mut t = vec![0f32; k * m];
    for oc in 0..m {
        for ci in 0..c {
            for tap in 0..taps {
                t[(tap * c + ci) * m + oc] = w[(oc * c + ci) * taps + tap];
            }
        }
    }
    PackedB::pack(k, m, &t, m, 1)
}

/// True when packed filters fit this geometry.
pub(crate) fn filters_fit(g: &ConvGeom, pb: &PackedB) -> bool {
    pb.k == g.kh * g.kw * g.c && pb.n == g.m
}

/// The input as the kernel reads it: `x` itself, or a zero-bordered copy.
struct Source<'a> {
    data: std::borrow::Cow<'a, [f32]>,
    /// Rows and columns of each (padded) image.
    h: usize,
    w: usize,
}

/// The input with the leading pads materialized (and trailing room for every tap read).
fn padded<'a>(g: &ConvGeom, x: &'a [f32]) -> Source<'a> {
    let need_h = (g.oh.max(1) - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    let need_w = (g.ow.max(1) - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    if g.ph == 0 && g.pw == 0 && need_h <= g.ih && need_w <= g.iw {
        return Source {
            data: std::borrow::Cow::Borrowed(x),
            h: g.ih,
            w: g.iw,
        };
    }
    let h = need_h.max(g.ph + g.ih);
    let w = need_w.max(g.pw + g.iw);
    let c = g.c;
    let mut p = vec![0f32; g.n * h * w * c];
    for img in 0..g.n {
        for y in 0..g.ih {
            let src = &x[((img * g.ih + y) * g.iw) * c..((img * g.ih + y) * g.iw + g.iw) * c];
            let d0 = ((img * h + y + g.ph) * w + g.pw) * c;
            p[d0..d0 + g.iw * c].copy_from_slice(src);
        }
    }
    Source {
        data: std::borrow::Cow::Owned(p),
        h,
        w,
    }
}

/// What runs on each finished output row segment while it is in cache: `(row, first
/// column, values)`, after the output stage.
pub(crate) type PostRow<'a> = dyn Fn(usize, usize, &mut [f32]) + Sync + 'a;

/// The convolution with its output stage: `x` NHWC `[n, ih, iw, c]`, output NHWC
/// `[n, oh, ow, m]`, `stage.residual` laid out like the output; then `post` on every row
/// segment.
pub(crate) fn conv_nhwc(
    g: &ConvGeom,
    x: &[f32],
    pb: &PackedB,
    stage: &OutputStage<'_>,
    post: Option<&PostRow<'_>>,
    blk: Blocking,
    out: &mut [f32],
) {
    let rows = g.n * g.oh * g.ow;
    if rows == 0 || g.m == 0 {
        return;
    }
    let src = padded(g, x);
    // A kernel row of taps is one contiguous run when the columns are not dilated.
    let (segs, seg_len) = if g.dw == 1 {
        (g.kh, g.kw * g.c)
    } else {
        (g.kh * g.kw, g.c)
    };
    let panels = g.m.div_ceil(NR);
    let per_task = rows
        .div_ceil(2 * rayon::current_num_threads())
        .clamp(MIN_ROWS_PER_TASK, blk.max_rows.max(MIN_ROWS_PER_TASK))
        .div_ceil(MR_NHWC)
        * MR_NHWC;
    let blocks = rows.div_ceil(per_task);
    let want = 4 * rayon::current_num_threads();
    let groups = if blocks >= want {
        1
    } else {
        want.div_ceil(blocks).min(panels)
    };
    let per_group = panels.div_ceil(groups);
    let groups = panels.div_ceil(per_group);
    let y = OutPtr(out.as_mut_ptr());
    let geo = Geo {
        g,
        x: &src.data,
        h: src.h,
        w: src.w,
        segs,
        seg_len,
        panel_bytes: blk.panel_bytes,
    };
    (0..blocks * groups).into_par_iter().for_each(|t| {
        let (blk, grp) = (t / groups, t % groups);
        let r0 = blk * per_task;
        let r1 = (r0 + per_task).min(rows);
        let q0 = grp * per_group;
        let q1 = (q0 + per_group).min(panels);
        // SAFETY: this task writes rows r0..r1 and channels q0 * NR..q1 * NR (clipped to m)
        // of the output only; tasks differ in (block, group), so their writes are disjoint.
        unsafe { task(&geo, pb, stage, post, r0, r1, q0, q1, y) };
    });
}

/// What every tile of one call shares.
struct Geo<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    h: usize,
    w: usize,
    segs: usize,
    seg_len: usize,
    panel_bytes: usize,
}

impl Geo<'_> {
    /// `(img, oy, ox)` of output row `r`.
    fn position(&self, r: usize) -> (usize, usize, usize) {
        let g = self.g;
        let (img, rem) = (r / (g.oh * g.ow), r % (g.oh * g.ow));
        (img, rem / g.ow, rem % g.ow)
    }

    /// The position after `p` in row order.
    fn next(&self, (img, oy, ox): (usize, usize, usize)) -> (usize, usize, usize) {
        if ox + 1 < self.g.ow {
            (img, oy, ox + 1)
        } else if oy + 1 < self.g.oh {
            (img, oy + 1, 0)
        } else {
            (img + 1, 0, 0)
        }
    }

    /// Offset of segment 0 of the output position `(img, oy, ox)`.
    fn row_offset(&self, (img, oy, ox): (usize, usize, usize)) -> usize {
        let g = self.g;
        ((img * self.h + oy * g.sh) * self.w + ox * g.sw) * g.c
    }

    /// Offset of segment `s` from segment 0.
    fn seg_offset(&self, s: usize) -> usize {
        let g = self.g;
        let (ky, kx) = if g.dw == 1 {
            (s, 0)
        } else {
            (s / g.kw, s % g.kw)
        };
        (ky * g.dh * self.w + kx * g.dw) * g.c
    }

    /// Start of segment `s` of output row `r` (flattened `img, oy, ox`).
    #[cfg(test)]
    fn seg_ptr(&self, r: usize, s: usize) -> *const f32 {
        let g = self.g;
        let (img, rem) = (r / (g.oh * g.ow), r % (g.oh * g.ow));
        let (oy, ox) = (rem / g.ow, rem % g.ow);
        let (ky, kx) = if g.dw == 1 {
            (s, 0)
        } else {
            (s / g.kw, s % g.kw)
        };
        let iy = oy * g.sh + ky * g.dh;
        let ix = ox * g.sw + kx * g.dw;
        let off = ((img * self.h + iy) * self.w + ix) * g.c;
        debug_assert!(off + self.seg_len <= self.x.len());
        self.x[off..].as_ptr()
    }
}

/// Rows `r0..r1` and column panels `q0..q1` of the output.
///
/// # Safety
/// `y` points to the `[rows, m]` output, whose rows `r0..r1` x panels `q0..q1` no other task
/// touches during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn task(
    geo: &Geo<'_>,
    pb: &PackedB,
    stage: &OutputStage<'_>,
    post: Option<&PostRow<'_>>,
    r0: usize,
    r1: usize,
    q0: usize,
    q1: usize,
    y: OutPtr,
) {
    let (segs, m) = (geo.segs, geo.g.m);
    let k = segs * geo.seg_len;
    let tiles = (r1 - r0).div_ceil(MR_NHWC);
    // Per tile and segment, the MR row pointers (the last row repeated past the end).
    // Row starts (segment 0) walked incrementally, plus a fixed offset per segment: no
    // divisions per row (they would rival the products of small-K layers).
    let seg_off: Vec<usize> = (0..segs).map(|s| geo.seg_offset(s)).collect();
    let mut bases = Vec::with_capacity(r1 - r0);
    let mut pos = geo.position(r0);
    for _ in r0..r1 {
        bases.push(geo.row_offset(pos));
        pos = geo.next(pos);
    }
    let base = geo.x.as_ptr();
    let mut ptrs = vec![[base; MR_NHWC]; tiles * segs];
    for t in 0..tiles {
        for (s, &so) in seg_off.iter().enumerate() {
            for (i, p) in ptrs[t * segs + s].iter_mut().enumerate() {
                let r = (t * MR_NHWC + i).min(r1 - r0 - 1);
                let off = bases[r] + so;
                assert!(off + geo.seg_len <= geo.x.len());
                // SAFETY: asserted: the run of seg_len values at off lies inside the input.
                *p = unsafe { base.add(off) };
            }
        }
    }
    let mut k0 = 0;
    while k0 < k {
        let k1 = (k0 + KC_NHWC).min(k);
        let last = k1 == k;
        // Filter panels in chunks of about `panel_bytes`: each chunk stays in cache while
        // every tile of the task runs through it (and the tile writes a run of its rows).
        let per_panel = (k1 - k0) * NR * 4;
        let chunk = (geo.panel_bytes / per_panel).clamp(1, q1 - q0);
        for c0 in (q0..q1).step_by(chunk) {
            let c1 = (c0 + chunk).min(q1);
            for t in 0..tiles {
                let rt = r0 + t * MR_NHWC;
                let rows = MR_NHWC.min(r1 - rt);
                for q in c0..c1 {
                    let cols = NR.min(m - q * NR);
                    let b = pb.panel(q, k0).as_ptr();
                    let off = rt * m + q * NR;
                    let epi = last.then(|| Epilogue {
                        bias: stage.bias.map(|b| b[q * NR..].as_ptr()),
                        // The residual is laid out like the output: row rt, column q * NR.
                        z: stage.residual.map(|z| z[off..].as_ptr()),
                        act: stage.act,
                    });
                    let tile = Tile {
                        ptrs: &ptrs[t * segs..(t + 1) * segs],
                        seg_len: geo.seg_len,
                        k0,
                        k1,
                        b,
                        // SAFETY: row rt, column q * NR of the output (inside it: rt < rows
                        // and q * NR < m).
                        c: unsafe { y.get().add(off) },
                        ldc: m,
                        rows,
                        cols,
                        accumulate: k0 > 0,
                    };
                    // SAFETY: the pointers address the input runs of these rows (asserted
                    // above), the panel holds (k1 - k0) x NR values from k0, and this task
                    // owns the output block (the caller's guarantee).
                    unsafe { run_tile(&tile, epi.as_ref()) };
                }
                if let Some(post) = post.filter(|_| last) {
                    let (col0, col1) = (c0 * NR, (c1 * NR).min(m));
                    for r in rt..rt + rows {
                        // SAFETY: row r, columns col0..col1 of this task's block, finished
                        // (no other task touches them).
                        let line = unsafe {
                            std::slice::from_raw_parts_mut(y.get().add(r * m + col0), col1 - col0)
                        };
                        post(r, col0, line);
                    }
                }
            }
        }
        k0 = k1;
    }
}

/// One micro-tile: `C[rows x cols] (+)= A[rows, k0..k1] * B[k0..k1, cols]`.
struct Tile<'a> {
    /// Per segment, the start of each row's run.
    ptrs: &'a [[*const f32; MR_NHWC]],
    seg_len: usize,
    k0: usize,
    k1: usize,
    /// The packed panel from depth k0 (`[k1 - k0][NR]`).
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
}

/// The output stage of the last reduction block.
struct Epilogue {
    bias: Option<*const f32>,
    z: Option<*const f32>,
    act: Activation,
}

/// Run one tile on the best kernel of this machine.
///
/// # Safety
/// The [`Tile`] pointers are valid as documented there; bias holds `cols` values; the
/// residual rows (stride `ldc`) hold `cols` values each.
unsafe fn run_tile(t: &Tile<'_>, epi: Option<&Epilogue>) {
    #[cfg(target_arch = "x86_64")]
    if super::packed::has_avx512() {
        // SAFETY: AVX-512F is available (checked); forwarded caller guarantees.
        unsafe { tile_avx512(t, epi) };
        return;
    }
    // SAFETY: forwarded caller guarantees.
    unsafe { tile_portable(t, epi) }
}

/// The portable tile (also the reference of the tests).
///
/// # Safety
/// As [`run_tile`].
unsafe fn tile_portable(t: &Tile<'_>, epi: Option<&Epilogue>) {
    let mut acc = [[0f32; NR]; MR_NHWC];
    let mut bp = t.b;
    let mut k = t.k0;
    while k < t.k1 {
        let (s, off) = (k / t.seg_len, k % t.seg_len);
        let n = (t.seg_len - off).min(t.k1 - k);
        for j in 0..n {
            // SAFETY: row k of the panel (NR values) and element off + j of each row's run
            // of segment s are inside the operands (the caller's guarantee).
            unsafe {
                let brow = std::slice::from_raw_parts(bp, NR);
                for (i, a) in acc.iter_mut().enumerate() {
                    let av = *t.ptrs[s][i].add(off + j);
                    for (c, b) in a.iter_mut().zip(brow) {
                        *c += av * b;
                    }
                }
                bp = bp.add(NR);
            }
        }
        k += n;
    }
    for (i, a) in acc.iter().enumerate().take(t.rows) {
        // SAFETY: row i < rows, columns < cols of the output block (the caller's guarantee).
        let row = unsafe { std::slice::from_raw_parts_mut(t.c.add(i * t.ldc), t.cols) };
        for (j, v) in row.iter_mut().enumerate() {
            let mut s = a[j];
            if t.accumulate {
                s += *v;
            }
            if let Some(e) = epi {
                // SAFETY: bias holds cols values; residual row i holds cols values.
                unsafe {
                    if let Some(b) = e.bias {
                        s += *b.add(j);
                    }
                    if let Some(z) = e.z {
                        s += *z.add(i * t.ldc + j);
                    }
                }
            }
            *v = s;
        }
        if let Some(e) = epi {
            e.act.apply_slice(row);
        }
    }
}

/// The AVX-512 tile: 8 rows x 32 columns in 16 registers.
///
/// # Safety
/// As [`run_tile`]; AVX-512F available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512(t: &Tile<'_>, epi: Option<&Epilogue>) {
    use std::arch::x86_64::*;
    let mut lo = [_mm512_setzero_ps(); MR_NHWC];
    let mut hi = [_mm512_setzero_ps(); MR_NHWC];
    let mut bp = t.b;
    let mut k = t.k0;
    while k < t.k1 {
        let (s, off) = (k / t.seg_len, k % t.seg_len);
        let n = (t.seg_len - off).min(t.k1 - k);
        // SAFETY: element off of each row's run of segment s (the caller's guarantee).
        let a: [*const f32; MR_NHWC] = std::array::from_fn(|i| unsafe { t.ptrs[s][i].add(off) });
        if t.cols <= 16 {
            // Half-width tile (narrow layers): only the first 16 columns are products.
            for j in 0..n {
                // SAFETY: as below, the first 16 values of the panel row only.
                unsafe {
                    let b0 = _mm512_loadu_ps(bp);
                    for i in 0..MR_NHWC {
                        let av = _mm512_set1_ps(*a[i].add(j));
                        lo[i] = _mm512_fmadd_ps(av, b0, lo[i]);
                    }
                    bp = bp.add(NR);
                }
            }
            k += n;
            continue;
        }
        for j in 0..n {
            // SAFETY: row k + j of the panel (NR values at bp) and element j of each run
            // (j < n <= seg_len - off) are inside the operands.
            unsafe {
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(16));
                for i in 0..MR_NHWC {
                    let av = _mm512_set1_ps(*a[i].add(j));
                    lo[i] = _mm512_fmadd_ps(av, b0, lo[i]);
                    hi[i] = _mm512_fmadd_ps(av, b1, hi[i]);
                }
                bp = bp.add(NR);
            }
        }
        k += n;
    }
    let m0: __mmask16 = if t.cols >= 16 {
        0xffff
    } else {
        (1u16 << t.cols) - 1
    };
    let m1: __mmask16 = if t.cols >= 32 {
        0xffff
    } else if t.cols > 16 {
        (1u16 << (t.cols - 16)) - 1
    } else {
        0
    };
    // SAFETY: bias holds cols values (masked loads read no more).
    let (bias0, bias1) = match epi.and_then(|e| e.bias) {
        Some(b) => unsafe {
            (
                _mm512_maskz_loadu_ps(m0, b),
                _mm512_maskz_loadu_ps(m1, b.add(16)),
            )
        },
        None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
    };
    // (clamp bounds, whether the activation is that clamp, whether it is done in registers).
    let (clip_lo, clip_hi, clamp, in_reg) = match epi.map(|e| e.act) {
        Some(Activation::Relu) => (0.0, f32::INFINITY, true, true),
        Some(Activation::Clip(lo, hi)) => (lo, hi, true, true),
        Some(Activation::Identity) | None => (0.0, 0.0, false, true),
        Some(_) => (0.0, 0.0, false, false),
    };
    let (vlo, vhi) = (_mm512_set1_ps(clip_lo), _mm512_set1_ps(clip_hi));
    // Constant trip count with a guard (not `0..rows`): the accumulators stay in registers.
    for i in 0..MR_NHWC {
        if i >= t.rows {
            continue;
        }
        // SAFETY: row i < rows and the masked columns < cols lie in the output block; the
        // residual row i likewise (the caller's guarantee).
        unsafe {
            let cp = t.c.add(i * t.ldc);
            let (mut v0, mut v1) = (lo[i], hi[i]);
            if t.accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cp.add(16)));
            }
            if let Some(e) = epi {
                v0 = _mm512_add_ps(v0, bias0);
                v1 = _mm512_add_ps(v1, bias1);
                if let Some(z) = e.z {
                    let zp = z.add(i * t.ldc);
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, zp));
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, zp.add(16)));
                }
                if clamp {
                    v0 = _mm512_min_ps(_mm512_max_ps(v0, vlo), vhi);
                    v1 = _mm512_min_ps(_mm512_max_ps(v1, vlo), vhi);
                }
            }
            _mm512_mask_storeu_ps(cp, m0, v0);
            _mm512_mask_storeu_ps(cp.add(16), m1, v1);
            if let Some(e) = epi
                && !in_reg
            {
                e.act
                    .apply_slice(std::slice::from_raw_parts_mut(cp, t.cols));
            }
        }
    }
}

#[cfg(test)]
#[path = "conv_nhwc_tests.rs"]
mod tests;
