//! Activations fused into the output stage of the heavy kernels (and used by the unary
//! elementwise tactic): converted from the fused layer's
//! [`kiln_core::ops::fused::Activation`] (which parses the attributes), applied to a slice in
//! place with loops that vectorize.

use kiln_core::ops::fused::Activation as FusedActivation;
use kiln_core::{Attributes, Result};

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
    /// `activation_alpha` / `activation_beta`), as the core fused-layer type parses them.
    pub fn from_attrs(a: &Attributes) -> Result<Activation> {
        FusedActivation::from_attrs(a).map(Activation::from)
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
            Activation::Gelu => super::fastmath::gelu_slice(xs),
            other => xs.iter_mut().for_each(|x| *x = other.apply(*x)),
        }
    }

    /// True for the identity.
    pub fn is_identity(self) -> bool {
        self == Activation::Identity
    }
}

impl From<FusedActivation> for Activation {
    fn from(a: FusedActivation) -> Activation {
        match a {
            FusedActivation::None => Activation::Identity,
            FusedActivation::Relu => Activation::Relu,
            FusedActivation::Clip { min, max } => Activation::Clip(min, max),
            FusedActivation::Sigmoid => Activation::Sigmoid,
            FusedActivation::Tanh => Activation::Tanh,
            FusedActivation::LeakyRelu { alpha } => Activation::LeakyRelu(alpha),
            FusedActivation::HardSwish => Activation::HardSwish,
            FusedActivation::HardSigmoid { alpha, beta } => Activation::HardSigmoid(alpha, beta),
            FusedActivation::Gelu => Activation::Gelu,
            FusedActivation::GeluTanh => Activation::GeluTanh,
        }
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
    fn converts_the_parsed_fused_activation() {
        use kiln_core::Attribute;
        let attrs = Attributes::new()
            .with("activation", Attribute::String("Clip".into()))
            .with("activation_alpha", Attribute::Float(0.0))
            .with("activation_beta", Attribute::Float(6.0));
        assert_eq!(
            Activation::from_attrs(&attrs).unwrap(),
            Activation::Clip(0.0, 6.0)
        );
        let leaky = Attributes::new().with("activation", Attribute::String("LeakyRelu".into()));
        assert_eq!(
            Activation::from_attrs(&leaky).unwrap(),
            Activation::LeakyRelu(0.01)
        );
        assert_eq!(
            Activation::from_attrs(&Attributes::new()).unwrap(),
            Activation::Identity
        );
        let bad = Attributes::new().with("activation", Attribute::String("Swish7".into()));
        assert!(Activation::from_attrs(&bad).is_err());
    }
}
