//! Row-major activations times a pre-packed constant right operand ([`PackedB`]): blocks of
//! rows x columns in parallel; per block and [`KC`] slice of the depth, the rows are packed
//! (and scaled) into [`MR`]-row panels and multiplied panel by panel with the micro-kernel;
//! the output stage runs on each block while it is in cache.

use super::conv_algos::OutPtr;
use super::packed::{KC, MR, NR, PackedB, micro_kernel};
use rayon::prelude::*;

/// Rows per task at most (fewer when there would be too few tasks): each column panel of B
/// is reused from L1 by this many rows.
const MC: usize = 256;
/// Columns per task.
const NC: usize = 256;

/// `out[rows x n] = alpha * A[rows x k] * B`, then `finish(row, first_col, segment)` on every
/// row segment of each block. `a` is row-major with `rows * k` elements, `out` row-major
/// with `rows * n`.
pub(crate) fn matmul_packed(
    rows: usize,
    a: &[f32],
    alpha: f32,
    pb: &PackedB,
    out: &mut [f32],
    finish: &(dyn Fn(usize, usize, &mut [f32]) + Sync),
) {
    let (k, n) = (pb.k, pb.n);
    assert!(a.len() >= rows * k && out.len() >= rows * n);
    if rows == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for (r, line) in out.chunks_mut(n).take(rows).enumerate() {
            line.fill(0.0);
            finish(r, 0, line);
        }
        return;
    }
    if super::packed::has_avx512_rows() {
        return matmul_igemm(rows, a, alpha, pb, out, finish);
    }
    let threads = rayon::current_num_threads();
    // Fewer rows per task when there would be too few tasks for the workers.
    let col_blocks = n.div_ceil(NC);
    let mut mc = MC;
    while mc > MR && rows.div_ceil(mc) * col_blocks < 2 * threads {
        mc /= 2;
    }
    let row_blocks = rows.div_ceil(mc);
    let out_ptr = OutPtr(out.as_mut_ptr());
    let kb_max = KC.min(k);
    // Elsewhere than AVX-512 (which took `matmul_igemm` above): rows packed per block.
    (0..row_blocks * col_blocks).into_par_iter().for_each_init(
        || vec![0f32; kb_max * mc.div_ceil(MR) * MR],
        |buf, task| {
            let (rb, cb) = (task / col_blocks, task % col_blocks);
            let r0 = rb * mc;
            let nrows = mc.min(rows - r0);
            let j0 = cb * NC;
            let width = NC.min(n - j0);
            let panels = nrows.div_ceil(MR);
            let mut pc = 0;
            while pc < k {
                let kb = KC.min(k - pc);
                {
                    for ip in 0..panels {
                        let dst = &mut buf[ip * kb * MR..(ip + 1) * kb * MR];
                        for ii in 0..MR {
                            let r = ip * MR + ii;
                            if r < nrows {
                                let src = &a[(r0 + r) * k + pc..(r0 + r) * k + pc + kb];
                                for (p, &v) in src.iter().enumerate() {
                                    dst[p * MR + ii] = v;
                                }
                            } else {
                                for p in 0..kb {
                                    dst[p * MR + ii] = 0.0;
                                }
                            }
                        }
                    }
                }
                for q in 0..width.div_ceil(NR) {
                    let col = j0 + q * NR;
                    let cols = NR.min(n - col);
                    let bp = pb.panel(col / NR, pc);
                    for ip in 0..panels {
                        let nr = MR.min(nrows - ip * MR);
                        let c = out_ptr.get().wrapping_add((r0 + ip * MR) * n + col);
                        // SAFETY: rows r0 + ip*MR .. + nr (< rows) and columns col .. + cols
                        // (< n) of `out` (rows * n elements, asserted) belong to this task's
                        // block only; the A panel holds kb * MR values and the B panel
                        // (k - pc) * NR >= kb * NR.
                        unsafe {
                            micro_kernel(
                                kb,
                                &buf[ip * kb * MR..(ip + 1) * kb * MR],
                                bp.as_ptr(),
                                NR,
                                c,
                                n,
                                nr,
                                cols,
                                pc > 0,
                            );
                        }
                    }
                }
                pc += kb;
            }
            for r in r0..r0 + nrows {
                // SAFETY: a row segment of this task's block (see above).
                let line =
                    unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(r * n + j0), width) };
                if alpha != 1.0 {
                    line.iter_mut().for_each(|x| *x *= alpha);
                }
                finish(r, j0, line);
            }
        },
    );
}

/// [`matmul_packed`] on AVX-512 machines: the product as a 1x1 NHWC convolution
/// ([`conv_nhwc`](super::conv_nhwc::conv_nhwc): rows as positions, the reduction blocked so
/// the weight panels stay in cache, whole tiles accumulated in registers), the scale and
/// `finish` on each row segment as soon as it is done (still in cache).
fn matmul_igemm(
    rows: usize,
    a: &[f32],
    alpha: f32,
    pb: &PackedB,
    out: &mut [f32],
    finish: &(dyn Fn(usize, usize, &mut [f32]) + Sync),
) {
    let (k, n) = (pb.k, pb.n);
    let g = super::conv::ConvGeom {
        n: 1,
        c: k,
        m: n,
        g: 1,
        cg: k,
        mg: n,
        ih: rows,
        iw: 1,
        oh: rows,
        ow: 1,
        kh: 1,
        kw: 1,
        sh: 1,
        sw: 1,
        dh: 1,
        dw: 1,
        ph: 0,
        pw: 0,
        out_shape: vec![rows, n],
    };
    let stage = super::conv::OutputStage {
        bias: None,
        residual: None,
        act: super::activation::Activation::Identity,
    };
    let post = |r: usize, j0: usize, line: &mut [f32]| {
        if alpha != 1.0 {
            line.iter_mut().for_each(|x| *x *= alpha);
        }
        finish(r, j0, line);
    };
    super::conv_nhwc::conv_nhwc(
        &g,
        &a[..rows * k],
        pb,
        &stage,
        Some(&post),
        super::conv_nhwc::Blocking::WIDE,
        &mut out[..rows * n],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn packed_matmul_matches_naive() {
        let mut seed = 5u64;
        for &(rows, k, n, trans) in &[
            (1, 1, 1, false),
            (13, 7, 45, false),
            (130, 300, 77, true),
            (9, 513, 260, false),
            (70, 33, 300, true),
        ] {
            let a = rand(rows * k, &mut seed);
            let b = rand(k * n, &mut seed);
            let pb = if trans {
                PackedB::pack(k, n, &b, 1, k) // b stored n x k
            } else {
                PackedB::pack(k, n, &b, n, 1)
            };
            let bias = rand(n, &mut seed);
            let mut out = vec![f32::NAN; rows * n];
            let finish = |_: usize, j0: usize, line: &mut [f32]| {
                for (x, v) in line.iter_mut().zip(&bias[j0..]) {
                    *x += v;
                }
            };
            matmul_packed(rows, &a, 0.5, &pb, &mut out, &finish);
            for i in 0..rows {
                for j in 0..n {
                    let bij = |p: usize| if trans { b[j * k + p] } else { b[p * n + j] };
                    let want: f32 =
                        0.5 * (0..k).map(|p| a[i * k + p] * bij(p)).sum::<f32>() + bias[j];
                    let got = out[i * n + j];
                    assert!(
                        (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "{rows}x{k}x{n} at ({i}, {j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
