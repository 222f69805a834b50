//! Shared helpers: where the plugin libraries built by this test run are, example files,
//! a small .npy reader.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The plugin library `lib<name>.so` built by this test run (the plugin crates are
/// dev-dependencies, so cargo builds their cdylibs next to the test executable, in
/// `target/<profile>/deps`). `KILN_PLUGIN_DIR` overrides the directory (device runs).
pub fn plugin_path(name: &str) -> PathBuf {
    let file = format!(
        "{}{name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let exe = std::env::current_exe().expect("test executable path");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("KILN_PLUGIN_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(d) = exe.parent() {
        dirs.push(d.to_path_buf());
        if let Some(p) = d.parent() {
            dirs.push(p.to_path_buf());
        }
    }
    for d in &dirs {
        if d.join(&file).is_file() {
            return d.join(&file);
        }
    }
    panic!(
        "plugin library {file} was not found in {dirs:?}: it is built by `cargo test -p kiln-plugin-tests` \
         (the plugin crates are dev-dependencies of this crate)"
    );
}

/// A file under `examples/plugins`.
pub fn example(name: &str) -> PathBuf {
    root().join("examples/plugins").join(name)
}

/// Read a little-endian f32 `.npy` file: (shape, values).
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.starts_with(b"\x93NUMPY"),
        "{} is not .npy",
        path.display()
    );
    let (hlen, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).expect("header");
    assert!(header.contains("'<f4'"), "only f32 .npy: {header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dim"))
        .collect();
    let data = b[start + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

/// Largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// SwiGLU reference (`silu(a; beta) * b` over halves of the last axis).
pub fn swiglu_ref(x: &[f32], h: usize, beta: f32) -> Vec<f32> {
    x.chunks_exact(2 * h)
        .flat_map(|r| {
            let (a, b) = r.split_at(h);
            a.iter()
                .zip(b)
                .map(move |(&a, &b)| a / (1.0 + (-beta * a).exp()) * b)
                .collect::<Vec<_>>()
        })
        .collect()
}
