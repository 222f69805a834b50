use super::*;
use crate::cpu::activation::Activation;
use crate::cpu::conv::ConvParams;
use kiln_core::{Attribute, Attributes};

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// (n, c, h, w, m, kh, kw, pad)
type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

fn geom((n, c, h, w, m, kh, kw, p): Case) -> ConvGeom {
    let attrs = Attributes::new().with("pads", Attribute::Ints(vec![p as i64; 4]));
    let params = ConvParams::parse(&attrs).unwrap();
    ConvGeom::new(&params, &[n, c, h, w], &[m, c, kh, kw]).unwrap()
}

/// Naive NCHW convolution with the output stage (f64 sums).
fn naive(g: &ConvGeom, x: &[f32], w: &[f32], stage: &OutputStage<'_>) -> Vec<f32> {
    let p = g.oh * g.ow;
    let mut y = vec![0f32; g.n * g.m * p];
    for img in 0..g.n {
        for oc in 0..g.m {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = stage.bias.map_or(0.0, |b| b[oc]) as f64;
                    for ci in 0..g.c {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy + ky) as isize - g.ph as isize;
                                let ix = (ox + kx) as isize - g.pw as isize;
                                if iy < 0 || ix < 0 || iy >= g.ih as isize || ix >= g.iw as isize {
                                    continue;
                                }
                                let xv =
                                    x[((img * g.c + ci) * g.ih + iy as usize) * g.iw + ix as usize];
                                let wv = w[((oc * g.c + ci) * g.kh + ky) * g.kw + kx];
                                s += (xv * wv) as f64;
                            }
                        }
                    }
                    let o = (img * g.m + oc) * p + oy * g.ow + ox;
                    if let Some(z) = stage.residual {
                        s += z[o] as f64;
                    }
                    y[o] = stage.act.apply(s as f32);
                }
            }
        }
    }
    y
}

fn check(case: Case, act: Activation, with_bias: bool, with_z: bool) {
    let g = geom(case);
    assert!(applies(&g), "{case:?}");
    let x = rand(g.n * g.c * g.ih * g.iw, 1);
    let w = rand(g.m * g.c * g.kh * g.kw, 2);
    let b = rand(g.m, 3);
    let z = rand(g.n * g.m * g.oh * g.ow, 4);
    let stage = OutputStage {
        bias: with_bias.then_some(&b[..]),
        residual: with_z.then_some(&z[..]),
        act,
    };
    let want = naive(&g, &x, &w, &stage);
    let wp = pack_weights(&g, &w);
    let mut got = vec![f32::NAN; want.len()];
    conv_small(&g, &x, &wp, &stage, &mut got);
    let tol = 1e-5 * ((g.c * g.kh * g.kw) as f32).sqrt();
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= tol,
            "{case:?} {act:?} element {i}: {a} vs {b}"
        );
    }
}

#[test]
fn matches_naive_on_many_shapes() {
    let cases: &[Case] = &[
        // The example CNN's convs (3 -> 8 at 32x32, 8 -> 16 at 16x16).
        (2, 3, 32, 32, 8, 3, 3, 1),
        (3, 8, 16, 16, 16, 3, 3, 1),
        // Odd widths (masked tails, one and several column tiles), channel tails.
        (1, 1, 5, 7, 3, 3, 3, 1),
        (1, 4, 9, 45, 21, 3, 3, 0),
        (2, 16, 6, 33, 40, 5, 5, 2),
        (1, 3, 17, 17, 9, 7, 7, 3),
        (1, 2, 4, 70, 17, 1, 3, 0),
        (1, 5, 3, 3, 8, 1, 1, 0),
    ];
    for &c in cases {
        check(c, Activation::Identity, false, false);
        check(c, Activation::Relu, true, true);
    }
    check(cases[0], Activation::Clip(0.0, 0.2), true, false);
    check(cases[1], Activation::Sigmoid, true, true);
}

#[test]
fn portable_tile_matches_the_dispatching_one() {
    // Every tile of one conv through the portable kernel only.
    let g = geom((1, 6, 9, 37, 20, 3, 3, 1));
    let x = rand(g.c * g.ih * g.iw, 5);
    let w = rand(g.m * g.c * 9, 6);
    let b = rand(g.m, 7);
    let stage = OutputStage {
        bias: Some(&b),
        residual: None,
        act: Activation::Clip(0.0, 0.25),
    };
    let want = naive(&g, &x, &w, &stage);
    let wp = pack_weights(&g, &w);
    let ws = g.ow.div_ceil(COL_ROUND) * COL_ROUND + g.kw - 1;
    let rows = g.ih + 2 * g.ph;
    let mut buf = vec![0f32; g.c * rows * ws];
    for ci in 0..g.c {
        for iy in 0..g.ih {
            let d = (ci * rows + iy + g.ph) * ws + g.pw;
            let s = (ci * g.ih + iy) * g.iw;
            buf[d..d + g.iw].copy_from_slice(&x[s..s + g.iw]);
        }
    }
    let k = g.c * g.kh * g.kw;
    let p = g.oh * g.ow;
    let mut got = vec![f32::NAN; want.len()];
    for oy in 0..g.oh {
        for oc0 in (0..g.m).step_by(8) {
            for ox0 in (0..g.ow).step_by(2 * LANES) {
                let t = Tile {
                    src: buf[oy * ws + ox0..].as_ptr(),
                    ws,
                    plane: rows * ws,
                    c: g.c,
                    kh: g.kh,
                    kw: g.kw,
                    w: wp[(oc0 / WB) * k * WB + oc0 % WB..].as_ptr(),
                    out: got[oc0 * p + oy * g.ow + ox0..].as_mut_ptr(),
                    ldo: p,
                    chans: 8.min(g.m - oc0),
                    cols: (2 * LANES).min(g.ow - ox0),
                    bias: Some(b[oc0..].as_ptr()),
                    z: None,
                    clamp: Some((0.0, 0.25)),
                };
                // SAFETY: the tile addresses this test's buffers as run_band lays them out.
                unsafe { tile_portable(&t) };
            }
        }
    }
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

/// GFLOP/s on the example CNN's convs at batch 8, 2 threads (not a CI test: `cargo test
/// --release -p kiln-kernels --lib conv_small -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing_small_cnn_shapes() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for case in [(8, 3, 32, 32, 8, 3, 3, 1), (8, 8, 16, 16, 16, 3, 3, 1)] {
        let g = geom(case);
        let x = rand(g.n * g.c * g.ih * g.iw, 1);
        let w = rand(g.m * g.c * g.kh * g.kw, 2);
        let b = rand(g.m, 3);
        let stage = OutputStage {
            bias: Some(&b),
            residual: None,
            act: Activation::Relu,
        };
        let wp = pack_weights(&g, &w);
        let mut y = vec![0f32; g.n * g.m * g.oh * g.ow];
        let mut best = f64::MAX;
        pool.install(|| {
            for _ in 0..200 {
                let t = std::time::Instant::now();
                conv_small(&g, &x, &wp, &stage, &mut y);
                best = best.min(t.elapsed().as_secs_f64());
            }
        });
        let flops = 2.0 * g.macs() as f64;
        println!(
            "{case:?}: {:.1} us {:.1} GF/s",
            best * 1e6,
            flops / best / 1e9
        );
    }
}
