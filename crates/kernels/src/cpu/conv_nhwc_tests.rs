use super::*;
use crate::cpu::conv::ConvParams;
use kiln_core::{Attribute, Attributes};

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// (n, c, h, w, m, k, stride, pad, dilation)
type Case = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

fn geom(case: Case) -> ConvGeom {
    let (n, c, h, w, m, k, s, p, d) = case;
    let attrs = Attributes::new()
        .with("strides", Attribute::Ints(vec![s as i64; 2]))
        .with("pads", Attribute::Ints(vec![p as i64; 4]))
        .with("dilations", Attribute::Ints(vec![d as i64; 2]));
    let params = ConvParams::parse(&attrs).unwrap();
    ConvGeom::new(&params, &[n, c, h, w], &[m, c, k, k]).unwrap()
}

/// Naive NHWC convolution with bias, residual and activation.
fn naive(g: &ConvGeom, x: &[f32], w: &[f32], stage: &OutputStage<'_>) -> Vec<f32> {
    let mut y = vec![0f32; g.n * g.oh * g.ow * g.m];
    for img in 0..g.n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let r = (img * g.oh + oy) * g.ow + ox;
                for oc in 0..g.m {
                    let mut s = stage.bias.map_or(0.0, |b| b[oc]) as f64;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                            if iy < 0 || ix < 0 || iy >= g.ih as isize || ix >= g.iw as isize {
                                continue;
                            }
                            let xi = ((img * g.ih + iy as usize) * g.iw + ix as usize) * g.c;
                            for ci in 0..g.c {
                                let wv = w[((oc * g.c + ci) * g.kh + ky) * g.kw + kx];
                                s += (x[xi + ci] * wv) as f64;
                            }
                        }
                    }
                    if let Some(z) = stage.residual {
                        s += z[r * g.m + oc] as f64;
                    }
                    y[r * g.m + oc] = stage.act.apply(s as f32);
                }
            }
        }
    }
    y
}

fn check(case: Case, act: Activation, with_bias: bool, with_z: bool) {
    let g = geom(case);
    let x = rand(g.n * g.ih * g.iw * g.c, 1);
    let w = rand(g.m * g.c * g.kh * g.kw, 2);
    let b = rand(g.m, 3);
    let z = rand(g.n * g.oh * g.ow * g.m, 4);
    let stage = OutputStage {
        bias: with_bias.then_some(&b[..]),
        residual: with_z.then_some(&z[..]),
        act,
    };
    let want = naive(&g, &x, &w, &stage);
    let pb = pack_filters(&g, &w);
    assert!(filters_fit(&g, &pb));
    for blk in [Blocking::WIDE, Blocking::SMALL] {
        let mut got = vec![f32::NAN; want.len()];
        conv_nhwc(&g, &x, &pb, &stage, None, blk, &mut got);
        compare(case, act, &g, &got, &want);
    }
}

fn compare(case: Case, act: Activation, g: &ConvGeom, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(1e-3f32, |a, v| a.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * scale * (g.kc() as f32).sqrt(),
            "{case:?} {act:?} element {i}: {a} vs {b}"
        );
    }
}

#[test]
fn matches_naive_on_many_shapes() {
    let cases: &[Case] = &[
        (1, 3, 9, 9, 8, 3, 1, 1, 1),
        (1, 16, 7, 7, 32, 3, 1, 1, 1),
        (2, 5, 6, 5, 33, 3, 2, 1, 1),
        (1, 3, 23, 23, 64, 7, 2, 3, 1),
        (1, 64, 14, 14, 40, 1, 1, 0, 1),
        (3, 24, 5, 5, 70, 1, 2, 0, 1),
        (1, 300, 4, 4, 17, 1, 1, 0, 1),
        (1, 40, 9, 9, 48, 3, 1, 2, 2),
        (1, 8, 6, 7, 16, 2, 1, 0, 1),
        (1, 130, 3, 3, 96, 3, 1, 1, 1),
    ];
    for &c in cases {
        check(c, Activation::Identity, false, false);
        check(c, Activation::Relu, true, true);
    }
    check(cases[1], Activation::Clip(0.0, 0.3), true, false);
    check(cases[2], Activation::Sigmoid, true, true);
}

#[test]
fn portable_tile_matches_the_dispatching_one() {
    // A whole conv through the portable tile only (the dispatching path is checked above).
    let g = geom((1, 20, 6, 6, 40, 3, 1, 1, 1));
    let x = rand(g.n * g.ih * g.iw * g.c, 5);
    let w = rand(g.m * g.c * 9, 6);
    let b = rand(g.m, 7);
    let stage = OutputStage {
        bias: Some(&b),
        residual: None,
        act: Activation::Relu,
    };
    let want = naive(&g, &x, &w, &stage);
    let pb = pack_filters(&g, &w);
    let src = padded(&g, &x);
    let geo = Geo {
        g: &g,
        x: &src.data,
        h: src.h,
        w: src.w,
        segs: g.kh,
        seg_len: g.kw * g.c,
        panel_bytes: Blocking::WIDE.panel_bytes,
    };
    let rows = g.oh * g.ow;
    let mut got = vec![0f32; rows * g.m];
    let k = g.kh * g.kw * g.c;
    for q in 0..g.m.div_ceil(NR) {
        for rt in (0..rows).step_by(MR_NHWC) {
            let ptrs: Vec<[*const f32; MR_NHWC]> = (0..g.kh)
                .map(|s| std::array::from_fn(|i| geo.seg_ptr((rt + i).min(rows - 1), s)))
                .collect();
            let off = rt * g.m + q * NR;
            let tile = Tile {
                ptrs: &ptrs,
                seg_len: geo.seg_len,
                k0: 0,
                k1: k,
                b: pb.panel(q, 0).as_ptr(),
                c: got[off..].as_mut_ptr(),
                ldc: g.m,
                rows: MR_NHWC.min(rows - rt),
                cols: NR.min(g.m - q * NR),
                accumulate: false,
            };
            let epi = Epilogue {
                bias: Some(b[q * NR..].as_ptr()),
                z: None,
                act: Activation::Relu,
            };
            // SAFETY: the pointers address this test's buffers as the tile requires.
            unsafe { tile_portable(&tile, Some(&epi)) };
        }
    }
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

/// GFLOP/s on ResNet-50 shapes at batch 1, 2 threads (not a CI test: `cargo test --release
/// -p kiln-kernels --lib conv_nhwc -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing_resnet50_shapes() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let cases: &[Case] = &[
        (1, 3, 224, 224, 64, 7, 2, 3, 1),
        (1, 64, 56, 56, 64, 3, 1, 1, 1),
        (1, 128, 28, 28, 128, 3, 1, 1, 1),
        (1, 256, 14, 14, 256, 3, 1, 1, 1),
        (1, 512, 7, 7, 512, 3, 1, 1, 1),
        (1, 64, 56, 56, 256, 1, 1, 0, 1),
        (1, 256, 56, 56, 64, 1, 1, 0, 1),
        (1, 1024, 14, 14, 256, 1, 1, 0, 1),
        (1, 256, 14, 14, 1024, 1, 1, 0, 1),
        (1, 1024, 14, 14, 2048, 1, 2, 0, 1),
    ];
    for &c in cases {
        let g = geom(c);
        let x = rand(g.n * g.ih * g.iw * g.c, 1);
        let w = rand(g.m * g.c * g.kh * g.kw, 2);
        let b = rand(g.m, 3);
        let stage = OutputStage {
            bias: Some(&b),
            residual: None,
            act: Activation::Relu,
        };
        let pb = pack_filters(&g, &w);
        let mut y = vec![0f32; g.n * g.oh * g.ow * g.m];
        let iters = 20;
        let flops = 2.0 * g.macs() as f64;
        for blk in [Blocking::WIDE, Blocking::SMALL] {
            let mut best = f64::MAX;
            pool.install(|| {
                for _ in 0..iters {
                    let t = std::time::Instant::now();
                    conv_nhwc(&g, &x, &pb, &stage, None, blk, &mut y);
                    best = best.min(t.elapsed().as_secs_f64());
                }
            });
            println!(
                "{c:?} {blk:?}: {:.3} ms {:.1} GF/s",
                best * 1e3,
                flops / best / 1e9
            );
        }
    }
}

/// GFLOP/s on BERT-base MatMul shapes (rows x K x N as 1x1 convs), 2 threads (not a CI test).
#[test]
#[ignore]
fn timing_matmul_shapes() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (rows, k, n) in [
        (128, 768, 3072),
        (128, 3072, 768),
        (128, 768, 768),
        (128, 768, 2304),
        (1024, 768, 3072),
    ] {
        let params = ConvParams::parse(&Attributes::new()).unwrap();
        let g = ConvGeom::new(&params, &[1, k, rows, 1], &[n, k, 1, 1]).unwrap();
        let x = rand(rows * k, 1);
        let w = rand(n * k, 2);
        let b = rand(n, 3);
        let stage = OutputStage {
            bias: Some(&b),
            residual: None,
            act: Activation::Identity,
        };
        let pb = pack_filters(&g, &w);
        let mut y = vec![0f32; rows * n];
        let mut best = f64::MAX;
        pool.install(|| {
            for _ in 0..10 {
                let t = std::time::Instant::now();
                conv_nhwc(&g, &x, &pb, &stage, None, Blocking::WIDE, &mut y);
                best = best.min(t.elapsed().as_secs_f64());
            }
        });
        let flops = 2.0 * (rows * k * n) as f64;
        println!(
            "{rows}x{k}x{n}: {:.3} ms {:.1} GF/s",
            best * 1e3,
            flops / best / 1e9
        );
    }
}
