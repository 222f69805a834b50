//! Softmax / LogSoftmax over the last axis and LayerNormalization over trailing axes
//! (`softmax.cu`, `layernorm.cu`): one block per row.

use super::Ctx;
use super::first_input;
use crate::cuda::layer::launch;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use cudarc::driver::LaunchConfig;

fn rows_cfg(rows: usize, cols: usize) -> LaunchConfig {
    let threads = if cols >= 1024 {
        1024
    } else {
        cols.next_power_of_two().clamp(32, 1024)
    } as u32;
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Softmax or LogSoftmax over the last axis of a `[rows, cols]` view.
#[derive(Debug)]
pub struct SoftmaxLayer {
    dt: kiln_core::DataType,
    rows: usize,
    cols: usize,
    log: i32,
}

pub(crate) fn softmax(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let x = &c.input(0)?.shape;
    let rank = x.len() as i64;
    let axis = c.node.attrs.int_or("axis", -1).ok()?;
    if rank == 0 || (axis != -1 && axis != rank - 1) {
        return None;
    }
    let cols = *x.last()?;
    let rows = x.iter().product::<usize>() / cols.max(1);
    if cols == 0 || rows > i32::MAX as usize {
        return None;
    }
    Some(Box::new(SoftmaxLayer {
        dt,
        rows,
        cols,
        log: (c.node.op_type() == "LogSoftmax") as i32,
    }))
}

impl GpuLayer for SoftmaxLayer {
    fn kernel(&self) -> &str {
        "nvrtc-softmax"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let x = first_input(ins)?;
        if self.rows == 0 {
            return Ok(());
        }
        let f = ex.function_t("softmax", "kiln_softmax", self.dt)?;
        let (r, cl) = (self.rows as i64, self.cols as i64);
        launch!(ex, &f, rows_cfg(self.rows, self.cols), "kiln_softmax"; &x.ptr, &outs[0].ptr, &r, &cl, &self.log)
    }
}

/// LayerNormalization (first output only) over the trailing axes from `axis`.
#[derive(Debug)]
pub struct LayerNormLayer {
    dt: kiln_core::DataType,
    rows: usize,
    cols: usize,
    eps: f32,
}

pub(crate) fn layer_norm(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    if c.outputs.len() != 1 {
        return None;
    }
    let x = &c.input(0)?.shape;
    let rank = x.len() as i64;
    let mut axis = c.node.attrs.int_or("axis", -1).ok()?;
    if axis < 0 {
        axis += rank;
    }
    if axis < 0 || axis >= rank {
        return None;
    }
    let cols: usize = x[axis as usize..].iter().product();
    let rows: usize = x[..axis as usize].iter().product();
    // Scale and bias must cover the normalized axes exactly (no broadcast).
    for i in [1, 2] {
        if let Some(s) = c.input(i) {
            if s.len() != cols {
                return None;
            }
        }
    }
    if cols == 0 || rows > i32::MAX as usize {
        return None;
    }
    Some(Box::new(LayerNormLayer {
        dt,
        rows,
        cols,
        eps: c.node.attrs.float_or("epsilon", 1e-5).ok()?,
    }))
}

impl GpuLayer for LayerNormLayer {
    fn kernel(&self) -> &str {
        "nvrtc-layernorm"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let get = |i: usize| ins.get(i).copied().flatten().map_or(0u64, |t| t.ptr);
        if self.rows == 0 {
            return Ok(());
        }
        let f = ex.function_t("layernorm", "kiln_layernorm", self.dt)?;
        let (x, s, b) = (get(0), get(1), get(2));
        let (r, cl) = (self.rows as i64, self.cols as i64);
        launch!(ex, &f, rows_cfg(self.rows, self.cols), "kiln_layernorm"; &x, &s, &b, &outs[0].ptr, &r, &cl, &self.eps)
    }
}
