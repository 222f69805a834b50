//! Tests of the packed micro-kernel, packing and the pack cache.

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
fn micro_kernel_matches_naive_on_odd_tiles() {
    let mut seed = 7u64;
    for &(m, n, k) in &[(8, 32, 5), (3, 17, 9), (5, 1, 1), (8, 31, 300), (1, 32, 2)] {
        let a = rand(m * k, &mut seed);
        let b = rand(k * n, &mut seed);
        let pa = PackedA::pack(m, k, &a, k, 1);
        let pb = PackedB::pack(k, n, &b, n, 1);
        for accumulate in [false, true] {
            let init = rand(m * n, &mut seed);
            let mut c = init.clone();
            // SAFETY: c is m x n with row stride n, m <= MR, n <= NR.
            unsafe {
                micro_kernel(
                    k,
                    pa.panel(0, 0),
                    pb.panel(0, 0).as_ptr(),
                    NR,
                    c.as_mut_ptr(),
                    n,
                    m,
                    n,
                    accumulate,
                )
            };
            for i in 0..m {
                for j in 0..n {
                    let mut want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                    if accumulate {
                        want += init[i * n + j];
                    }
                    let got = c[i * n + j];
                    assert!(
                        (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "{m}x{n}x{k}"
                    );
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn pack_cache_rejects_other_tensors_at_the_same_place() {
    use kiln_core::ndarray::IxDyn;
    let mut w =
        ArrayD::from_shape_vec(IxDyn(&[4, 80]), (0..320).map(|v| v as f32).collect()).unwrap();
    let cache = PackCache::new();
    cache.set(Some((&w, 7u32)));
    assert_eq!(cache.get(&w).as_deref(), Some(&7));
    // Same buffer (address and shape), new values: stale, not served.
    w[[3, 79]] = -1.0;
    assert!(cache.get(&w).is_none());
    w[[3, 79]] = 319.0;
    assert!(cache.get(&w).is_some());
    // Another tensor with the same values elsewhere: not the packed one either.
    let copy = w.clone();
    assert!(cache.get(&copy).is_none());
    cache.set(None);
    assert!(cache.get(&w).is_none());
}

#[test]
fn packing_transposed_sources() {
    let mut seed = 3u64;
    let (k, n) = (5, 37);
    let bt = rand(n * k, &mut seed); // stored n x k
    let pb = PackedB::pack(k, n, &bt, 1, k);
    assert_eq!(pb.panel(1, 2)[3], bt[(32 + 3) * k + 2]);
    assert_eq!(pb.panel(1, 0)[5], 0.0); // column 37 is padding
    let pa = PackedA::pack(n, k, &bt, k, 1);
    assert_eq!(pa.panel(4, 1)[2], bt[34 * k + 1]);
}
