//! A bounds-checked f32 matrix product on top of `gemm::gemm`: the only `unsafe` of the
//! kernels, kept behind checks that make every access in range.

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
            gemm::Parallelism::Rayon(0),
        );
    }
    Ok(())
}
