//! Test plugin that misbehaves on request, to show Kiln survives it:
//!
//! - layer `Explode` (namespace `kiln.test`), attribute `mode`: `panic` panics in
//!   `execute_cpu`, `panic_create` panics when created, `unknown_shape` declares outputs of
//!   unknown shape for concrete inputs, `two_outputs` declares two outputs for one; anything
//!   else copies its input;
//! - backend `panicky`: a request whose `MODE` input (u8 bytes) says `panic` panics,
//!   `short` returns an output smaller than its shape, anything else echoes `INPUT`.

use kiln_plugin_abi::sdk::{Attrs, PluginBackend, PluginLayer};
use kiln_plugin_abi::{
    AttrKind, AttrSpec, DType, InstanceConfig, NamedTensor, Request, TensorDesc, TensorView,
    TensorViewMut,
};

/// The misbehaving layer.
#[derive(Debug, Clone)]
pub struct Explode {
    mode: String,
}

impl PluginLayer for Explode {
    const NAME: &'static str = "Explode";
    const VERSION: &'static str = "1";
    const NAMESPACE: &'static str = "kiln.test";

    fn attributes() -> Vec<AttrSpec> {
        vec![AttrSpec::new("mode", AttrKind::Str, true)]
    }

    fn create(attrs: Attrs<'_>) -> Result<Self, String> {
        let mode = attrs.str_or("mode", "")?;
        if mode == "panic_create" {
            panic!("Explode was told to panic when created");
        }
        Ok(Explode { mode })
    }

    fn deserialize(state: &[u8]) -> Result<Self, String> {
        Ok(Explode {
            mode: String::from_utf8(state.to_vec()).map_err(|e| e.to_string())?,
        })
    }

    fn serialize(&self) -> Result<Vec<u8>, String> {
        Ok(self.mode.as_bytes().to_vec())
    }

    fn output_descs(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>, String> {
        let x = inputs.first().ok_or("Explode takes 1 input")?;
        Ok(match self.mode.as_str() {
            "unknown_shape" if x.fixed_shape().is_some() => vec![TensorDesc {
                dtype: x.dtype,
                shape: kiln_plugin_abi::RNone,
            }],
            "two_outputs" if x.fixed_shape().is_some() => vec![x.clone(), x.clone()],
            _ => vec![x.clone()],
        })
    }

    fn execute_cpu(
        &self,
        inputs: &[TensorView<'_>],
        outputs: &mut [TensorViewMut<'_>],
        _workspace: &mut [u8],
    ) -> Result<(), String> {
        if self.mode == "panic" {
            panic!("Explode was told to panic while executing");
        }
        let ([x], [y]) = (inputs, outputs) else {
            return Err("Explode takes 1 input and 1 output".into());
        };
        y.data.as_mut_slice().copy_from_slice(x.data.as_slice());
        Ok(())
    }
}

/// The misbehaving backend.
pub struct Panicky;

impl PluginBackend for Panicky {
    const NAME: &'static str = "panicky";
    const VERSION: &'static str = "1";

    fn initialize(_config: &InstanceConfig) -> Result<Self, String> {
        Ok(Panicky)
    }

    fn execute(&mut self, requests: &[Request<'_>]) -> Vec<Result<Vec<NamedTensor>, String>> {
        requests
            .iter()
            .map(|r| {
                let get = |n: &str| r.inputs.iter().find(|t| t.name.as_str() == n);
                let mode = get("MODE")
                    .map(|t| String::from_utf8_lossy(t.tensor.data.as_slice()).to_string());
                let input = get("INPUT").ok_or("missing input 'INPUT'")?;
                match mode.as_deref() {
                    Some("panic") => panic!("panicky backend was told to panic"),
                    Some("short") => Ok(vec![NamedTensor {
                        name: "OUTPUT".into(),
                        dtype: DType::F32,
                        shape: input.tensor.shape.to_vec().into(),
                        data: Vec::new().into(),
                    }]),
                    _ => Ok(vec![NamedTensor {
                        name: "OUTPUT".into(),
                        dtype: input.tensor.dtype,
                        shape: input.tensor.shape.to_vec().into(),
                        data: input.tensor.data.to_vec().into(),
                    }]),
                }
            })
            .collect()
    }
}

kiln_plugin_abi::export_plugin!(name: "test-panicky", layers: [Explode], backends: [Panicky]);
