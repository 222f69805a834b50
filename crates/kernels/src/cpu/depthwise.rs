//! The 3x3 depthwise kernel of MobileNets (one input channel per output channel, stride 1
//! or 2, dilation 1): per output row, the three input rows are copied once into zero-padded
//! rows (split into even and odd columns for stride 2) so all nine taps are contiguous
//! multiply-adds; compiled for AVX-512 / AVX2+FMA as well, picked at run time.

use super::conv::{ConvGeom, OutputStage};
use super::conv_algos::input_row;
use rayon::prelude::*;

/// True when [`depthwise3x3`] handles the convolution.
pub(crate) fn applies(g: &ConvGeom) -> bool {
    g.cg == 1
        && g.kh == 3
        && g.kw == 3
        && g.dh == 1
        && g.dw == 1
        && (g.sw == 1 || g.sw == 2)
        && g.ow > 0
}

/// Per-worker scratch rows.
struct Scratch {
    padded: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
}

/// The depthwise convolution with its output stage, planes in parallel.
pub(crate) fn depthwise3x3(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    stage: &OutputStage<'_>,
    out: &mut [f32],
) {
    let p = g.positions();
    let need = (g.ow - 1) * g.sw + 3;
    // Several planes per task: small planes (7x7, 14x14) would drown in scheduling.
    let per_task = (16384 / p.max(1)).max(1);
    out.par_chunks_mut(p * per_task)
        .enumerate()
        .for_each(|(ti, block)| {
            let mut s = Scratch {
                padded: vec![0.0; 3 * need],
                even: vec![0.0; 3 * (g.ow + 1)],
                odd: vec![0.0; 3 * (g.ow + 1)],
            };
            for (k, dst) in block.chunks_mut(p).enumerate() {
                let plane = ti * per_task + k;
                let (img, oc) = (plane / g.m, plane % g.m);
                let ic = img * g.c + oc / g.mg;
                let src = &x[ic * g.ih * g.iw..(ic + 1) * g.ih * g.iw];
                let wk = &w[oc * 9..oc * 9 + 9];
                let bias = stage.bias.map_or(0.0, |b| b[oc]);
                plane_dispatch(g, src, wk, bias, dst, &mut s);
                let rest = OutputStage {
                    bias: None,
                    ..*stage
                };
                if !rest.is_noop() {
                    rest.finish(dst, plane, g.m, p, 0);
                }
            }
        });
}

fn plane_dispatch(
    g: &ConvGeom,
    src: &[f32],
    wk: &[f32],
    bias: f32,
    dst: &mut [f32],
    s: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { plane_avx512(g, src, wk, bias, dst, s) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { plane_avx2(g, src, wk, bias, dst, s) };
        }
    }
    plane(g, src, wk, bias, dst, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn plane_avx512(
    g: &ConvGeom,
    src: &[f32],
    wk: &[f32],
    bias: f32,
    dst: &mut [f32],
    s: &mut Scratch,
) {
    plane(g, src, wk, bias, dst, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn plane_avx2(g: &ConvGeom, src: &[f32], wk: &[f32], bias: f32, dst: &mut [f32], s: &mut Scratch) {
    plane(g, src, wk, bias, dst, s)
}

/// One output plane (`oh * ow` values of `dst`) from one input plane `src`.
#[inline(always)]
fn plane(g: &ConvGeom, src: &[f32], wk: &[f32], bias: f32, dst: &mut [f32], s: &mut Scratch) {
    let (ow, iw) = (g.ow, g.iw);
    let need = (ow - 1) * g.sw + 3;
    for oy in 0..g.oh {
        // Zero-padded input rows: padded[ky][i] = input column i - pw (or 0).
        for ky in 0..3 {
            let pr = &mut s.padded[ky * need..(ky + 1) * need];
            match input_row(g, oy, ky) {
                None => pr.fill(0.0),
                Some(y) => {
                    let row = &src[y * iw..(y + 1) * iw];
                    let a = g.pw.min(need);
                    let b = (g.pw + iw).min(need);
                    pr[..a].fill(0.0);
                    pr[b..].fill(0.0);
                    if a < b {
                        pr[a..b].copy_from_slice(&row[..b - a]);
                    }
                }
            }
        }
        let out = &mut dst[oy * ow..(oy + 1) * ow];
        out.fill(bias);
        for ky in 0..3 {
            let pr = &s.padded[ky * need..(ky + 1) * need];
            let (w0, w1, w2) = (wk[ky * 3], wk[ky * 3 + 1], wk[ky * 3 + 2]);
            if g.sw == 1 {
                let (t0, t1, t2) = (&pr[..ow], &pr[1..ow + 1], &pr[2..ow + 2]);
                for i in 0..ow {
                    out[i] += w0 * t0[i] + w1 * t1[i] + w2 * t2[i];
                }
            } else {
                let ev = &mut s.even[ky * (ow + 1)..(ky + 1) * (ow + 1)];
                let od = &mut s.odd[ky * (ow + 1)..ky * (ow + 1) + ow];
                for (j, e) in ev.iter_mut().enumerate() {
                    *e = pr[2 * j];
                }
                for (j, o) in od.iter_mut().enumerate() {
                    *o = pr[2 * j + 1];
                }
                let (t0, t1, t2) = (&ev[..ow], &od[..ow], &ev[1..ow + 1]);
                for i in 0..ow {
                    out[i] += w0 * t0[i] + w1 * t1[i] + w2 * t2[i];
                }
            }
        }
    }
}
