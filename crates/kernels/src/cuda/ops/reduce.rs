//! Reductions over a contiguous run of axes (`reduce.cu`): ReduceMean/Sum/Max/Min/SumSquare/
//! L2 and the global poolings.

use super::Ctx;
use super::first_input;
use crate::cuda::layer::grid_for;
use crate::cuda::layer::launch;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use kiln_core::DataType;

/// A reduction of a `[outer, r, inner]` view over `r`.
#[derive(Debug)]
pub struct ReduceLayer {
    dt: DataType,
    outer: usize,
    r: usize,
    inner: usize,
    op: i32,
}

fn op_code(op_type: &str) -> Option<i32> {
    Some(match op_type {
        "ReduceSum" => 0,
        "ReduceMean" | "GlobalAveragePool" => 1,
        "ReduceMax" | "GlobalMaxPool" => 2,
        "ReduceMin" => 3,
        "ReduceSumSquare" => 4,
        "ReduceL2" => 5,
        _ => return None,
    })
}

/// The `[outer, r, inner]` split of `shape` reducing the sorted, contiguous `axes`.
fn split(shape: &[usize], axes: &[usize]) -> Option<(usize, usize, usize)> {
    let (&lo, &hi) = (axes.first()?, axes.last()?);
    if hi - lo + 1 != axes.len() || hi >= shape.len() {
        return None;
    }
    Some((
        shape[..lo].iter().product(),
        shape[lo..=hi].iter().product(),
        shape[hi + 1..].iter().product(),
    ))
}

pub(crate) fn global_pool(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let x = &c.input(0)?.shape;
    if x.len() < 3 {
        return None;
    }
    let axes: Vec<usize> = (2..x.len()).collect();
    let (outer, r, inner) = split(x, &axes)?;
    Some(Box::new(ReduceLayer {
        dt,
        outer,
        r,
        inner,
        op: op_code(c.node.op_type())?,
    }))
}

pub(crate) fn reduce(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    // Data and result are f32/f16/bf16; the axes input is int64 (and must be a constant).
    let dt = c.input(0)?.dtype;
    let float_io = crate::cuda::is_gpu_float(dt) && c.outputs.iter().all(|s| s.dtype == dt);
    if !float_io || c.outputs.len() != 1 {
        return None;
    }
    let x = &c.input(0)?.shape;
    let rank = x.len() as i64;
    let attrs = &c.node.attrs;
    // Axes come from the constant `axes` input (opset 18) or the attribute (older forms).
    let from_input = match c.inputs.get(1) {
        Some(Some(_)) => Some(c.constant(1)?.to_i64_vec().ok()?),
        _ => None,
    };
    let axes_given = from_input
        .or(attrs.ints("axes").ok()?)
        .filter(|a| !a.is_empty());
    let mut axes: Vec<usize> = match axes_given {
        Some(a) => a
            .iter()
            .map(|&v| if v < 0 { v + rank } else { v })
            .map(|v| v as usize)
            .collect(),
        None if attrs.int_or("noop_with_empty_axes", 0).ok()? == 0 => (0..x.len()).collect(),
        None => return None,
    };
    axes.sort_unstable();
    axes.dedup();
    if x.is_empty() || axes.iter().any(|&a| a >= x.len()) {
        return None;
    }
    let (outer, r, inner) = split(x, &axes)?;
    if r == 0 {
        return None;
    }
    Some(Box::new(ReduceLayer {
        dt,
        outer,
        r,
        inner,
        op: op_code(c.node.op_type())?,
    }))
}

impl GpuLayer for ReduceLayer {
    fn kernel(&self) -> &str {
        "nvrtc-reduce"
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
        let n = self.outer * self.inner;
        if n == 0 {
            return Ok(());
        }
        let f = ex.function_t("reduce", "kiln_reduce", self.dt)?;
        let (o, r, i) = (self.outer as i64, self.r as i64, self.inner as i64);
        launch!(ex, &f, grid_for(n), "kiln_reduce"; &x.ptr, &y.ptr, &o, &r, &i, &self.op)
    }
}
