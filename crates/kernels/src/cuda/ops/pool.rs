//! MaxPool and AveragePool over 2-D NCHW f32 tensors (`pool.cu`).

use super::Ctx;
use super::first_input;
use crate::cuda::layer::grid_for;
use crate::cuda::layer::launch;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};

/// `PoolParams` of `pool.cu`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct PoolParams {
    n: i64,
    c: i64,
    h: i64,
    w: i64,
    oh: i64,
    ow: i64,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    is_max: i32,
    count_include_pad: i32,
}

// SAFETY: plain old data with the layout of `struct PoolParams` in pool.cu.
unsafe impl cudarc::driver::DeviceRepr for PoolParams {}

/// A 2-D pooling layer.
#[derive(Debug)]
pub struct PoolLayer {
    dt: kiln_core::DataType,
    p: PoolParams,
}

pub(crate) fn pool(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    if c.outputs.len() != 1 {
        return None;
    }
    let attrs = &c.node.attrs;
    let is_max = c.node.op_type() == "MaxPool";
    let x = &c.input(0)?.shape;
    let y = &c.outputs[0].shape;
    if x.len() != 4 || y.len() != 4 || x[0] != y[0] || x[1] != y[1] {
        return None;
    }
    match attrs.string_or("auto_pad", "NOTSET".into()).ok()?.as_str() {
        "NOTSET" | "VALID" => {}
        _ => return None,
    }
    if is_max && attrs.int_or("storage_order", 0).ok()? != 0 {
        return None;
    }
    let ks = attrs.ints_req("kernel_shape").ok()?;
    let st = attrs.ints_or("strides", vec![1, 1]).ok()?;
    let pads = attrs.ints_or("pads", vec![0, 0, 0, 0]).ok()?;
    let dil = attrs.ints_or("dilations", vec![1, 1]).ok()?;
    if ks.len() != 2 || st.len() != 2 || pads.len() != 4 || dil.len() != 2 {
        return None;
    }
    let cip = attrs.int_or("count_include_pad", 0).ok()? as i32;
    Some(Box::new(PoolLayer {
        dt,
        p: PoolParams {
            n: x[0] as i64,
            c: x[1] as i64,
            h: x[2] as i64,
            w: x[3] as i64,
            oh: y[2] as i64,
            ow: y[3] as i64,
            kh: ks[0] as i32,
            kw: ks[1] as i32,
            sh: st[0] as i32,
            sw: st[1] as i32,
            ph: pads[0] as i32,
            pw: pads[1] as i32,
            dh: dil[0] as i32,
            dw: dil[1] as i32,
            is_max: is_max as i32,
            count_include_pad: cip,
        },
    }))
}

impl GpuLayer for PoolLayer {
    fn kernel(&self) -> &str {
        "nvrtc-pool2d"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let x = first_input(ins)?;
        let y = &outs[0];
        if y.is_empty() {
            return Ok(());
        }
        let f = ex.function_t("pool", "kiln_pool2d", self.dt)?;
        launch!(ex, &f, grid_for(y.len()), "kiln_pool2d"; &x.ptr, &y.ptr, &self.p)
    }
}
