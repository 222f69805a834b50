//! Helpers shared by the CUDA kernel tests.

use kiln_core::{Attribute, Attributes, Tensor};
use kiln_kernels::cuda::{Gpu, device_count, driver_present};
use std::sync::{Arc, OnceLock};

/// GPU 0, opened once per test binary; `None` (with the reason printed, tagged `what`) when
/// there is none. `KILN_REQUIRE_GPU=1` (the GPU machine's runs) turns the skip into a failure.
pub fn gpu(what: &str) -> Option<Arc<Gpu>> {
    static GPU: OnceLock<Result<Arc<Gpu>, String>> = OnceLock::new();
    let required = std::env::var("KILN_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let r = GPU.get_or_init(|| {
        if !driver_present() {
            return Err("no CUDA driver (libcuda) on this machine".to_string());
        }
        if device_count() == 0 {
            return Err("no CUDA device on this machine".to_string());
        }
        Gpu::open(0).map_err(|e| e.to_string())
    });
    match r {
        Ok(g) => Some(g.clone()),
        Err(why) => {
            assert!(!required, "KILN_REQUIRE_GPU=1 but {why}");
            eprintln!("SKIPPED ({what}): {why}");
            None
        }
    }
}

/// A tensor of `shape` with values uniform in `[lo, hi)` from a fixed-seed generator.
pub fn random(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 40) as f32) / (1u64 << 24) as f32;
            lo + (hi - lo) * u
        })
        .collect();
    Tensor::from_vec(shape, v).expect("tensor")
}

/// Attributes from `(name, value)` pairs.
pub fn attrs(list: &[(&str, Attribute)]) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in list {
        a.set(k, v.clone());
    }
    a
}

/// The largest scaled error `err(gpu, cpu)` over the elements, and where it is (a NaN error
/// counts as the worst).
pub fn worst(got: &[f64], want: &[f64], err: impl Fn(f64, f64) -> f64) -> (f64, usize) {
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let e = err(*a, *b);
        if !(e <= worst.0) {
            worst = (e, i);
        }
    }
    worst
}
