//! The 3x3 depthwise kernel of MobileNets (one input channel per output channel, stride 1
//! or 2, dilation 1). With AVX-512: each input plane is copied once into a zero-bordered
//! scratch plane, and 16 outputs of a row at a time take their nine taps from unaligned
//! loads (stride 2: even/odd columns split by permutes), bias included. Elsewhere: per output
//! row, the three input rows are copied once into zero-padded rows (split into even and odd
//! columns for stride 2) so all nine taps are contiguous multiply-adds (compiled for
//! AVX2+FMA as well).

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
    /// The zero-bordered plane of the AVX-512 kernel (borders stay zero: every plane of a
    /// task writes the same interior).
    plane: Vec<f32>,
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
                plane: Vec::new(),
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

/// Extra zeroed columns after each scratch row: the stride-2 loads read past the last tap.
const SLACK: usize = 48;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn plane_avx512(
    g: &ConvGeom,
    src: &[f32],
    wk: &[f32],
    bias: f32,
    dst: &mut [f32],
    s: &mut Scratch,
) {
    use std::arch::x86_64::*;
    let (ow, oh) = (g.ow, g.oh);
    let rows = (oh - 1) * g.sh + 3;
    let cols = (ow - 1) * g.sw + 3;
    let stride = cols + SLACK;
    if s.plane.len() != rows * stride {
        s.plane = vec![0.0; rows * stride];
    }
    // Interior: padded (r, c) holds input (r - ph, c - pw).
    if g.pw < cols {
        let count = g.iw.min(cols - g.pw);
        for r in 0..rows {
            if let Some(y) = r.checked_sub(g.ph).filter(|&y| y < g.ih) {
                let d = r * stride + g.pw;
                s.plane[d..d + count].copy_from_slice(&src[y * g.iw..y * g.iw + count]);
            }
        }
    }
    let buf = &s.plane;
    assert!(dst.len() >= oh * ow && wk.len() >= 9);
    let w: [__m512; 9] = std::array::from_fn(|i| _mm512_set1_ps(wk[i]));
    let b = _mm512_set1_ps(bias);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for oy in 0..oh {
        let r0 = oy * g.sh * stride;
        let d = &mut dst[oy * ow..(oy + 1) * ow];
        let mut ox = 0;
        while ox < ow {
            let left = ow - ox;
            let m: __mmask16 = if left >= 16 {
                0xffff
            } else {
                (1u16 << left) - 1
            };
            let mut acc = b;
            for ky in 0..3 {
                let row = r0 + ky * stride;
                if g.sw == 1 {
                    // SAFETY: reads row + ox + kx + 0..16 <= row + ow + 17 < row + stride,
                    // inside `buf` (rows * stride elements).
                    unsafe {
                        let p = buf.as_ptr().add(row + ox);
                        acc = _mm512_fmadd_ps(w[ky * 3], _mm512_loadu_ps(p), acc);
                        acc = _mm512_fmadd_ps(w[ky * 3 + 1], _mm512_loadu_ps(p.add(1)), acc);
                        acc = _mm512_fmadd_ps(w[ky * 3 + 2], _mm512_loadu_ps(p.add(2)), acc);
                    }
                } else {
                    // SAFETY: reads row + 2*ox + 0..34 <= row + 2*ow + 32 < row + stride
                    // (stride = 2*ow + 1 + SLACK), inside `buf`.
                    unsafe {
                        let p = buf.as_ptr().add(row + 2 * ox);
                        let (v0, v1) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
                        let (v2, v3) = (_mm512_loadu_ps(p.add(2)), _mm512_loadu_ps(p.add(18)));
                        let e0 = _mm512_permutex2var_ps(v0, even, v1);
                        let o0 = _mm512_permutex2var_ps(v0, odd, v1);
                        let e1 = _mm512_permutex2var_ps(v2, even, v3);
                        acc = _mm512_fmadd_ps(w[ky * 3], e0, acc);
                        acc = _mm512_fmadd_ps(w[ky * 3 + 1], o0, acc);
                        acc = _mm512_fmadd_ps(w[ky * 3 + 2], e1, acc);
                    }
                }
            }
            // SAFETY: the masked store writes outputs ox..ox + min(16, left) of row oy, inside
            // `d` (ow elements).
            unsafe { _mm512_mask_storeu_ps(d.as_mut_ptr().add(ox), m, acc) };
            ox += 16;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::activation::Activation;
    use super::super::conv::ConvParams;
    use super::*;

    #[test]
    fn depthwise_matches_naive_odd_sizes() {
        let mut seed = 0x9e37_79b9u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        };
        // (n, c, h, w, stride h, stride w, pads [top, left, bottom, right])
        let cases = [
            (1, 3, 7, 9, 1, 1, [1, 1, 1, 1]),
            (2, 5, 17, 33, 2, 2, [1, 1, 1, 1]),
            (1, 4, 112, 113, 2, 2, [0, 0, 1, 1]),
            (1, 2, 5, 40, 1, 2, [2, 0, 0, 2]),
            (1, 3, 14, 14, 1, 1, [0, 0, 0, 0]),
            (1, 2, 3, 1, 2, 1, [1, 1, 1, 1]),
        ];
        for (n, c, h, w, sh, sw, pads) in cases {
            let params = ConvParams {
                auto_pad: "NOTSET".into(),
                dilations: vec![],
                group: c as i64,
                kernel_shape: None,
                pads: pads.iter().map(|&p| p as i64).collect(),
                strides: vec![sh as i64, sw as i64],
            };
            let g = ConvGeom::new(&params, &[n, c, h, w], &[c, 1, 3, 3]).unwrap();
            assert!(applies(&g));
            let x = rand(n * c * h * w);
            let wt = rand(c * 9);
            let b = rand(c);
            let mut out = vec![f32::NAN; n * c * g.positions()];
            let stage = OutputStage {
                bias: Some(&b),
                residual: None,
                act: Activation::Clip(0.0, 6.0),
            };
            depthwise3x3(&g, &x, &wt, &stage, &mut out);
            for img in 0..n {
                for ch in 0..c {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let mut s = b[ch];
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let y = (oy * sh + ky) as isize - pads[0] as isize;
                                    let xx = (ox * sw + kx) as isize - pads[1] as isize;
                                    if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                        s += wt[ch * 9 + ky * 3 + kx]
                                            * x[((img * c + ch) * h + y as usize) * w
                                                + xx as usize];
                                    }
                                }
                            }
                            let want = s.clamp(0.0, 6.0);
                            let got = out[(img * c + ch) * g.positions() + oy * g.ow + ox];
                            assert!(
                                (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                                "{g:?} at ({img}, {ch}, {oy}, {ox}): {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
