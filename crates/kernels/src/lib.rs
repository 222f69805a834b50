//! Kiln backends and kernels.
