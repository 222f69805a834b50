//! Activations fused into the output stage of the heavy kernels (and used by the unary
//! elementwise tactic): parsed from a fused layer's `activation` / `activation_alpha` /
//! `activation_beta` attributes, applied to a slice in place.

use kiln_core::{Attributes, Error, Result};

/// An activation applied elementwise after bias and residual.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// No activation.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)` (Relu6 is `Clip(0, 6)`).
    Clip(f32, f32),
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x` for `x >= 0`, else `alpha * x`.
    LeakyRelu(f32),
    /// `x * max(0, min(1, x / 6 + 0.5))`.
    HardSwish,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid(f32, f32),
    /// `0.5 * x * (1 + erf(x / sqrt(2)))`.
    Gelu,
    /// `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))`.
    GeluTanh,
}

impl Activation {
    /// The activation named by a fused layer's attributes (`activation`, with
    /// `activation_alpha` / `activation_beta`); the empty string or a missing attribute is
    /// [`Activation::Identity`].
    pub fn from_attrs(a: &Attributes) -> Result<Activation> {
        let name = a.string_or("activation", String::new())?;
        let alpha = a.float("activation_alpha")?;
        let beta = a.float("activation_beta")?;
        Activation::from_name(&name, alpha, beta)
    }

    /// The activation `name` with optional parameters (ONNX defaults when absent).
    pub fn from_name(name: &str, alpha: Option<f32>, beta: Option<f32>) -> Result<Activation> {
        Ok(match name {
            "" | "Identity" => Activation::Identity,
            "Relu" => Activation::Relu,
            "Clip" | "Relu6" => Activation::Clip(
                alpha.unwrap_or(f32::NEG_INFINITY),
                beta.unwrap_or(if name == "Relu6" { 6.0 } else { f32::INFINITY }),
            ),
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            "LeakyRelu" => Activation::LeakyRelu(alpha.unwrap_or(0.01)),
            "HardSwish" => Activation::HardSwish,
            "HardSigmoid" => Activation::HardSigmoid(alpha.unwrap_or(0.2), beta.unwrap_or(0.5)),
            "Gelu" => Activation::Gelu,
            "GeluTanh" => Activation::GeluTanh,
            other => {
                return Err(Error::attr(
                    "activation",
                    format!("unknown activation '{other}'"),
                ));
            }
        })
    }

    /// The activation of one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip(lo, hi) => x.max(lo).min(hi),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_tanh(x),
        }
    }

    /// Apply in place to every element (the match is hoisted out of the loop so each arm
    /// vectorizes on its own).
    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Clip(lo, hi) => xs.iter_mut().for_each(|x| *x = x.max(lo).min(hi)),
            Activation::LeakyRelu(a) => xs
                .iter_mut()
                .for_each(|x| *x = if *x >= 0.0 { *x } else { a * *x }),
            Activation::HardSwish => xs
                .iter_mut()
                .for_each(|x| *x *= (*x / 6.0 + 0.5).clamp(0.0, 1.0)),
            Activation::HardSigmoid(a, b) => xs
                .iter_mut()
                .for_each(|x| *x = (a * *x + b).clamp(0.0, 1.0)),
            other => xs.iter_mut().for_each(|x| *x = other.apply(*x)),
        }
    }

    /// True for the identity.
    pub fn is_identity(self) -> bool {
        self == Activation::Identity
    }
}

/// Logistic sigmoid, stable for large `|x|`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Exact GELU through `erfc`, accurate in the negative tail too.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * libm::erfcf(-x * std::f32::consts::FRAC_1_SQRT_2)
}

/// tanh-approximated GELU.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_known_values() {
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-6);
        // Tail: 0.5 * -5 * erfc(5 / sqrt 2) = -1.4332e-6.
        assert!((gelu(-5.0) / -1.433_3e-6 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn parses_names_and_rejects_unknown() {
        assert_eq!(
            Activation::from_name("Clip", Some(0.0), Some(6.0)).unwrap(),
            Activation::Clip(0.0, 6.0)
        );
        assert_eq!(
            Activation::from_name("LeakyRelu", None, None).unwrap(),
            Activation::LeakyRelu(0.01)
        );
        assert!(Activation::from_name("Swish7", None, None).is_err());
    }
}
