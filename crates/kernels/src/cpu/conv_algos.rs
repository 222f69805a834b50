//! The convolution algorithms behind [`ConvTactic`](super::conv::ConvTactic): im2col + GEMM,
//! tiled im2col + GEMM with the output stage per tile, and direct row loops (depthwise).
//! Inputs are NCHW f32 slices already checked against [`ConvGeom`].

use super::conv::{ConvGeom, OutputStage};
use super::sgemm::{Par, sgemm_raw, sgemm_split};
use crate::RunContext;
use rayon::prelude::*;

/// A raw output pointer shared by tasks that write disjoint elements.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);

// SAFETY: tasks given an `OutPtr` write disjoint element ranges of one live allocation
// (documented at each use), so sharing the pointer between threads is sound.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// The output positions `ox` in `0..ow` whose input column `ox * sw + kx * dw - pw` lies in
/// `0..iw`, as a half-open range.
#[inline]
pub(crate) fn valid_cols(g: &ConvGeom, kx: usize) -> (usize, usize) {
    let shift = kx * g.dw;
    // ox * sw + shift >= pw  <=>  ox >= ceil((pw - shift) / sw)
    let lo = if shift >= g.pw {
        0
    } else {
        (g.pw - shift).div_ceil(g.sw)
    };
    // ox * sw + shift - pw <= iw - 1  <=>  ox <= (iw - 1 + pw - shift) / sw
    let hi = if g.iw + g.pw > shift {
        (g.iw - 1 + g.pw - shift) / g.sw + 1
    } else {
        0
    };
    (lo.min(g.ow), hi.min(g.ow).max(lo.min(g.ow)))
}

/// The input row of output row `oy` and kernel row `ky`, if inside the image.
#[inline]
pub(crate) fn input_row(g: &ConvGeom, oy: usize, ky: usize) -> Option<usize> {
    (oy * g.sh + ky * g.dh)
        .checked_sub(g.ph)
        .filter(|&y| y < g.ih)
}

/// One im2col row (`ch, ky, kx`) for output positions `start..start + dst.len()` of the
/// image group whose first input plane starts at `plane0` in `x`.
pub(crate) fn im2col_row(
    g: &ConvGeom,
    x: &[f32],
    plane0: usize,
    row: usize,
    start: usize,
    dst: &mut [f32],
) {
    let kx = row % g.kw;
    let ky = (row / g.kw) % g.kh;
    let ch = row / (g.kw * g.kh);
    let plane = plane0 + ch * g.ih * g.iw;
    let (lo, hi) = valid_cols(g, kx);
    let mut p = start;
    let end = start + dst.len();
    while p < end {
        let (oy, ox0) = (p / g.ow, p % g.ow);
        let ox1 = g.ow.min(ox0 + (end - p));
        let seg = &mut dst[p - start..p - start + (ox1 - ox0)];
        match input_row(g, oy, ky) {
            None => seg.fill(0.0),
            Some(y) => {
                let src = &x[plane + y * g.iw..plane + (y + 1) * g.iw];
                let (a, b) = (lo.clamp(ox0, ox1), hi.clamp(ox0, ox1));
                seg[..a - ox0].fill(0.0);
                seg[b - ox0..].fill(0.0);
                if a < b {
                    let first = a * g.sw + kx * g.dw - g.pw;
                    let out = &mut seg[a - ox0..b - ox0];
                    copy_strided(out, &src[first..], g.sw);
                }
            }
        }
        p += ox1 - ox0;
    }
}

/// `dst[i] = src[i * stride]` for every `i` (`src` holds at least
/// `(dst.len() - 1) * stride + 1` values). Short rows (the 7..56-wide planes of CNNs) are
/// copied with AVX-512 masked moves where available instead of a `memcpy` call or a scalar
/// loop per row; stride 2 (downsampling convs) with a lane permute.
#[inline]
pub(crate) fn copy_strided(dst: &mut [f32], src: &[f32], stride: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    assert!(stride >= 1 && src.len() > (n - 1) * stride);
    #[cfg(target_arch = "x86_64")]
    if super::packed::has_avx512_rows() && (stride == 2 || (stride == 1 && n <= 256)) {
        // SAFETY: AVX-512F is available (checked); `dst` has n values and `src` at least
        // (n - 1) * stride + 1 (asserted), which is all the helpers touch.
        unsafe {
            if stride == 1 {
                copy_avx512(dst.as_mut_ptr(), src.as_ptr(), n);
            } else {
                gather2_avx512(dst.as_mut_ptr(), src.as_ptr(), n);
            }
        }
        return;
    }
    if stride == 1 {
        dst.copy_from_slice(&src[..n]);
    } else {
        for (i, o) in dst.iter_mut().enumerate() {
            *o = src[i * stride];
        }
    }
}

/// Mask of the low `k` lanes (`k <= 16`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn low_lanes(k: usize) -> u16 {
    if k >= 16 { 0xffff } else { (1u16 << k) - 1 }
}

/// `n` contiguous floats from `s` to `d`.
///
/// # Safety
/// AVX-512F is available; `s` and `d` are valid for `n` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_avx512(d: *mut f32, s: *const f32, n: usize) {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i < n {
        let m = low_lanes(n - i);
        // SAFETY: the mask selects lanes i.. < n of both buffers.
        unsafe { _mm512_mask_storeu_ps(d.add(i), m, _mm512_maskz_loadu_ps(m, s.add(i))) };
        i += 16;
    }
}

/// `d[i] = s[2 * i]` for `i < n`.
///
/// # Safety
/// AVX-512F is available; `d` is valid for `n` values and `s` for `2 * n - 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather2_avx512(d: *mut f32, s: *const f32, n: usize) {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let mut i = 0;
    while i < n {
        let cnt = (n - i).min(16);
        // Source values 2i .. 2i + 2cnt - 1 (the last one read is 2(i + cnt - 1)).
        let need = 2 * cnt - 1;
        let (m_lo, m_hi) = (low_lanes(need), low_lanes(need.saturating_sub(16)));
        // SAFETY: the masks select source values < 2i + need <= 2n - 1 and destination
        // lanes < n.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(m_lo, s.add(2 * i));
            let hi = _mm512_maskz_loadu_ps(m_hi, s.add(2 * i + 16));
            let v = _mm512_permutex2var_ps(lo, even, hi);
            _mm512_mask_storeu_ps(d.add(i), low_lanes(cnt), v);
        }
        i += 16;
    }
}

/// Whole-image im2col + one pool-parallel GEMM per image and group, then the output stage
/// in parallel over planes.
pub(crate) fn conv_gemm(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    stage: &OutputStage<'_>,
    out: &mut [f32],
    ctx: &RunContext<'_>,
) {
    let (p, kc) = (g.positions(), g.kc());
    let pointwise = g.pointwise();
    // Every element of `col` is written by im2col before the product reads it.
    let mut col = if pointwise {
        Vec::new()
    } else {
        ctx.alloc_f32(kc * p)
    };
    for img in 0..g.n {
        for grp in 0..g.g {
            let x_off = (img * g.c + grp * g.cg) * g.ih * g.iw;
            let b_ptr = if pointwise {
                x[x_off..].as_ptr()
            } else {
                col.par_chunks_mut(p)
                    .enumerate()
                    .for_each(|(row, dst)| im2col_row(g, x, x_off, row, 0, dst));
                col.as_ptr()
            };
            let o_off = (img * g.m + grp * g.mg) * p;
            let dst = &mut out[o_off..o_off + g.mg * p];
            // SAFETY: A is the group's mg x kc block of `w` (rows of kc, in bounds since
            // w.len() == m * kc); B is kc x p, either `col` (kc * p elements) or the group's
            // cg input planes of `x` (cg * ih * iw == kc * p for pointwise convs); `dst` is an
            // exclusively borrowed mg x p block.
            unsafe {
                sgemm_split(
                    g.mg,
                    p,
                    kc,
                    1.0,
                    w[grp * g.mg * kc..].as_ptr(),
                    kc as isize,
                    1,
                    b_ptr,
                    p as isize,
                    1,
                    dst.as_mut_ptr(),
                    p as isize,
                );
            }
        }
    }
    if let Some(a) = ctx.arena {
        a.give(col);
    }
    if !stage.is_noop() {
        out.par_chunks_mut(p)
            .enumerate()
            .for_each(|(plane, line)| stage.finish(line, plane, g.m, p, 0));
    }
}

/// Blocks of `cols` output positions per task (per image and group, and per block of output
/// channels when there would be too few tasks for the workers): im2col of the block into a
/// per-worker buffer, a single-threaded GEMM into the output, the output stage on the block
/// while it is in cache.
pub(crate) fn conv_tiled(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    stage: &OutputStage<'_>,
    cols: usize,
    out: &mut [f32],
) {
    let (p, kc) = (g.positions(), g.kc());
    let cols = cols.clamp(1, p.max(1));
    let tiles = p.div_ceil(cols);
    let pointwise = g.pointwise();
    let base_tasks = g.n * g.g * tiles;
    let want = 2 * rayon::current_num_threads();
    // Split output channels into blocks of at least 16 when images x tiles are too few.
    let msplit = if base_tasks >= want {
        1
    } else {
        want.div_ceil(base_tasks).min(g.mg.div_ceil(16)).max(1)
    };
    let mblk = g.mg.div_ceil(msplit);
    let msplit = g.mg.div_ceil(mblk.max(1)).max(1);
    let tasks = base_tasks * msplit;
    let out_ptr = OutPtr(out.as_mut_ptr());
    let out_len = out.len();
    (0..tasks).into_par_iter().for_each_init(
        || {
            if pointwise {
                Vec::new()
            } else {
                vec![0f32; kc * cols]
            }
        },
        |col, task| {
            let mb = task % msplit;
            let rest = task / msplit;
            let tile = rest % tiles;
            let grp = (rest / tiles) % g.g;
            let img = rest / (tiles * g.g);
            let m0 = mb * mblk;
            let rows = mblk.min(g.mg - m0);
            let start = tile * cols;
            let width = cols.min(p - start);
            let x_off = (img * g.c + grp * g.cg) * g.ih * g.iw;
            let (b_ptr, b_rs) = if pointwise {
                (x[x_off + start..].as_ptr(), p as isize)
            } else {
                for row in 0..kc {
                    im2col_row(
                        g,
                        x,
                        x_off,
                        row,
                        start,
                        &mut col[row * width..(row + 1) * width],
                    );
                }
                (col.as_ptr(), width as isize)
            };
            let first_plane = img * g.m + grp * g.mg + m0;
            let o_off = first_plane * p + start;
            debug_assert!(o_off + (rows - 1) * p + width <= out_len);
            let dst = out_ptr;
            // SAFETY: A is rows x kc of the group's weights (rows m0.. of mg, inside `w`); B is
            // kc x width inside `col` (kc * cols elements) or inside the group's input planes
            // (pointwise: element (r, j) at x_off + start + r * p + j < x_off + cg * p); the
            // destination block (rows of `p`, columns start..start + width of planes
            // first_plane..first_plane + rows) lies inside `out`, and no other task writes it
            // (tasks differ in image, group, channel block or tile).
            unsafe {
                sgemm_raw(
                    rows,
                    width,
                    kc,
                    1.0,
                    w[(grp * g.mg + m0) * kc..].as_ptr(),
                    kc as isize,
                    1,
                    b_ptr,
                    b_rs,
                    1,
                    false,
                    dst.get().add(o_off),
                    p as isize,
                    Par::Seq,
                );
            }
            if !stage.is_noop() {
                for r in 0..rows {
                    // SAFETY: row r of this task's block, in bounds and written only by this
                    // task (see above).
                    let line = unsafe {
                        std::slice::from_raw_parts_mut(dst.get().add(o_off + r * p), width)
                    };
                    stage.finish(line, first_plane + r, g.m, p, start);
                }
            }
        },
    );
}

/// Direct convolution: one output plane per task, accumulated row by row from shifted input
/// rows (contiguous multiply-adds for stride 1); the depthwise kernel of MobileNets.
pub(crate) fn conv_direct(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    stage: &OutputStage<'_>,
    out: &mut [f32],
) {
    if super::depthwise::applies(g) {
        return super::depthwise::depthwise3x3(g, x, w, stage, out);
    }
    let p = g.positions();
    let taps = g.kh * g.kw;
    let ranges: Vec<(usize, usize)> = (0..g.kw).map(|kx| valid_cols(g, kx)).collect();
    out.par_chunks_mut(p).enumerate().for_each(|(plane, dst)| {
        let (img, oc) = (plane / g.m, plane % g.m);
        let grp = oc / g.mg;
        let bias = stage.bias.map_or(0.0, |b| b[oc]);
        for oy in 0..g.oh {
            let acc = &mut dst[oy * g.ow..(oy + 1) * g.ow];
            acc.fill(bias);
            for ic in 0..g.cg {
                let in_plane = (img * g.c + grp * g.cg + ic) * g.ih * g.iw;
                let wk = &w[(oc * g.cg + ic) * taps..(oc * g.cg + ic + 1) * taps];
                for ky in 0..g.kh {
                    let Some(y) = input_row(g, oy, ky) else {
                        continue;
                    };
                    let src = &x[in_plane + y * g.iw..in_plane + (y + 1) * g.iw];
                    for (kx, &(lo, hi)) in ranges.iter().enumerate() {
                        if lo >= hi {
                            continue;
                        }
                        let wv = wk[ky * g.kw + kx];
                        let first = lo * g.sw + kx * g.dw - g.pw;
                        let out = &mut acc[lo..hi];
                        if g.sw == 1 {
                            for (o, v) in out.iter_mut().zip(&src[first..first + (hi - lo)]) {
                                *o += wv * v;
                            }
                        } else {
                            for (o, v) in out.iter_mut().zip(src[first..].iter().step_by(g.sw)) {
                                *o += wv * v;
                            }
                        }
                    }
                }
            }
            let staged = OutputStage {
                bias: None,
                ..*stage
            };
            staged.finish(acc, plane, g.m, p, oy * g.ow);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::copy_strided;

    #[test]
    fn copy_strided_matches_naive_on_every_length() {
        for stride in 1..=3 {
            for n in 0..300 {
                let len = if n == 0 { 0 } else { (n - 1) * stride + 1 };
                let src: Vec<f32> = (0..len).map(|v| v as f32 * 0.25 - 7.0).collect();
                let mut dst = vec![f32::NAN; n + 3];
                copy_strided(&mut dst[..n], &src, stride);
                for i in 0..n {
                    assert_eq!(dst[i], src[i * stride], "stride {stride} n {n} at {i}");
                }
                assert!(dst[n..].iter().all(|v| v.is_nan()), "wrote past the end");
            }
        }
    }
}
