//! Test plugin: the `ScaleShift` layer (`y = alpha * x + beta`, f32), a second layer library
//! that loads side by side with the SwiGLU example.

use kiln_plugin_abi::sdk::{Attrs, PluginLayer};
use kiln_plugin_abi::{AttrKind, AttrSpec, TensorDesc, TensorView, TensorViewMut};

/// `y = alpha * x + beta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleShift {
    alpha: f32,
    beta: f32,
}

impl PluginLayer for ScaleShift {
    const NAME: &'static str = "ScaleShift";
    const VERSION: &'static str = "1";

    fn attributes() -> Vec<AttrSpec> {
        vec![
            AttrSpec::new("alpha", AttrKind::Float, true),
            AttrSpec::new("beta", AttrKind::Float, false),
        ]
    }

    fn create(attrs: Attrs<'_>) -> Result<Self, String> {
        Ok(ScaleShift {
            alpha: attrs.float_or("alpha", 1.0)?,
            beta: attrs.float_or("beta", 0.0)?,
        })
    }

    fn deserialize(state: &[u8]) -> Result<Self, String> {
        let f = |i: usize| -> Result<f32, String> {
            state
                .get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(f32::from_le_bytes)
                .ok_or_else(|| format!("bad ScaleShift state ({} bytes)", state.len()))
        };
        Ok(ScaleShift {
            alpha: f(0)?,
            beta: f(4)?,
        })
    }

    fn serialize(&self) -> Result<Vec<u8>, String> {
        Ok([self.alpha.to_le_bytes(), self.beta.to_le_bytes()].concat())
    }

    fn output_descs(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>, String> {
        match inputs {
            [x] => Ok(vec![x.clone()]),
            _ => Err(format!("ScaleShift takes 1 input, got {}", inputs.len())),
        }
    }

    fn execute_cpu(
        &self,
        inputs: &[TensorView<'_>],
        outputs: &mut [TensorViewMut<'_>],
        _workspace: &mut [u8],
    ) -> Result<(), String> {
        let ([x], [y]) = (inputs, outputs) else {
            return Err("ScaleShift takes 1 input and 1 output".into());
        };
        let xs = x.as_f32().ok_or("input is not f32")?;
        let ys = y.as_f32_mut().ok_or("output is not f32")?;
        for (y, x) in ys.iter_mut().zip(xs) {
            *y = self.alpha * x + self.beta;
        }
        Ok(())
    }
}

kiln_plugin_abi::export_plugin!(name: "test-scale", layers: [ScaleShift], backends: []);
