//! Helpers shared by the CUDA kernel tests.

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
