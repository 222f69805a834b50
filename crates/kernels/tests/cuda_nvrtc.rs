//! Every `.cu` kernel source compiles with NVRTC to PTX for sm_80 and sm_90. Needs no GPU,
//! only the NVRTC library: found by name (LD_LIBRARY_PATH), else in `$KILN_NVRTC_LIB_DIR`,
//! else in the `nvidia-cuda-nvrtc` pip package of `python3` (`nvidia/cu13/lib`); the test
//! then re-runs itself with that folder on LD_LIBRARY_PATH. Without NVRTC it skips with the
//! reason printed, or fails when `KILN_REQUIRE_NVRTC=1` (CI).

use kiln_kernels::cuda::{nvrtc, nvrtc_present};
use std::path::PathBuf;
use std::process::Command;

const RERUN_GUARD: &str = "KILN_NVRTC_TEST_RERUN";

/// A folder holding `libnvrtc.so.13`, outside the loader's search path.
fn find_nvrtc_dir() -> Option<PathBuf> {
    let has = |d: &PathBuf| d.join("libnvrtc.so.13").exists() || d.join("libnvrtc.so").exists();
    if let Some(d) = std::env::var_os("KILN_NVRTC_LIB_DIR").map(PathBuf::from) {
        if has(&d) {
            return Some(d);
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import nvidia, os; print('\\n'.join(os.path.join(p, 'cu13', 'lib') for p in nvidia.__path__))",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .find(has)
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90() {
    let required = std::env::var("KILN_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    if !nvrtc_present() {
        if std::env::var_os(RERUN_GUARD).is_none() {
            if let Some(dir) = find_nvrtc_dir() {
                let mut path = dir.clone().into_os_string();
                if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
                    path.push(":");
                    path.push(old);
                }
                let exe = std::env::current_exe().expect("test executable path");
                let status = Command::new(exe)
                    .args([
                        "--exact",
                        "every_kernel_compiles_for_sm80_and_sm90",
                        "--nocapture",
                    ])
                    .env("LD_LIBRARY_PATH", path)
                    .env(RERUN_GUARD, "1")
                    .status()
                    .expect("re-running the test with NVRTC on LD_LIBRARY_PATH");
                assert!(
                    status.success(),
                    "NVRTC compile test failed (NVRTC from {})",
                    dir.display()
                );
                return;
            }
        }
        let why = "NVRTC (libnvrtc.so.13) not found: install it with `python3 -m pip install \"nvidia-cuda-nvrtc==13.0.*\"` or put the CUDA toolkit's lib folder on LD_LIBRARY_PATH (or set KILN_NVRTC_LIB_DIR)";
        assert!(!required, "KILN_REQUIRE_NVRTC=1 but {why}");
        eprintln!("SKIPPED every_kernel_compiles_for_sm80_and_sm90: {why}");
        return;
    }
    let (major, minor) = nvrtc::version().expect("NVRTC version");
    eprintln!("NVRTC {major}.{minor}");
    let mut failures = Vec::new();
    let mut compiled = 0;
    for arch in ["sm_80", "sm_90"] {
        for (name, _) in nvrtc::SOURCES {
            match nvrtc::compile(name, arch) {
                Ok(ptx) => {
                    assert!(
                        ptx.contains(".entry"),
                        "{name}.cu for {arch}: PTX has no kernel entry"
                    );
                    compiled += 1;
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} kernel source(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{compiled} module compilations OK");
}

#[test]
fn every_kernel_named_by_the_ops_exists_in_the_sources() {
    // Each `ex.function(module, name)` call in the op files names a kernel of that module.
    let ops_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/cuda/ops");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&ops_dir).expect("ops folder") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("op source");
        for call in text.split("function(\"").skip(1) {
            let mut parts = call.split('"');
            let module = parts.next().unwrap_or_default();
            let func = parts.nth(1).unwrap_or_default();
            let src = nvrtc::source(module).unwrap_or_default();
            if !src.contains(&format!("void {func}(")) {
                missing.push(format!("{}: {module}::{func}", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "kernels not found: {missing:?}");
}

#[test]
fn every_templated_kernel_is_instantiated_for_each_float_type() {
    // Each `ex.function_t(module, base, dtype)` call names a template instantiated for f32,
    // f16 and bf16 (`KILN_FLOAT_TYPES(...)` over a macro defining `base_##S`).
    let ops_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/cuda/ops");
    let mut missing = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&ops_dir).expect("ops folder") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("op source");
        for call in text.split("function_t(\"").skip(1) {
            let mut parts = call.split('"');
            let module = parts.next().unwrap_or_default();
            let base = parts.nth(1).unwrap_or_default();
            let src = nvrtc::source(module).unwrap_or_default();
            let defined = src.contains(&format!("void {base}_##S("));
            let macro_name = src
                .split(&format!("void {base}_##S("))
                .next()
                .and_then(|before| before.rsplit("#define ").next())
                .and_then(|d| d.split('(').next())
                .unwrap_or_default()
                .to_string();
            if !defined || !src.contains(&format!("KILN_FLOAT_TYPES({macro_name})")) {
                missing.push(format!("{}: {module}::{base}", path.display()));
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} templated kernel calls found");
    assert!(
        missing.is_empty(),
        "templated kernels not instantiated: {missing:?}"
    );
}
