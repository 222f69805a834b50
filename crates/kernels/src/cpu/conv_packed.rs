//! Convolution over pre-packed filters (`packed-<cols>` tactics): the filters of each group
//! are packed once into [`PackedA`] panels; per call, blocks of `cols` output positions are
//! im2col'ed into a row-major block, [`KC`] rows at a time (pointwise convs read the input in
//! place), and multiplied by the micro-kernel [`NR`] columns at a time into the output; the
//! output stage runs on each block while it is in cache.

use super::conv::{ConvGeom, OutputStage};
use super::conv_algos::{OutPtr, im2col_row};
use super::packed::{KC, MR, NR, PackedA, micro_kernel};
use rayon::prelude::*;

/// The filters `w` (`m x cg x kh x kw`, NCHW order) packed per group (`mg x kc` each).
pub(crate) fn pack_filters(g: &ConvGeom, w: &[f32]) -> Vec<PackedA> {
    let kc = g.kc();
    (0..g.g)
        .map(|grp| PackedA::pack(g.mg, kc, &w[grp * g.mg * kc..(grp + 1) * g.mg * kc], kc, 1))
        .collect()
}

/// True when the packed filters fit this geometry.
pub(crate) fn filters_fit(g: &ConvGeom, pw: &[PackedA]) -> bool {
    pw.len() == g.g && pw.iter().all(|p| p.m == g.mg && p.k == g.kc())
}

/// The convolution with its output stage, `cols` output positions per task.
pub(crate) fn conv_packed(
    g: &ConvGeom,
    x: &[f32],
    pw: &[PackedA],
    stage: &OutputStage<'_>,
    cols: usize,
    out: &mut [f32],
) {
    let (p, kc) = (g.positions(), g.kc());
    if p == 0 || g.mg == 0 {
        return;
    }
    let cols = cols.div_ceil(NR).max(1) * NR;
    let cols = cols.min(p.div_ceil(NR) * NR);
    let tiles = p.div_ceil(cols);
    let pointwise = g.pointwise();
    let base_tasks = g.n * g.g * tiles;
    let want = 2 * rayon::current_num_threads();
    let msplit = if base_tasks >= want {
        1
    } else {
        want.div_ceil(base_tasks).min(g.mg.div_ceil(2 * MR)).max(1)
    };
    let mblk = g.mg.div_ceil(msplit).div_ceil(MR) * MR;
    let msplit = g.mg.div_ceil(mblk);
    let tasks = base_tasks * msplit;
    let out_len = out.len();
    let out_ptr = OutPtr(out.as_mut_ptr());
    let kb_max = KC.min(kc).max(1);
    (0..tasks).into_par_iter().for_each_init(
        || {
            if pointwise {
                Vec::new()
            } else {
                vec![0f32; kb_max * cols]
            }
        },
        |buf, task| {
            let mb = task % msplit;
            let rest = task / msplit;
            let tile = rest % tiles;
            let grp = (rest / tiles) % g.g;
            let img = rest / (tiles * g.g);
            let m0 = mb * mblk;
            let rows = mblk.min(g.mg - m0);
            let j0 = tile * cols;
            let width = cols.min(p - j0);
            let panels = width.div_ceil(NR);
            let x_off = (img * g.c + grp * g.cg) * g.ih * g.iw;
            let first_plane = img * g.m + grp * g.mg + m0;
            let pa = &pw[grp];
            debug_assert!((first_plane + rows - 1) * p + j0 + width <= out_len);
            let mut pc = 0;
            while pc < kc {
                let kb = KC.min(kc - pc);
                // B: kb rows of `width` positions, im2col'ed into `buf` (pointwise: the
                // input itself, read in place).
                if !pointwise {
                    for r in 0..kb {
                        let dst = &mut buf[r * width..(r + 1) * width];
                        im2col_row(g, x, x_off, pc + r, j0, dst);
                    }
                }
                for ip in 0..rows.div_ceil(MR) {
                    let a = pa.panel(m0 / MR + ip, pc);
                    let r = MR.min(rows - ip * MR);
                    for q in 0..panels {
                        let n_cols = NR.min(width - q * NR);
                        let off = (first_plane + ip * MR) * p + j0 + q * NR;
                        let (b, ldb) = if pointwise {
                            (x[x_off + pc * p + j0 + q * NR..].as_ptr(), p)
                        } else {
                            (buf[q * NR..kb * width].as_ptr(), width)
                        };
                        // SAFETY: rows first_plane + ip*MR .. + r (< first_plane + rows) and
                        // columns j0 + q*NR .. + n_cols (< j0 + width <= p) of the output lie
                        // inside `out` (debug-asserted above); this task alone writes them
                        // (tasks differ in image, group, channel block or tile); `a` holds
                        // (k - pc) * MR >= kb * MR values; B is columns q*NR .. + n_cols
                        // (< width) of the kb x width im2col block in `buf` or, pointwise,
                        // of rows pc .. pc + kb of the group's input planes, inside `x`.
                        unsafe {
                            micro_kernel(
                                kb,
                                a,
                                b,
                                ldb,
                                out_ptr.get().add(off),
                                p,
                                r,
                                n_cols,
                                pc > 0,
                            );
                        }
                    }
                }
                pc += kb;
            }
            if !stage.is_noop() {
                for r in 0..rows {
                    // SAFETY: row r of this task's block, in bounds and written only by this
                    // task (see above).
                    let line = unsafe {
                        std::slice::from_raw_parts_mut(
                            out_ptr.get().add((first_plane + r) * p + j0),
                            width,
                        )
                    };
                    stage.finish(line, first_plane + r, g.m, p, j0);
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::activation::Activation;
    use super::super::conv::ConvParams;
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

    /// Naive NCHW convolution with bias and Relu.
    fn naive(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; g.n * g.m * g.positions()];
        for img in 0..g.n {
            for oc in 0..g.m {
                let grp = oc / g.mg;
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut s = b[oc];
                        for ic in 0..g.cg {
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let y = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                                    let xx = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                                    if y < 0 || xx < 0 || y >= g.ih as isize || xx >= g.iw as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((img * g.c + grp * g.cg + ic) * g.ih + y as usize)
                                        * g.iw
                                        + xx as usize;
                                    let wi = ((oc * g.cg + ic) * g.kh + ky) * g.kw + kx;
                                    s += x[xi] * w[wi];
                                }
                            }
                        }
                        out[(img * g.m + oc) * g.positions() + oy * g.ow + ox] = s.max(0.0);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn packed_conv_matches_naive() {
        let mut seed = 11u64;
        // (n, c, m, group, h, w, k, stride, pad)
        let cases = [
            (1, 3, 5, 1, 7, 9, 3, 1, 1),
            (2, 6, 18, 2, 11, 5, 3, 2, 1),
            (1, 37, 19, 1, 6, 6, 1, 1, 0),
            (1, 300, 9, 1, 3, 4, 1, 1, 0),
            (1, 40, 33, 1, 9, 8, 3, 1, 0),
            (3, 8, 16, 1, 13, 13, 5, 2, 2),
        ];
        for &(n, c, m, group, h, w, k, s, pad) in &cases {
            let params = ConvParams {
                auto_pad: "NOTSET".into(),
                dilations: vec![],
                group,
                kernel_shape: None,
                pads: vec![pad; 4],
                strides: vec![s; 2],
            };
            let cg = c / group as usize;
            let g = ConvGeom::new(&params, &[n, c, h, w], &[m, cg, k, k]).unwrap();
            let x = rand(n * c * h * w, &mut seed);
            let wt = rand(m * cg * k * k, &mut seed);
            let b = rand(m, &mut seed);
            let want = naive(&g, &x, &wt, &b);
            let pw = pack_filters(&g, &wt);
            assert!(filters_fit(&g, &pw));
            for cols in [32, 64, 1000] {
                let mut out = vec![f32::NAN; want.len()];
                let stage = OutputStage {
                    bias: Some(&b),
                    residual: None,
                    act: Activation::Relu,
                };
                conv_packed(&g, &x, &pw, &stage, cols, &mut out);
                for (i, (a, e)) in out.iter().zip(&want).enumerate() {
                    assert!((a - e).abs() < 1e-4 * (1.0 + e.abs()), "case {g:?} at {i}");
                }
            }
        }
    }
}
