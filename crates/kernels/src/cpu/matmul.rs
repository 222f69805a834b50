//! `gemm` tactic of MatMul: f32 (batched, broadcast) matrix products through the `gemm` crate.

use super::sgemm::{MatLayout, sgemm};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, IxDyn};
use kiln_core::ops::util::broadcast_shapes;
use kiln_core::{Error, Op, Result, Tensor, Value};
use std::sync::Arc;

/// f32 MatMul through `gemm`; other types go to the op's reference evaluator.
#[derive(Debug, Clone)]
pub struct MatMulGemm {
    op: Arc<dyn Op>,
}

impl MatMulGemm {
    /// The tactic for a MatMul node whose reference op is `op`.
    pub fn new(op: Arc<dyn Op>) -> Self {
        MatMulGemm { op }
    }
}

impl Tactic for MatMulGemm {
    fn name(&self) -> &str {
        "gemm"
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        match (inputs.first(), inputs.get(1)) {
            (
                Some(Some(Value::Tensor(Tensor::F32(a)))),
                Some(Some(Value::Tensor(Tensor::F32(b)))),
            ) if inputs.len() == 2 => Ok(vec![Value::Tensor(Tensor::F32(matmul_f32(a, b)?))]),
            _ => self.op.eval_values(inputs, &ctx.eval),
        }
    }
}

/// Numpy-style matmul of f32 arrays (1-D operands promoted and their dims dropped again,
/// batch dims broadcast).
pub fn matmul_f32(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(Error::shape("MatMul operands must have rank >= 1"));
    }
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    if ash.len() == 1 {
        ash.insert(0, 1);
    }
    if bsh.len() == 1 {
        bsh.push(1);
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != k2 {
        return Err(Error::shape(format!(
            "MatMul: inner dimensions differ: {:?} x {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let abatch = &ash[..ash.len() - 2];
    let bbatch = &bsh[..bsh.len() - 2];
    let batch = broadcast_shapes(abatch, bbatch)?;
    let nb: usize = batch.iter().product();
    let a_std = a.as_standard_layout();
    let b_std = b.as_standard_layout();
    let a_data = a_std
        .as_slice()
        .ok_or_else(|| Error::shape("MatMul: left operand not contiguous"))?;
    let b_data = b_std
        .as_slice()
        .ok_or_else(|| Error::shape("MatMul: right operand not contiguous"))?;
    let mut out = vec![0f32; nb * m * n];
    if m * n > 0 {
        for (bi, chunk) in out.chunks_mut(m * n).enumerate() {
            let ai = broadcast_index(bi, &batch, abatch);
            let bj = broadcast_index(bi, &batch, bbatch);
            sgemm(
                m,
                n,
                k,
                1.0,
                a_data,
                MatLayout::row_major(ai * m * k, k),
                b_data,
                MatLayout::row_major(bj * k * n, n),
                false,
                chunk,
            )?;
        }
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::shape(e.to_string()))
}

/// The flat index into an operand's batch dims (`sub`, right-aligned with `full`, size-1
/// dims broadcast) of flat index `i` over `full`.
fn broadcast_index(i: usize, full: &[usize], sub: &[usize]) -> usize {
    let mut rem = i;
    let mut idx = 0;
    let mut mul = 1;
    let shift = full.len() - sub.len();
    for d in (0..full.len()).rev() {
        let coord = rem % full[d].max(1);
        rem /= full[d].max(1);
        if d >= shift {
            let sd = sub[d - shift];
            if sd != 1 {
                idx += coord * mul;
            }
            mul *= sd;
        }
    }
    idx
}
