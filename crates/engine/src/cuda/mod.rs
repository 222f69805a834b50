//! The engine's GPU side: the device choice of a build, the backend a plan needs, and the
//! GPU execution of an engine ([`GpuRunner`], one per execution context).

mod arena;
mod plan;
mod precision;
mod runner;
mod step_profile;

pub use kiln_kernels::cuda::{DeviceInfo, device_count, probe};
pub use plan::LayerPlacement;
pub use precision::{Precision, layer_matches, layer_precision};
pub use runner::{GpuRunner, RunTimes};

use crate::EngineError;
use kiln_kernels::cuda::{CudaBackend, CudaError};
use kiln_kernels::{Backend, CpuBackend};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Where an engine runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The host CPU (the default).
    #[default]
    Cpu,
    /// CUDA device with this ordinal.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Device, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Device::Cuda(n)),
                _ => Err(format!("unknown device '{s}': use cpu, cuda or cuda:N")),
            },
        }
    }
}

impl From<CudaError> for EngineError {
    fn from(e: CudaError) -> EngineError {
        EngineError::Gpu(e.to_string())
    }
}

/// The backend of `device` (`threads`: CPU workers, also of the GPU backend's CPU fallback).
pub fn backend_for(
    device: Device,
    threads: Option<usize>,
) -> Result<Arc<dyn Backend>, EngineError> {
    match device {
        Device::Cpu => Ok(CpuBackend::shared(threads)?),
        Device::Cuda(n) => Ok(CudaBackend::shared(n, threads)?),
    }
}

/// The backend a plan needs: the CPU, or the GPU (device `KILN_CUDA_DEVICE`, default 0) for
/// plans built for `cuda`. Without a usable GPU a CUDA plan is refused naming its target.
pub fn backend_for_plan(
    bytes: &[u8],
    threads: Option<usize>,
) -> Result<Arc<dyn Backend>, EngineError> {
    let (header, _) = crate::plan::read_container(bytes)?;
    let Some(t) = header.target.as_ref().filter(|t| t.backend == "cuda") else {
        return Ok(CpuBackend::shared(threads)?);
    };
    let ordinal = std::env::var("KILN_CUDA_DEVICE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    CudaBackend::shared(ordinal, threads).map_err(|e| {
        let mut plan = format!("{}/{}", t.backend, t.arch);
        for f in &t.features {
            plan.push('+');
            plan.push_str(f);
        }
        EngineError::Gpu(format!(
            "the plan was built for GPU target {plan}, but this machine cannot run it: {e}"
        ))
    })
}
