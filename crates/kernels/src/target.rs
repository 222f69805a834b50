//! Target fingerprints: what a plan depends on to run.

use std::fmt;

/// The target a plan was built for: backend, CPU architecture and ISA features in use.
///
/// Displayed as `cpu/x86_64+avx2+fma`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TargetFingerprint {
    /// Backend name (`cpu`).
    pub backend: String,
    /// Architecture (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// ISA features the kernels use (sorted).
    pub features: Vec<String>,
}

impl TargetFingerprint {
    /// Features of `self` the `host` lacks.
    pub fn missing_on(&self, host: &TargetFingerprint) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !host.features.contains(f))
            .cloned()
            .collect()
    }

    /// True when a plan built for `self` can run on `host`: same backend and architecture,
    /// and the host has every feature the plan uses.
    pub fn runs_on(&self, host: &TargetFingerprint) -> bool {
        self.backend == host.backend && self.arch == host.arch && self.missing_on(host).is_empty()
    }
}

impl fmt::Display for TargetFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.arch)?;
        for feat in &self.features {
            write!(f, "+{feat}")?;
        }
        Ok(())
    }
}
