//! Data movement (`layout.cu`): Transpose, Concat, Gather, and the shape-only ops (Reshape,
//! Flatten, Squeeze, Unsqueeze, Identity, Dropout) as device copies.

use super::{Ctx, Dims, first_input, strides};
use crate::cuda::layer::grid_for;
use crate::cuda::layer::launch;
use crate::cuda::memory::copy_device;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use kiln_core::DataType;

/// A shape-only op: the output is a copy of input 0's bytes.
#[derive(Debug)]
pub struct AliasLayer;

pub(crate) fn alias(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let x = c.input(0)?;
    let y = c.outputs.first()?;
    if c.outputs.len() != 1
        || x.dtype != y.dtype
        || x.len() != y.len()
        || x.dtype.size_of().is_none()
    {
        return None;
    }
    if c.node.op_type() == "Dropout" && c.input(2).is_some() {
        return None;
    }
    Some(Box::new(AliasLayer))
}

impl GpuLayer for AliasLayer {
    fn kernel(&self) -> &str {
        "device-copy"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let x = first_input(ins)?;
        copy_device(ex.stream, outs[0].ptr, x.ptr, outs[0].bytes())
    }
}

/// A permutation of the axes.
#[derive(Debug)]
pub struct TransposeLayer {
    dt: DataType,
    rank: i32,
    out: Dims,
    in_str: Dims,
}

pub(crate) fn transpose(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let x = &c.input(0)?.shape;
    let rank = x.len();
    let perm: Vec<usize> = match c.node.attrs.ints("perm").ok()? {
        Some(p) => p
            .iter()
            .map(|&v| if v < 0 { v + rank as i64 } else { v } as usize)
            .collect(),
        None => (0..rank).rev().collect(),
    };
    if perm.len() != rank || perm.iter().any(|&p| p >= rank) {
        return None;
    }
    let own = strides(x);
    let out: Vec<usize> = perm.iter().map(|&p| x[p]).collect();
    let in_str: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    Some(Box::new(TransposeLayer {
        dt,
        rank: rank as i32,
        out: Dims::from(&out)?,
        in_str: Dims::from(&in_str)?,
    }))
}

impl GpuLayer for TransposeLayer {
    fn kernel(&self) -> &str {
        "nvrtc-permute"
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
        let n = y.len() as i64;
        if n == 0 {
            return Ok(());
        }
        let f = ex.function_t("layout", "kiln_permute", self.dt)?;
        launch!(ex, &f, grid_for(y.len()), "kiln_permute"; &x.ptr, &y.ptr, &n, &self.rank, &self.out, &self.in_str)
    }
}

/// Concat of 32- or 16-bit tensors: one strided row copy per input.
#[derive(Debug)]
pub struct ConcatLayer {
    /// Bytes per element (4 or 2).
    elem: usize,
    outer: usize,
    /// Per input: words per row (its axis length times inner).
    cols: Vec<usize>,
    /// Words per output row.
    pitch: usize,
}

pub(crate) fn concat(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let y = c.outputs.first()?;
    let elem = match y.dtype {
        DataType::F32 | DataType::I32 => 4,
        DataType::F16 | DataType::BF16 => 2,
        _ => return None,
    };
    let rank = y.shape.len() as i64;
    let mut axis = c.node.attrs.int_req("axis").ok()?;
    if axis < 0 {
        axis += rank;
    }
    if axis < 0 || axis >= rank {
        return None;
    }
    let ax = axis as usize;
    let outer: usize = y.shape[..ax].iter().product();
    let inner: usize = y.shape[ax + 1..].iter().product();
    let mut cols = Vec::new();
    for s in &c.inputs[..] {
        let s = s.as_ref()?;
        if s.dtype != y.dtype || s.shape.len() != y.shape.len() {
            return None;
        }
        cols.push(s.shape[ax] * inner);
    }
    let pitch = y.shape[ax] * inner;
    if cols.iter().sum::<usize>() != pitch {
        return None;
    }
    Some(Box::new(ConcatLayer {
        elem,
        outer,
        cols,
        pitch,
    }))
}

impl GpuLayer for ConcatLayer {
    fn kernel(&self) -> &str {
        "nvrtc-concat"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let f = copy_rows(ex, self.elem)?;
        let mut offset = 0usize;
        for (x, &cols) in ins.iter().zip(&self.cols) {
            let x = x.ok_or_else(|| CudaError::Unsupported("missing input".into()))?;
            let n = self.outer * cols;
            if n > 0 {
                let dst = outs[0].ptr + (offset * self.elem) as u64;
                let (rows, c64, sp, dp) = (
                    self.outer as i64,
                    cols as i64,
                    cols as i64,
                    self.pitch as i64,
                );
                launch!(ex, &f, grid_for(n), "kiln_copy_rows"; &x.ptr, &dst, &rows, &c64, &sp, &dp)?;
            }
            offset += cols;
        }
        Ok(())
    }
}

/// Gather of float data with int64 indices along one axis.
#[derive(Debug)]
pub struct GatherLayer {
    dt: DataType,
    outer: usize,
    axis_len: usize,
    inner: usize,
    nidx: usize,
}

pub(crate) fn gather(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let (x, idx, y) = (c.input(0)?, c.input(1)?, c.outputs.first()?);
    if !crate::cuda::is_gpu_float(x.dtype) || idx.dtype != DataType::I64 || y.dtype != x.dtype {
        return None;
    }
    let dt = x.dtype;
    let rank = x.shape.len() as i64;
    let mut axis = c.node.attrs.int_or("axis", 0).ok()?;
    if axis < 0 {
        axis += rank;
    }
    if axis < 0 || axis >= rank {
        return None;
    }
    let ax = axis as usize;
    Some(Box::new(GatherLayer {
        dt,
        outer: x.shape[..ax].iter().product(),
        axis_len: x.shape[ax],
        inner: x.shape[ax + 1..].iter().product(),
        nidx: idx.len(),
    }))
}

impl GpuLayer for GatherLayer {
    fn kernel(&self) -> &str {
        "nvrtc-gather"
    }

    fn workspace_bytes(&self) -> usize {
        4
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        ws: u64,
    ) -> Result<(), CudaError> {
        let (Some(Some(x)), Some(Some(idx))) = (ins.first(), ins.get(1)) else {
            return Err(CudaError::Unsupported("missing input".into()));
        };
        let n = self.outer * self.nidx * self.inner;
        if n == 0 {
            return Ok(());
        }
        // The out-of-range flag lives in the workspace; it is not read back yet (the CPU
        // reference reports bad indices; the GPU writes zeros for them).
        // SAFETY: `ws` has 4 bytes (workspace_bytes).
        unsafe { cudarc::driver::result::memset_d8_async(ws, 0, 4, ex.stream.cu_stream()) }
            .map_err(|e| CudaError::driver("memset", e))?;
        let f = ex.function_t("layout", "kiln_gather", self.dt)?;
        let (o, a, i, ni) = (
            self.outer as i64,
            self.axis_len as i64,
            self.inner as i64,
            self.nidx as i64,
        );
        launch!(ex, &f, grid_for(n), "kiln_gather"; &x.ptr, &idx.ptr, &outs[0].ptr, &o, &a, &i, &ni, &ws)
    }
}

/// Split of a 32- or 16-bit tensor along one axis: one strided row copy per output.
#[derive(Debug)]
pub struct SplitLayer {
    /// Bytes per element (4 or 2).
    elem: usize,
    outer: usize,
    /// Per output: words per row.
    cols: Vec<usize>,
    /// Words per input row.
    pitch: usize,
}

pub(crate) fn split(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let x = c.input(0)?;
    let elem = match x.dtype {
        DataType::F32 | DataType::I32 => 4,
        DataType::F16 | DataType::BF16 => 2,
        _ => return None,
    };
    if c.outputs.iter().any(|o| o.dtype != x.dtype) {
        return None;
    }
    let rank = x.shape.len() as i64;
    let mut axis = c.node.attrs.int_or("axis", 0).ok()?;
    if axis < 0 {
        axis += rank;
    }
    if axis < 0 || axis >= rank {
        return None;
    }
    let ax = axis as usize;
    let outer: usize = x.shape[..ax].iter().product();
    let inner: usize = x.shape[ax + 1..].iter().product();
    let mut cols = Vec::new();
    for o in c.outputs {
        if o.shape.len() != x.shape.len() {
            return None;
        }
        cols.push(o.shape[ax] * inner);
    }
    let pitch = x.shape[ax] * inner;
    if cols.iter().sum::<usize>() != pitch {
        return None;
    }
    Some(Box::new(SplitLayer {
        elem,
        outer,
        cols,
        pitch,
    }))
}

impl GpuLayer for SplitLayer {
    fn kernel(&self) -> &str {
        "nvrtc-split"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let x = first_input(ins)?;
        let f = copy_rows(ex, self.elem)?;
        let mut offset = 0usize;
        for (y, &cols) in outs.iter().zip(&self.cols) {
            let n = self.outer * cols;
            if n > 0 {
                let src = x.ptr + (offset * self.elem) as u64;
                let (rows, c64, sp, dp) = (
                    self.outer as i64,
                    cols as i64,
                    self.pitch as i64,
                    cols as i64,
                );
                launch!(ex, &f, grid_for(n), "kiln_copy_rows"; &src, &y.ptr, &rows, &c64, &sp, &dp)?;
            }
            offset += cols;
        }
        Ok(())
    }
}

/// The row-copy kernel for elements of `elem` bytes (4 or 2).
fn copy_rows(ex: &Exec<'_>, elem: usize) -> Result<cudarc::driver::CudaFunction, CudaError> {
    if elem == 2 {
        ex.function("layout", "kiln_copy_rows_u16")
    } else {
        ex.function("layout", "kiln_copy_rows_u32")
    }
}
