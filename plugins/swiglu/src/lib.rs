//! Example Kiln plugin: the SwiGLU layer (`namespace kiln.example`, version 1).
//!
//! `Y = silu(A) * B` where `X = [A, B]` is split in halves along the last axis
//! (`silu(a) = a * sigmoid(beta * a)`, attribute `beta`, default 1). X: `[..., 2H]` f32,
//! Y: `[..., H]` f32. Shape inference keeps symbolic leading dimensions.
//!
//! The CPU implementation is plain Rust; the CUDA implementation compiles a small kernel
//! with NVRTC on first use (per CUDA context) and launches it on the stream Kiln gives.

mod cuda;

use kiln_plugin_abi::sdk::{Attrs, CudaLaunch, PluginLayer};
use kiln_plugin_abi::{
    AttrKind, AttrSpec, DType, Device, Dim, RNone, RSome, TensorDesc, TensorView, TensorViewMut,
};

/// The SwiGLU layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwiGlu {
    /// The slope of the SiLU gate (`a * sigmoid(beta * a)`).
    pub beta: f32,
}

/// Format tag of the serialized state (bumped if the state layout changes).
const STATE_TAG: &[u8; 4] = b"SWG1";

/// `silu(a) * b` with slope `beta`.
pub fn swiglu(a: f32, b: f32, beta: f32) -> f32 {
    a / (1.0 + (-beta * a).exp()) * b
}

/// CPU SwiGLU on rows of `2h` values into rows of `h`.
pub fn swiglu_rows(x: &[f32], y: &mut [f32], h: usize, beta: f32) {
    if h == 0 {
        return;
    }
    for (xr, yr) in x.chunks_exact(2 * h).zip(y.chunks_exact_mut(h)) {
        let (a, b) = xr.split_at(h);
        for ((y, &a), &b) in yr.iter_mut().zip(a).zip(b) {
            *y = swiglu(a, b, beta);
        }
    }
}

impl SwiGlu {
    fn halve(x: &TensorDesc) -> Result<TensorDesc, String> {
        if let RSome(d) = x.dtype
            && d != DType::F32
        {
            return Err(format!("SwiGLU takes f32 input, got {d}"));
        }
        let shape = match &x.shape {
            RNone => RNone,
            RSome(dims) => {
                let Some(last) = dims.last() else {
                    return Err("SwiGLU needs an input of rank 1 or more, got a scalar".into());
                };
                let half = match last {
                    Dim::Fixed(n) if n % 2 == 1 => {
                        return Err(format!(
                            "the last dimension of the input must be even, got {n}"
                        ));
                    }
                    Dim::Fixed(n) => Dim::Fixed(n / 2),
                    _ => Dim::Unknown,
                };
                let mut out = dims.clone();
                let n = out.len();
                out[n - 1] = half;
                RSome(out)
            }
        };
        Ok(TensorDesc {
            dtype: RSome(DType::F32),
            shape,
        })
    }
}

impl PluginLayer for SwiGlu {
    const NAME: &'static str = "SwiGLU";
    const VERSION: &'static str = "1";
    const NAMESPACE: &'static str = "kiln.example";

    fn attributes() -> Vec<AttrSpec> {
        vec![AttrSpec::new("beta", AttrKind::Float, false)]
    }

    fn devices() -> Vec<Device> {
        vec![Device::Cpu, Device::Cuda]
    }

    fn create(attrs: Attrs<'_>) -> Result<Self, String> {
        let beta = attrs.float_or("beta", 1.0)?;
        if !beta.is_finite() {
            return Err(format!("attribute 'beta' must be finite, got {beta}"));
        }
        Ok(SwiGlu { beta })
    }

    fn deserialize(state: &[u8]) -> Result<Self, String> {
        match state {
            [t0, t1, t2, t3, b0, b1, b2, b3] if [*t0, *t1, *t2, *t3] == *STATE_TAG => Ok(SwiGlu {
                beta: f32::from_le_bytes([*b0, *b1, *b2, *b3]),
            }),
            _ => Err(format!("bad SwiGLU state ({} bytes)", state.len())),
        }
    }

    fn serialize(&self) -> Result<Vec<u8>, String> {
        let mut v = STATE_TAG.to_vec();
        v.extend_from_slice(&self.beta.to_le_bytes());
        Ok(v)
    }

    fn output_descs(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>, String> {
        match inputs {
            [x] => Ok(vec![Self::halve(x)?]),
            _ => Err(format!("SwiGLU takes 1 input, got {}", inputs.len())),
        }
    }

    fn execute_cpu(
        &self,
        inputs: &[TensorView<'_>],
        outputs: &mut [TensorViewMut<'_>],
        _workspace: &mut [u8],
    ) -> Result<(), String> {
        let ([x], [y]) = (inputs, outputs) else {
            return Err("SwiGLU takes 1 input and 1 output".into());
        };
        let h = y.shape.last().copied().unwrap_or(0) as usize;
        let xs = x.as_f32().ok_or("input is not aligned f32 data")?;
        let ys = y.as_f32_mut().ok_or("output is not aligned f32 data")?;
        if xs.len() != ys.len() * 2 {
            return Err(format!(
                "input has {} values for {} outputs",
                xs.len(),
                ys.len()
            ));
        }
        swiglu_rows(xs, ys, h, self.beta);
        Ok(())
    }

    fn execute_cuda(&self, launch: CudaLaunch<'_>) -> Result<(), String> {
        let ([x], [y]) = (launch.inputs, launch.outputs) else {
            return Err("SwiGLU takes 1 input and 1 output".into());
        };
        let h = y.shape.last().copied().unwrap_or(0);
        let n: u64 = y.shape.iter().product();
        let xn: u64 = x.shape.iter().product();
        if x.dtype != DType::F32 || y.dtype != DType::F32 || xn != 2 * n {
            return Err("SwiGLU on CUDA takes f32 [..., 2H] -> f32 [..., H]".into());
        }
        cuda::launch_swiglu(x.ptr, y.ptr, n, h, self.beta, launch.stream)
    }
}

kiln_plugin_abi::export_plugin!(name: "swiglu", layers: [SwiGlu], backends: []);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_rows() {
        let x = [1.0f32, -2.0, 3.0, 4.0];
        let mut y = [0.0f32; 2];
        swiglu_rows(&x, &mut y, 2, 1.0);
        let silu = |a: f32| a / (1.0 + (-a).exp());
        assert!((y[0] - silu(1.0) * 3.0).abs() < 1e-6);
        assert!((y[1] - silu(-2.0) * 4.0).abs() < 1e-6);
    }

    #[test]
    fn state_round_trips() {
        let l = SwiGlu { beta: 1.5 };
        assert_eq!(SwiGlu::deserialize(&l.serialize().unwrap()).unwrap(), l);
        assert!(SwiGlu::deserialize(b"nope").is_err());
    }

    #[test]
    fn shapes_keep_symbols() {
        let x = TensorDesc {
            dtype: RSome(DType::F32),
            shape: RSome(vec![Dim::Sym("batch".into()), Dim::Fixed(8)].into()),
        };
        let y = SwiGlu { beta: 1.0 }.output_descs(&[x]).unwrap();
        assert_eq!(
            y[0].shape,
            RSome(vec![Dim::Sym("batch".into()), Dim::Fixed(4)].into())
        );
        let odd = TensorDesc::fixed(DType::F32, &[3]);
        assert!(SwiGlu { beta: 1.0 }.output_descs(&[odd]).is_err());
    }
}
