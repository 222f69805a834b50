//! f32 matrix products on top of `gemm::gemm`: a bounds-checked safe entry point and a raw
//! one for kernels that write disjoint blocks of one output from several workers.

use kiln_core::{Error, Result};

/// Where a matrix lies in a slice: element `(i, j)` is at
/// `offset + i * row_stride + j * col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatLayout {
    /// Index of element (0, 0).
    pub offset: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl MatLayout {
    /// A dense row-major matrix with `cols` columns starting at `offset`.
    pub fn row_major(offset: usize, cols: usize) -> Self {
        MatLayout {
            offset,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a dense row-major matrix with `cols` columns (stored) at `offset`.
    pub fn transposed(offset: usize, cols: usize) -> Self {
        MatLayout {
            offset,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Check that a `rows` x `cols` matrix with this layout lies inside `len` elements.
    fn check(&self, rows: usize, cols: usize, len: usize, what: &str) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|r| (cols - 1).checked_mul(self.col_stride).map(|c| (r, c)))
            .and_then(|(r, c)| r.checked_add(c))
            .and_then(|x| x.checked_add(self.offset));
        match last {
            Some(l) if l < len && isize::try_from(l).is_ok() => Ok(()),
            _ => Err(Error::shape(format!(
                "gemm: {what} matrix {rows}x{cols} {self:?} does not fit in {len} elements"
            ))),
        }
    }
}

/// `dst = alpha * A * B (+ dst when accumulate)`, with `A` m x k, `B` k x n and `dst` a dense
/// row-major m x n matrix (`dst.len() == m * n`). Runs on the current rayon pool.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    la: MatLayout,
    b: &[f32],
    lb: MatLayout,
    accumulate: bool,
    dst: &mut [f32],
) -> Result<()> {
    let mn = m
        .checked_mul(n)
        .ok_or_else(|| Error::shape("gemm: output too large"))?;
    if dst.len() != mn {
        return Err(Error::shape(format!(
            "gemm: output holds {} elements, {m}x{n} needed",
            dst.len()
        )));
    }
    la.check(m, k, a.len(), "left")?;
    lb.check(k, n, b.len(), "right")?;
    if mn == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return Ok(());
    }
    let stride = |s: usize| isize::try_from(s).map_err(|_| Error::shape("gemm: stride too large"));
    let (a_rs, a_cs, b_rs, b_cs) = (
        stride(la.row_stride)?,
        stride(la.col_stride)?,
        stride(lb.row_stride)?,
        stride(lb.col_stride)?,
    );
    let n_is = stride(n)?;
    let a_ptr = a[la.offset..].as_ptr();
    let b_ptr = b[lb.offset..].as_ptr();
    // SAFETY: `dst` is an exclusively borrowed dense m x n row-major buffer (length checked);
    // every element of A and B the product reads lies in bounds of `a` and `b` (checked by
    // `MatLayout::check` with overflow-checked arithmetic); `dst` cannot alias `a` or `b`
    // (one is `&mut`, the others `&`); T = f32 is a type `gemm` supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n_is,
            accumulate,
            a_ptr,
            a_cs,
            a_rs,
            b_ptr,
            b_cs,
            b_rs,
            1.0f32,
            alpha,
            false,
            false,
            false,
            if rayon::current_num_threads() > 1 {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        );
    }
    Ok(())
}

/// Whether one product runs on the current rayon pool or on the calling thread only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    /// Split over the current rayon pool (inside `CpuBackend::execute`: `--threads` workers).
    Pool,
    /// Single-threaded (the caller already runs in parallel).
    Seq,
}

/// `dst = alpha * A * B (+ dst when accumulate)` on raw pointers, with strides in elements.
///
/// # Safety
/// Every element `a[i * a_rs + p * a_cs]`, `b[p * b_rs + j * b_cs]` (i < m, p < k, j < n) must
/// be readable, every `dst[i * d_rs + j]` writable and not aliased by anything else for the
/// duration of the call (other threads may write other elements of the same allocation).
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    accumulate: bool,
    dst: *mut f32,
    d_rs: isize,
    par: Par,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    // SAFETY: in the writable block the caller guarantees.
                    unsafe { *dst.offset(i * d_rs + j) = 0.0 };
                }
            }
        }
        return;
    }
    let parallelism = match par {
        Par::Pool if rayon::current_num_threads() > 1 => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the caller guarantees the bounds and exclusivity stated above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            d_rs,
            accumulate,
            a,
            a_cs,
            a_rs,
            b,
            b_cs,
            b_rs,
            1.0f32,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A raw destination pointer shared by tasks writing disjoint blocks.
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
// SAFETY: `sgemm_split` gives each task a disjoint block of the destination.
unsafe impl Send for DstPtr {}
// SAFETY: as above.
unsafe impl Sync for DstPtr {}

impl DstPtr {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Like [`sgemm_raw`] with [`Par::Pool`], but split into independent single-threaded
/// products over blocks of columns (or rows, when there are few columns), one set of packed
/// panels per worker: better than one shared product for the thin shapes of inference
/// (a few hundred rows of activations against a weight matrix).
///
/// # Safety
/// As for [`sgemm_raw`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_split(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    dst: *mut f32,
    d_rs: isize,
) {
    let threads = rayon::current_num_threads();
    let work = m.saturating_mul(n).saturating_mul(k);
    if threads < 2 || work < (1 << 18) {
        // SAFETY: forwarded caller guarantees.
        return unsafe {
            sgemm_raw(
                m,
                n,
                k,
                alpha,
                a,
                a_rs,
                a_cs,
                b,
                b_rs,
                b_cs,
                false,
                dst,
                d_rs,
                Par::Pool,
            )
        };
    }
    let (a_p, b_p, d_p) = (a as usize, b as usize, DstPtr(dst));
    let blocks = 2 * threads;
    if n >= 32 * blocks || n >= m {
        let width = n.div_ceil(blocks).div_ceil(16) * 16;
        let count = n.div_ceil(width);
        rayon::scope(|s| {
            for i in 0..count {
                let (j0, cols) = (i * width, width.min(n - i * width));
                s.spawn(move |_| {
                    // SAFETY: columns j0..j0 + cols of B and of the destination, inside the
                    // caller's bounds; no other task writes these destination columns.
                    unsafe {
                        sgemm_raw(
                            m,
                            cols,
                            k,
                            alpha,
                            a_p as *const f32,
                            a_rs,
                            a_cs,
                            (b_p as *const f32).offset(j0 as isize * b_cs),
                            b_rs,
                            b_cs,
                            false,
                            d_p.get().add(j0),
                            d_rs,
                            Par::Seq,
                        )
                    }
                });
            }
        });
    } else {
        let height = m.div_ceil(blocks).div_ceil(8) * 8;
        let count = m.div_ceil(height);
        rayon::scope(|s| {
            for i in 0..count {
                let (i0, rows) = (i * height, height.min(m - i * height));
                s.spawn(move |_| {
                    // SAFETY: rows i0..i0 + rows of A and of the destination, inside the
                    // caller's bounds; no other task writes these destination rows.
                    unsafe {
                        sgemm_raw(
                            rows,
                            n,
                            k,
                            alpha,
                            (a_p as *const f32).offset(i0 as isize * a_rs),
                            a_rs,
                            a_cs,
                            b_p as *const f32,
                            b_rs,
                            b_cs,
                            false,
                            d_p.get().offset(i0 as isize * d_rs),
                            d_rs,
                            Par::Seq,
                        )
                    }
                });
            }
        });
    }
}
