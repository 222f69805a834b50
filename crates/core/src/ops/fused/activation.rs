//! The activation of a fused layer: parsed from `activation`, `activation_alpha` and
//! `activation_beta`, evaluated with the core activation op of the same name.

use super::run_builtin;
use crate::{Attribute, Attributes, DataType, Error, Result, Tensor};

/// An activation applied to a fused layer's output, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// No activation (`activation` = `""`).
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip {
        /// Lower bound (`activation_alpha`, default -inf).
        min: f32,
        /// Upper bound (`activation_beta`, default +inf).
        max: f32,
    },
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x` if `x >= 0`, else `alpha * x`.
    LeakyRelu {
        /// Slope for negative inputs (`activation_alpha`, default 0.01).
        alpha: f32,
    },
    /// `x * max(0, min(1, x / 6 + 0.5))`.
    HardSwish,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope (`activation_alpha`, default 0.2).
        alpha: f32,
        /// Offset (`activation_beta`, default 0.5).
        beta: f32,
    },
    /// Exact GELU: `0.5 * x * (1 + erf(x / sqrt(2)))`.
    Gelu,
    /// Tanh-approximated GELU.
    GeluTanh,
}

impl Activation {
    /// Parse the activation attributes of a fused node.
    pub fn from_attrs(attrs: &Attributes) -> Result<Activation> {
        let name = attrs.string_or("activation", String::new())?;
        let alpha = attrs.float("activation_alpha")?;
        let beta = attrs.float("activation_beta")?;
        Ok(match name.as_str() {
            "" => Activation::None,
            "Relu" => Activation::Relu,
            "Clip" => Activation::Clip {
                min: alpha.unwrap_or(f32::NEG_INFINITY),
                max: beta.unwrap_or(f32::INFINITY),
            },
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            "LeakyRelu" => Activation::LeakyRelu {
                alpha: alpha.unwrap_or(0.01),
            },
            "HardSwish" => Activation::HardSwish,
            "HardSigmoid" => Activation::HardSigmoid {
                alpha: alpha.unwrap_or(0.2),
                beta: beta.unwrap_or(0.5),
            },
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

    /// The `activation` attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::None => "",
            Activation::Relu => "Relu",
            Activation::Clip { .. } => "Clip",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::LeakyRelu { .. } => "LeakyRelu",
            Activation::HardSwish => "HardSwish",
            Activation::HardSigmoid { .. } => "HardSigmoid",
            Activation::Gelu => "Gelu",
            Activation::GeluTanh => "GeluTanh",
        }
    }

    /// Write this activation into `attrs` (`activation` and, where used, its parameters).
    pub fn write_attrs(&self, attrs: &mut Attributes) {
        attrs.set("activation", Attribute::String(self.name().to_string()));
        let (a, b) = match *self {
            Activation::Clip { min, max } => (Some(min), Some(max)),
            Activation::LeakyRelu { alpha } => (Some(alpha), None),
            Activation::HardSigmoid { alpha, beta } => (Some(alpha), Some(beta)),
            _ => (None, None),
        };
        if let Some(a) = a {
            attrs.set("activation_alpha", Attribute::Float(a));
        }
        if let Some(b) = b {
            attrs.set("activation_beta", Attribute::Float(b));
        }
    }

    /// Apply the activation with the core op of the same meaning (reference semantics).
    pub fn apply(&self, x: Tensor) -> Result<Tensor> {
        let none = Attributes::new();
        let one = |op: &str, attrs: &Attributes| run_builtin(op, attrs, &[Some(&x)]);
        match *self {
            Activation::None => Ok(x),
            Activation::Relu => one("Relu", &none),
            Activation::Sigmoid => one("Sigmoid", &none),
            Activation::Tanh => one("Tanh", &none),
            Activation::HardSwish => one("HardSwish", &none),
            Activation::LeakyRelu { alpha } => one(
                "LeakyRelu",
                &Attributes::new().with("alpha", Attribute::Float(alpha)),
            ),
            Activation::HardSigmoid { alpha, beta } => one(
                "HardSigmoid",
                &Attributes::new()
                    .with("alpha", Attribute::Float(alpha))
                    .with("beta", Attribute::Float(beta)),
            ),
            Activation::Gelu => one(
                "Gelu",
                &Attributes::new().with("approximate", Attribute::String("none".into())),
            ),
            Activation::GeluTanh => one(
                "Gelu",
                &Attributes::new().with("approximate", Attribute::String("tanh".into())),
            ),
            Activation::Clip { min, max } => {
                let dt = x.dtype();
                let bound = |v: f32| -> Result<Option<Tensor>> {
                    if v.is_infinite() {
                        return Ok(None);
                    }
                    Ok(Some(Tensor::scalar(v).cast(dt)?))
                };
                let (lo, hi) = (bound(min)?, bound(max)?);
                run_builtin("Clip", &none, &[Some(&x), lo.as_ref(), hi.as_ref()])
            }
        }
    }

    /// True when the activation maps a float input type to itself (all of them do) and
    /// accepts `dtype`.
    pub fn accepts(&self, dtype: DataType) -> bool {
        matches!(self, Activation::None) || dtype.is_float()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_round_trip_and_apply() {
        let acts = [
            Activation::None,
            Activation::Relu,
            Activation::Clip { min: 0.0, max: 6.0 },
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::HardSwish,
            Activation::HardSigmoid {
                alpha: 0.3,
                beta: 0.4,
            },
            Activation::Gelu,
            Activation::GeluTanh,
        ];
        let x = Tensor::from_vec(&[5], vec![-7.0f32, -1.0, 0.0, 0.5, 8.0]).unwrap();
        for a in acts {
            let mut attrs = Attributes::new();
            a.write_attrs(&mut attrs);
            assert_eq!(Activation::from_attrs(&attrs).unwrap(), a);
            let y = a.apply(x.clone()).unwrap();
            assert_eq!(y.shape(), &[5]);
        }
        let y = Activation::Clip { min: 0.0, max: 6.0 }
            .apply(x.clone())
            .unwrap();
        assert_eq!(y.to_f64_vec().unwrap(), vec![0.0, 0.0, 0.0, 0.5, 6.0]);
        let y = Activation::LeakyRelu { alpha: 0.1 }.apply(x).unwrap();
        assert!((y.to_f64_vec().unwrap()[0] + 0.7).abs() < 1e-6);
        let bad = Attributes::new().with("activation", Attribute::String("Swoosh".into()));
        assert!(Activation::from_attrs(&bad).is_err());
    }
}
