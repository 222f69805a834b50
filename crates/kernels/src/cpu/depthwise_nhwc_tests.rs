use super::super::conv::ConvParams;
use super::*;

/// Deterministic values in [-1, 1).
fn rand(seed: &mut u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A test convolution: (n, c, (h, w), k, stride, dilation, pads [top, left, bottom, right]).
type Case = (usize, usize, (usize, usize), usize, usize, usize, [i64; 4]);

/// The geometry of a depthwise conv (NCHW input shape, as the tactic builds it).
fn geom((n, c, hw, k, s, d, pads): Case) -> ConvGeom {
    let params = ConvParams {
        auto_pad: "NOTSET".into(),
        dilations: vec![d as i64; 2],
        group: c as i64,
        kernel_shape: None,
        pads: pads.to_vec(),
        strides: vec![s as i64; 2],
    };
    ConvGeom::new(&params, &[n, c, hw.0, hw.1], &[c, 1, k, k]).unwrap()
}

/// NCHW -> NHWC (`planes` = n, `c` channels of `hw` positions).
fn to_nhwc(v: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
    let mut o = vec![0.0; v.len()];
    for i in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                o[(i * hw + p) * c + ch] = v[(i * c + ch) * hw + p];
            }
        }
    }
    o
}

/// Naive NCHW depthwise conv with bias, residual and activation.
fn reference(g: &ConvGeom, x: &[f32], w: &[f32], st: &OutputStage<'_>) -> Vec<f32> {
    let mut o = vec![0.0; g.n * g.c * g.oh * g.ow];
    for i in 0..g.n {
        for ch in 0..g.c {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = st.bias.map_or(0.0, |b| b[ch]) as f64;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let y = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                            let xx = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                            if y >= 0 && xx >= 0 && (y as usize) < g.ih && (xx as usize) < g.iw {
                                let xv =
                                    x[((i * g.c + ch) * g.ih + y as usize) * g.iw + xx as usize];
                                s += (w[(ch * g.kh + ky) * g.kw + kx] * xv) as f64;
                            }
                        }
                    }
                    let at = ((i * g.c + ch) * g.oh + oy) * g.ow + ox;
                    let s = s as f32 + st.residual.map_or(0.0, |r| r[at]);
                    o[at] = st.act.apply(s);
                }
            }
        }
    }
    o
}

/// Compare both paths (the fast one where available) against the reference.
fn check(g: &ConvGeom, act: Activation, with_bias: bool, with_res: bool, seed: &mut u64) {
    assert!(applies(g));
    let (ihw, ohw) = (g.ih * g.iw, g.oh * g.ow);
    let x = rand(seed, g.n * g.c * ihw);
    let w = rand(seed, g.c * g.kh * g.kw);
    let b = rand(seed, g.c);
    let z = rand(seed, g.n * g.c * ohw);
    let st = OutputStage {
        bias: with_bias.then_some(&b[..]),
        residual: with_res.then_some(&z[..]),
        act,
    };
    let want = to_nhwc(&reference(g, &x, &w, &st), g.n, g.c, ohw);
    let zn = to_nhwc(&z, g.n, g.c, ohw);
    let st = OutputStage {
        residual: with_res.then_some(&zn[..]),
        ..st
    };
    let (xn, wp) = (to_nhwc(&x, g.n, g.c, ihw), pack_weights(g, &w));
    let mut paths = vec![false];
    if fast_path() {
        paths.push(true);
    }
    for fast in paths {
        let mut out = vec![f32::NAN; want.len()];
        run(g, &xn, &wp, &st, &mut out, fast);
        for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "fast={fast} {act:?} bias={with_bias} res={with_res} {g:?} at {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn depthwise_nhwc_matches_naive_reference() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let cases: &[Case] = &[
        (1, 8, (9, 11), 3, 1, 1, [1, 1, 1, 1]),
        (3, 16, (8, 8), 3, 1, 1, [1, 1, 1, 1]),
        (1, 40, (15, 13), 3, 2, 1, [1, 1, 1, 1]),
        (3, 96, (14, 14), 3, 2, 1, [1, 1, 1, 1]),
        (1, 144, (7, 7), 3, 1, 1, [1, 1, 1, 1]),
        (1, 144, (12, 17), 3, 2, 1, [0, 0, 1, 1]),
        (1, 40, (11, 10), 5, 1, 1, [2, 2, 2, 2]),
        (3, 96, (13, 9), 5, 2, 1, [2, 2, 2, 2]),
        (1, 16, (10, 12), 3, 1, 2, [2, 2, 2, 2]),
        (1, 40, (9, 9), 3, 2, 2, [1, 2, 0, 1]),
        (1, 8, (3, 2), 3, 1, 1, [1, 1, 1, 1]),
        (1, 72, (2, 2), 5, 1, 1, [2, 2, 2, 2]),
        (3, 24, (6, 7), 1, 1, 1, [0, 0, 0, 0]),
    ];
    for &case in cases {
        let g = geom(case);
        check(&g, Activation::Clip(0.0, 6.0), true, true, &mut seed);
        check(&g, Activation::Identity, false, false, &mut seed);
    }
    let g = geom((1, 40, (9, 9), 3, 1, 1, [1, 1, 1, 1]));
    for act in [Activation::Relu, Activation::HardSwish, Activation::Sigmoid] {
        check(&g, act, true, false, &mut seed);
        check(&g, act, false, true, &mut seed);
    }
}

#[test]
fn depthwise_nhwc_packs_tap_major_and_rejects_grouped() {
    let g = geom((1, 2, (4, 4), 3, 1, 1, [1, 1, 1, 1]));
    let w: Vec<f32> = (0..18).map(|v| v as f32).collect();
    let p = pack_weights(&g, &w);
    assert_eq!(&p[..4], &[0.0, 9.0, 1.0, 10.0]);
    assert_eq!(p[17], 17.0);
    // Two groups of two channels.
    let grouped = ConvGeom {
        cg: 2,
        mg: 2,
        g: 2,
        ..geom((1, 4, (5, 5), 3, 1, 1, [0; 4]))
    };
    assert!(!applies(&grouped));
}

/// Microseconds per call of `f`: the best of 25 short batches (the machine is shared).
fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..25)
        .map(|_| {
            let t = std::time::Instant::now();
            (0..iters).for_each(|_| f());
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Timing of MobileNetV2 shapes (not run by CI): `cargo test --release -p kiln-kernels
/// --lib depthwise_nhwc -- --ignored --nocapture`.
#[test]
#[ignore]
fn depthwise_nhwc_timing() {
    // Inside a pool, as the engine calls it (a call from outside pays a cross-thread
    // wake-up each time).
    for threads in [1, 2] {
        println!("{threads} thread(s):");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.unwrap().install(timing_shapes);
    }
}

/// The shapes of [`depthwise_nhwc_timing`], in the current pool.
fn timing_shapes() {
    let mut seed = 7u64;
    // (c, h, stride)
    for (c, h, s) in [
        (96, 112, 2),
        (144, 56, 1),
        (144, 56, 2),
        (576, 14, 1),
        (960, 7, 1),
    ] {
        let g = geom((1, c, (h, h), 3, s, 1, [1, 1, 1, 1]));
        let x = rand(&mut seed, c * h * h);
        let w = rand(&mut seed, c * 9);
        let (wp, b) = (pack_weights(&g, &w), rand(&mut seed, c));
        let st = OutputStage {
            bias: Some(&b),
            residual: None,
            act: Activation::Clip(0.0, 6.0),
        };
        let mut out = vec![0.0; c * g.oh * g.ow];
        let iters = (50_000_000 / (g.macs() * 4).max(1)).clamp(3, 500);
        let gflops = |us: f64| 2.0 * g.macs() as f64 / (us * 1e3);
        let mut line = format!("{h}x{h}x{c} s{s} -> {}x{}:", g.oh, g.ow);
        for fast in [true, false] {
            if !fast || fast_path() {
                let us = time(iters, || run(&g, &x, &wp, &st, &mut out, fast));
                let name = if fast { "avx512" } else { "portable" };
                line += &format!(" {name} {us:.1} us ({:.1} GFLOP/s);", gflops(us));
            }
        }
        // The NCHW kernel on the same shape, for comparison.
        let us = time(iters, || {
            super::super::depthwise::depthwise3x3(&g, &x, &w, &st, &mut out)
        });
        println!("{line} nchw depthwise3x3 {us:.1} us");
    }
}
