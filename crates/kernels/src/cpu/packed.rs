//! A register-blocked f32 GEMM micro-kernel over packed panels, and the packed operand
//! formats: the left operand in panels of [`MR`] rows (`[k][MR]` each), the right one in
//! panels of [`NR`] columns (`[k][NR]` each), both zero-padded. Constant weights are packed
//! once ([`PackedA`] for convolution filters, [`PackedB`] for MatMul weights) and kept by the
//! tactic ([`PackCache`]); only activations are packed per call. The kernel is written with
//! AVX-512 intrinsics and as portable code (compiled for AVX2+FMA too), picked at run time.

use kiln_core::ndarray::ArrayD;
use std::sync::{Arc, RwLock};

/// Rows of one micro-tile (left-operand panel height).
pub const MR: usize = 8;
/// Columns of one micro-tile (right-operand panel width).
pub const NR: usize = 32;
/// Depth of one block of the reduction dimension (panels of this depth stay in L1/L2).
pub const KC: usize = 128;

/// An `m x k` left operand packed as `ceil(m / MR)` panels of `[k][MR]`.
#[derive(Debug, Clone)]
pub struct PackedA {
    /// Rows.
    pub m: usize,
    /// Columns (reduction depth).
    pub k: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Pack `m x k` with element `(i, p)` at `src[i * rs + p * cs]`.
    pub fn pack(m: usize, k: usize, src: &[f32], rs: usize, cs: usize) -> PackedA {
        let panels = m.div_ceil(MR);
        let mut data = vec![0f32; panels * k * MR];
        for (pi, panel) in data.chunks_mut(k * MR).enumerate() {
            for ii in 0..MR.min(m - pi * MR) {
                let row = pi * MR + ii;
                for p in 0..k {
                    panel[p * MR + ii] = src[row * rs + p * cs];
                }
            }
        }
        PackedA { m, k, data }
    }

    /// Panel `i` (rows `i * MR..`) from depth `p0` on.
    #[inline]
    pub fn panel(&self, i: usize, p0: usize) -> &[f32] {
        &self.data[(i * self.k + p0) * MR..(i + 1) * self.k * MR]
    }
}

/// A `k x n` right operand packed as `ceil(n / NR)` panels of `[k][NR]`.
#[derive(Debug, Clone)]
pub struct PackedB {
    /// Rows (reduction depth).
    pub k: usize,
    /// Columns.
    pub n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Pack `k x n` with element `(p, j)` at `src[p * rs + j * cs]`.
    pub fn pack(k: usize, n: usize, src: &[f32], rs: usize, cs: usize) -> PackedB {
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for (q, panel) in data.chunks_mut(k * NR).enumerate() {
            let cols = NR.min(n - q * NR);
            for p in 0..k {
                let dst = &mut panel[p * NR..p * NR + cols];
                if cs == 1 {
                    let s = p * rs + q * NR;
                    dst.copy_from_slice(&src[s..s + cols]);
                } else {
                    for (jj, d) in dst.iter_mut().enumerate() {
                        *d = src[p * rs + (q * NR + jj) * cs];
                    }
                }
            }
        }
        PackedB { k, n, data }
    }

    /// Panel `q` (columns `q * NR..`) from depth `p0` on.
    #[inline]
    pub fn panel(&self, q: usize, p0: usize) -> &[f32] {
        &self.data[(q * self.k + p0) * NR..(q + 1) * self.k * NR]
    }
}

/// `C[rows x cols] (+)= A_panel[kc][MR] * B[kc][cols]`, `B` with row stride `ldb` (`NR`
/// for a packed panel; only its first `cols` columns are read), `C` with row stride `ldc`.
///
/// # Safety
/// `a` holds `kc * MR` elements; `b[p * ldb + j]` is readable for `p < kc`, `j < cols`;
/// `c[i * ldc + j]` for `i < rows <= MR`, `j < cols <= NR` is writable and not accessed by
/// anyone else during the call.
#[inline]
#[allow(clippy::too_many_arguments)]
pub unsafe fn micro_kernel(
    kc: usize,
    a: &[f32],
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    assert!(a.len() >= kc * MR && rows <= MR && cols <= NR);
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: AVX-512F is available (checked); `a` is long enough (asserted); the
            // caller's guarantees cover `b` and `c`.
            return unsafe {
                kernel_avx512(kc, a.as_ptr(), b, ldb, c, ldc, rows, cols, accumulate)
            };
        }
        if has_avx2_fma() {
            // SAFETY: AVX2 and FMA are available (checked); forwarded caller guarantees.
            return unsafe { kernel_avx2(kc, a, b, ldb, c, ldc, rows, cols, accumulate) };
        }
    }
    // SAFETY: forwarded caller guarantees.
    unsafe { kernel_portable(kc, a, b, ldb, c, ldc, rows, cols, accumulate) }
}

/// Whether the AVX-512 kernel runs here (cached detection).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static F: OnceLock<bool> = OnceLock::new();
    *F.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
}

/// Whether the AVX2+FMA build of the portable kernel runs here (cached detection).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static F: OnceLock<bool> = OnceLock::new();
    *F.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx512(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut lo = [_mm512_setzero_ps(); MR];
    let mut hi = [_mm512_setzero_ps(); MR];
    let (m0, m1) = col_masks(cols);
    if cols <= 16 {
        // Half-width tile (narrow outputs: the 7x7 planes of late conv stages).
        for p in 0..kc {
            // SAFETY: p < kc: row p of the panel lies inside `a` (kc * MR values); the mask
            // selects columns < cols of row p of `b` (the caller's guarantee).
            unsafe {
                let b0 = _mm512_maskz_loadu_ps(m0, b.add(p * ldb));
                let ap = a.add(p * MR);
                for i in 0..MR {
                    lo[i] = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(i)), b0, lo[i]);
                }
            }
        }
    } else {
        for p in 0..kc {
            // SAFETY: p < kc: row p of the panel lies inside `a` (kc * MR values); the
            // masks select columns < cols of row p of `b` (the caller's guarantee).
            unsafe { kernel_step(a, b, ldb, p, m0, m1, &mut lo, &mut hi) };
        }
    }
    for i in 0..MR {
        if i < rows {
            // SAFETY: row i < rows and the masked columns < cols lie in the caller's block.
            unsafe { store_row(c.add(i * ldc), m0, m1, lo[i], hi[i], accumulate) };
        }
    }
}

/// The masks of the two 16-lane halves of a tile row holding `cols` (<= 32) columns.
#[cfg(target_arch = "x86_64")]
#[inline]
fn col_masks(cols: usize) -> (std::arch::x86_64::__mmask16, std::arch::x86_64::__mmask16) {
    let m0 = if cols >= 16 {
        0xffff
    } else {
        (1u16 << cols) - 1
    };
    let m1 = if cols >= 32 {
        0xffff
    } else if cols > 16 {
        (1u16 << (cols - 16)) - 1
    } else {
        0
    };
    (m0, m1)
}

/// Store one tile row (`v0` = columns 0..16, `v1` = 16..32, masked), adding what `cp` holds
/// when `accumulate`.
///
/// # Safety
/// The columns the masks select, from `cp`, are readable and writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_row(
    cp: *mut f32,
    m0: std::arch::x86_64::__mmask16,
    m1: std::arch::x86_64::__mmask16,
    mut v0: std::arch::x86_64::__m512,
    mut v1: std::arch::x86_64::__m512,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    // SAFETY: masked accesses touch only the selected columns (the caller's guarantee).
    unsafe {
        if accumulate {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cp));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cp.add(16)));
        }
        _mm512_mask_storeu_ps(cp, m0, v0);
        _mm512_mask_storeu_ps(cp.add(16), m1, v1);
    }
}

/// One depth step of the full-width AVX-512 tile.
///
/// # Safety
/// Row `p` of the `a` panel (`MR` values at `a + p * MR`) and the first `cols` values of
/// row `p` of `b` (`b + p * ldb`, the columns the masks select) are readable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_step(
    a: *const f32,
    b: *const f32,
    ldb: usize,
    p: usize,
    m0: std::arch::x86_64::__mmask16,
    m1: std::arch::x86_64::__mmask16,
    lo: &mut [std::arch::x86_64::__m512; MR],
    hi: &mut [std::arch::x86_64::__m512; MR],
) {
    use std::arch::x86_64::*;
    // SAFETY: the reads the caller guarantees (masked loads touch selected columns only).
    unsafe {
        let b0 = _mm512_maskz_loadu_ps(m0, b.add(p * ldb));
        let b1 = _mm512_maskz_loadu_ps(m1, b.add(p * ldb + 16));
        let ap = a.add(p * MR);
        for i in 0..MR {
            let av = _mm512_set1_ps(*ap.add(i));
            lo[i] = _mm512_fmadd_ps(av, b0, lo[i]);
            hi[i] = _mm512_fmadd_ps(av, b1, hi[i]);
        }
    }
}

/// Whether AVX-512F row helpers can run here.
pub fn has_avx512_rows() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx512()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx2(
    kc: usize,
    a: &[f32],
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded caller guarantees.
    unsafe { kernel_portable(kc, a, b, ldb, c, ldc, rows, cols, accumulate) }
}

/// The portable kernel (auto-vectorized); also the reference for the tests.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_portable(
    kc: usize,
    a: &[f32],
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let mut acc = [[0f32; NR]; MR];
    let mut row = [0f32; NR];
    for (p, ap) in a.chunks_exact(MR).take(kc).enumerate() {
        // SAFETY: columns < cols of row p of `b` are readable (the caller's guarantee).
        row[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(b.add(p * ldb), cols) });
        for i in 0..MR {
            let av = ap[i];
            for j in 0..NR {
                acc[i][j] += av * row[j];
            }
        }
    }
    for (i, row) in acc.iter().enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate().take(cols) {
            // SAFETY: (i, j) inside the caller's rows x cols block.
            unsafe {
                let cp = c.add(i * ldc + j);
                *cp = if accumulate { *cp + v } else { v };
            }
        }
    }
}

/// Packed constant weights remembered by a tactic, valid for one source tensor: its data
/// address, shape and a fingerprint of its values (a sample of elements, bit for bit), so a
/// different tensor that later lands at the same address (the builder times tactics on
/// copies it then drops) is not mistaken for the packed one.
pub struct PackCache<T> {
    slot: RwLock<Option<(Source, Arc<T>)>>,
}

/// What identifies the tensor a [`PackCache`] entry was packed from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Source {
    ptr: usize,
    shape: Vec<usize>,
    sample: Vec<u32>,
}

/// Elements sampled for the fingerprint.
const SAMPLES: usize = 64;

impl Source {
    /// `None` for a tensor that is not contiguous in standard order.
    fn of(w: &ArrayD<f32>) -> Option<Source> {
        let d = w.as_slice()?;
        let step = (d.len() / SAMPLES).max(1);
        let mut sample: Vec<u32> = d.iter().step_by(step).map(|v| v.to_bits()).collect();
        if let Some(last) = d.last() {
            sample.push(last.to_bits());
        }
        Some(Source {
            ptr: d.as_ptr() as usize,
            shape: w.shape().to_vec(),
            sample,
        })
    }
}

impl<T> std::fmt::Debug for PackCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packed = self.slot.read().map(|s| s.is_some()).unwrap_or(false);
        f.debug_struct("PackCache")
            .field("packed", &packed)
            .finish()
    }
}

impl<T> Default for PackCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for PackCache<T> {
    fn clone(&self) -> Self {
        let slot = self.slot.read().map(|s| s.clone()).unwrap_or(None);
        PackCache {
            slot: RwLock::new(slot),
        }
    }
}

impl<T> PackCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        PackCache {
            slot: RwLock::new(None),
        }
    }

    /// Remember `packed` for source `w` (`None`, or a non-contiguous `w`: forget).
    pub fn set(&self, w: Option<(&ArrayD<f32>, T)>) {
        let v = w.and_then(|(w, t)| Some((Source::of(w)?, Arc::new(t))));
        if let Ok(mut s) = self.slot.write() {
            *s = v;
        }
    }

    /// The packed form of `w` when it is the tensor packed earlier.
    pub fn get(&self, w: &ArrayD<f32>) -> Option<Arc<T>> {
        let s = self.slot.read().ok()?;
        let (src, t) = s.as_ref()?;
        // Cheap checks first; the fingerprint only for a tensor at the same place.
        let d = w.as_slice()?;
        if src.ptr != d.as_ptr() as usize || src.shape.as_slice() != w.shape() {
            return None;
        }
        (Source::of(w)?.sample == src.sample).then(|| t.clone())
    }
}

#[cfg(test)]
#[path = "packed_tests.rs"]
mod tests;
