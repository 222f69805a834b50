//! Precision of GPU engines: FP32, FP32 with TF32 tensor cores, FP16 and BF16 (activations
//! and weights stored in 16 bits, products and reductions accumulated in FP32), and the
//! per-layer constraint that keeps chosen layers in FP32.

use std::fmt;
use std::str::FromStr;

/// Build precision of a GPU engine (CPU engines always run FP32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// IEEE FP32 everywhere (the default).
    #[default]
    Fp32,
    /// FP32 storage; GEMMs and convolutions may use TF32 tensor cores.
    Tf32,
    /// FP16 storage of activations and weights between GPU layers, FP32 accumulation.
    Fp16,
    /// BF16 storage, FP32 accumulation.
    Bf16,
}

impl Precision {
    /// Lower-case name, as recorded per layer in plans (`fp32`, `tf32`, `fp16`, `bf16`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The element type reduced-precision layers store (`None`: f32).
    pub fn storage(self) -> Option<kiln_core::DataType> {
        match self {
            Precision::Fp16 => Some(kiln_core::DataType::F16),
            Precision::Bf16 => Some(kiln_core::DataType::BF16),
            _ => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Precision, String> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Precision::Fp32),
            "tf32" => Ok(Precision::Tf32),
            "fp16" | "f16" | "half" => Ok(Precision::Fp16),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!(
                "unknown precision '{s}': use fp32, tf32, fp16 or bf16"
            )),
        }
    }
}

/// True when `pattern` selects a layer: its name, one of the original node names it
/// implements, or its op type; `*` matches any run of characters (`*LayerNorm*`,
/// `Softmax`, `/encoder/layer.0/*`).
pub fn layer_matches(pattern: &str, name: &str, fused: &[String], op_type: &str) -> bool {
    glob(pattern, name) || glob(pattern, op_type) || fused.iter().any(|f| glob(pattern, f))
}

/// Glob match with `*` wildcards only.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The precision recorded for one layer: `fp32` for CPU builds and for layers matching a
/// `keep_fp32` pattern, else the build's.
pub fn layer_precision(
    build: Precision,
    gpu: bool,
    keep_fp32: &[String],
    name: &str,
    fused: &[String],
    op_type: &str,
) -> Precision {
    if !gpu
        || keep_fp32
            .iter()
            .any(|p| layer_matches(p, name, fused, op_type))
    {
        match (gpu, build) {
            (true, Precision::Tf32) => Precision::Tf32,
            _ => Precision::Fp32,
        }
    } else {
        build
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_op_types_and_fused_nodes() {
        assert!(layer_matches("Softmax", "sm0", &[], "Softmax"));
        assert!(layer_matches("*norm*", "enc/layernorm_3", &[], "X"));
        assert!(layer_matches("a*c", "abbbc", &[], "X"));
        assert!(!layer_matches("a*c", "abbb", &[], "X"));
        assert!(!layer_matches("ab*ba", "aba", &[], "X"));
        assert!(layer_matches(
            "conv1",
            "fused_0",
            &["conv1".into()],
            "FusedConv"
        ));
        assert!(!layer_matches("conv1", "conv10", &[], "Conv"));
    }

    #[test]
    fn keep_fp32_and_cpu_builds_stay_fp32() {
        let keep = vec!["LayerNormalization".to_string()];
        let p = |gpu, op| layer_precision(Precision::Fp16, gpu, &keep, "l", &[], op);
        assert_eq!(p(true, "Conv"), Precision::Fp16);
        assert_eq!(p(true, "LayerNormalization"), Precision::Fp32);
        assert_eq!(p(false, "Conv"), Precision::Fp32);
        assert_eq!(
            layer_precision(Precision::Tf32, true, &keep, "l", &[], "LayerNormalization"),
            Precision::Tf32
        );
        assert_eq!("FP16".parse::<Precision>(), Ok(Precision::Fp16));
        assert!("fp8".parse::<Precision>().is_err());
    }
}
