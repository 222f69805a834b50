//! `gemm` tactic of MatMul and FusedMatMul: f32 (batched, broadcast) matrix products through
//! the `gemm` crate with scale, bias, residual and activation fused into the output stage.
//! A 2-D right operand folds the left operand's batch dims into one tall product.

use super::activation::Activation;
use super::matmul_packed::matmul_packed;
use super::packed::{PackCache, PackedB};
use super::sgemm::{Par, sgemm_raw, sgemm_split};
use crate::{RunContext, Tactic};
use kiln_core::ndarray::{ArrayD, CowArray, IxDyn};
use kiln_core::ops::util::broadcast_shapes;
use kiln_core::{Error, Node, Op, Result, Tensor, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// f32 MatMul / FusedMatMul through `gemm`; other types go to the op's reference evaluator.
#[derive(Debug, Clone)]
pub struct MatMulGemm {
    op: Arc<dyn Op>,
    fused: bool,
    alpha: f32,
    trans_b: bool,
    act: Activation,
    /// `Some` for the `packed` tactic: the constant right operand, packed once.
    packed: Option<PackCache<PackedB>>,
}

impl MatMulGemm {
    /// The tactic for a MatMul node whose reference op is `op`.
    pub fn new(op: Arc<dyn Op>) -> Self {
        MatMulGemm {
            op,
            fused: false,
            alpha: 1.0,
            trans_b: false,
            act: Activation::Identity,
            packed: None,
        }
    }

    /// The `packed` tactic of a MatMul or FusedMatMul node: a constant 2-D right operand is
    /// packed once for the micro-kernel (other right operands run as the `gemm` tactic).
    pub fn packed_from_node(node: &Node) -> Option<MatMulGemm> {
        let mut t = MatMulGemm::from_node(node)?;
        t.packed = Some(PackCache::new());
        Some(t)
    }

    /// The tactic for a MatMul or FusedMatMul node; `None` when the attributes are not
    /// understood.
    pub fn from_node(node: &Node) -> Option<MatMulGemm> {
        if node.op_type() != "FusedMatMul" {
            return Some(MatMulGemm::new(node.op.clone()));
        }
        let a = &node.attrs;
        Some(MatMulGemm {
            op: node.op.clone(),
            fused: true,
            alpha: a.float_or("alpha", 1.0).ok()?,
            trans_b: a.int_or("trans_b", 0).ok()? != 0,
            act: Activation::from_attrs(a).ok()?,
            packed: None,
        })
    }
}

impl Tactic for MatMulGemm {
    fn name(&self) -> &str {
        if self.packed.is_some() {
            "packed"
        } else {
            "gemm"
        }
    }

    fn prepare(&self, constants: &[Option<&Value>]) {
        let Some(cache) = &self.packed else {
            return;
        };
        let packed = match constants.get(1) {
            Some(Some(Value::Tensor(Tensor::F32(b)))) if b.ndim() == 2 => b.as_slice().map(|bd| {
                let (r, c) = (b.shape()[0], b.shape()[1]);
                let pb = if self.trans_b {
                    PackedB::pack(c, r, bd, 1, c)
                } else {
                    PackedB::pack(r, c, bd, c, 1)
                };
                (b, pb)
            }),
            _ => None,
        };
        cache.set(packed);
    }

    fn run(&self, inputs: &[Option<&Value>], ctx: &RunContext<'_>) -> Result<Vec<Value>> {
        let f32_of = |i: usize| match inputs.get(i) {
            Some(Some(Value::Tensor(Tensor::F32(a)))) => Some(Some(a)),
            None | Some(None) => Some(None),
            _ => None,
        };
        let max_inputs = if self.fused { 4 } else { 2 };
        if let (Some(Some(a)), Some(Some(b)), Some(bias), Some(z)) =
            (f32_of(0), f32_of(1), f32_of(2), f32_of(3))
            && inputs.len() <= max_inputs
            && !(self.trans_b && b.ndim() < 2)
        {
            let spec = MatMulSpec {
                alpha: self.alpha,
                trans_b: self.trans_b,
                act: self.act,
            };
            let packed = self.packed.as_ref().and_then(|c| c.get(b));
            if let Some(y) = matmul_fused_with(a, b, bias, z, spec, packed.as_deref(), ctx)? {
                return Ok(vec![Value::Tensor(Tensor::F32(y))]);
            }
        }
        self.op.eval_values(inputs, &ctx.eval)
    }
}

/// Scale, transpose and activation of a fused product.
#[derive(Clone, Copy, Debug)]
pub struct MatMulSpec {
    /// Scale of the product.
    pub alpha: f32,
    /// Swap B's last two dims.
    pub trans_b: bool,
    /// Activation applied last.
    pub act: Activation,
}

/// Numpy-style matmul of f32 arrays (1-D operands promoted and their dims dropped again,
/// batch dims broadcast).
pub fn matmul_f32(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let spec = MatMulSpec {
        alpha: 1.0,
        trans_b: false,
        act: Activation::Identity,
    };
    matmul_fused(a, b, None, None, spec, &RunContext::default())?
        .ok_or_else(|| Error::shape("MatMul: unsupported operands"))
}

/// `act(alpha * A * op(B) + bias + Z)`; `Ok(None)` when the bias or residual shape is one
/// this kernel does not handle (the caller falls back to the reference).
pub fn matmul_fused(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    z: Option<&ArrayD<f32>>,
    spec: MatMulSpec,
    ctx: &RunContext<'_>,
) -> Result<Option<ArrayD<f32>>> {
    matmul_fused_with(a, b, bias, z, spec, None, ctx)
}

/// [`matmul_fused`], with `b` already packed (`packed`: `op(B)` as a `k x n` [`PackedB`]).
fn matmul_fused_with(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    z: Option<&ArrayD<f32>>,
    spec: MatMulSpec,
    packed: Option<&PackedB>,
    ctx: &RunContext<'_>,
) -> Result<Option<ArrayD<f32>>> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(Error::shape("MatMul operands must have rank >= 1"));
    }
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    if spec.trans_b {
        let r = bsh.len();
        bsh.swap(r - 2, r - 1);
    }
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
    let mut shape = batch.clone();
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    let bias_vec: Option<Vec<f32>> = match bias {
        Some(v) if v.len() == n && v.shape().iter().rev().skip(1).all(|&d| d == 1) => {
            Some(v.iter().copied().collect())
        }
        Some(_) => return Ok(None),
        None => None,
    };
    // A residual of the output's shape is read in place (no copy when contiguous).
    let z_std: Option<CowArray<'_, f32, IxDyn>> = match z {
        Some(z) if z.shape() == shape.as_slice() => Some(z.as_standard_layout()),
        Some(z) => match z.broadcast(IxDyn(&shape)) {
            Some(zb) => Some(CowArray::from(zb.as_standard_layout().into_owned())),
            None => return Ok(None),
        },
        None => None,
    };
    let nb: usize = batch.iter().product();
    let a_std = a.as_standard_layout();
    let b_std = b.as_standard_layout();
    let ad = a_std
        .as_slice()
        .ok_or_else(|| Error::shape("MatMul: left operand not contiguous"))?;
    let bd = b_std
        .as_slice()
        .ok_or_else(|| Error::shape("MatMul: right operand not contiguous"))?;
    let mut out = ctx.alloc_f32(nb * m * n);
    // B element (p, j) of batch bj: row-major k x n, or (trans_b) stored n x k.
    let (b_rs, b_cs) = if spec.trans_b { (1, k) } else { (n, 1) };
    let zd = z_std.as_ref().and_then(|z| z.as_slice());
    let finish = |r: usize, j0: usize, line: &mut [f32]| {
        if let Some(bv) = &bias_vec {
            line.iter_mut().zip(&bv[j0..]).for_each(|(x, v)| *x += v);
        }
        if let Some(zd) = zd {
            let (off, len) = (r * n + j0, line.len());
            line.iter_mut()
                .zip(&zd[off..off + len])
                .for_each(|(x, v)| *x += v);
        }
        spec.act.apply_slice(line);
    };
    let b_fixed = bbatch.iter().product::<usize>() == 1 && abatch.len() == batch.len();
    if let Some(pb) = packed.filter(|pb| b_fixed && b.ndim() == 2 && pb.k == k && pb.n == n) {
        matmul_packed(nb * m, ad, spec.alpha, pb, &mut out, &finish);
    } else if m * n > 0 {
        if b_fixed {
            // One tall product: all of A's batches share B.
            // SAFETY: A is (nb * m) x k row-major inside `ad` (nb * m * k elements since A's
            // batch dims are the output's); B is k x n at offset 0 of `bd`; `out` is
            // exclusively borrowed with nb * m * n elements.
            unsafe {
                sgemm_split(
                    nb * m,
                    n,
                    k,
                    spec.alpha,
                    ad.as_ptr(),
                    k as isize,
                    1,
                    bd.as_ptr(),
                    b_rs as isize,
                    b_cs as isize,
                    out.as_mut_ptr(),
                    n as isize,
                );
            }
        } else {
            let one = |bi: usize, chunk: &mut [f32], par: Par| {
                let ai = broadcast_index(bi, &batch, abatch);
                let bj = broadcast_index(bi, &batch, bbatch);
                // SAFETY: batch ai of A (m x k) and bj of B (k x n) lie inside `ad` / `bd`
                // (their indices come from the operands' own batch dims); `chunk` is an
                // exclusively borrowed m x n block.
                unsafe {
                    sgemm_raw(
                        m,
                        n,
                        k,
                        spec.alpha,
                        ad[ai * m * k..].as_ptr(),
                        k as isize,
                        1,
                        bd[bj * k * n..].as_ptr(),
                        b_rs as isize,
                        b_cs as isize,
                        false,
                        chunk.as_mut_ptr(),
                        n as isize,
                        par,
                    );
                }
            };
            if nb >= rayon::current_num_threads() && rayon::current_num_threads() > 1 {
                out.par_chunks_mut(m * n)
                    .enumerate()
                    .for_each(|(bi, chunk)| one(bi, chunk, Par::Seq));
            } else {
                for (bi, chunk) in out.chunks_mut(m * n).enumerate() {
                    one(bi, chunk, Par::Pool);
                }
            }
        }
        if bias_vec.is_some() || zd.is_some() || !spec.act.is_identity() {
            let rows_per = (4096 / n.max(1)).max(1);
            out.par_chunks_mut(rows_per * n)
                .enumerate()
                .for_each(|(ci, block)| {
                    for (r, line) in block.chunks_mut(n).enumerate() {
                        finish(ci * rows_per + r, 0, line);
                    }
                });
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out)
        .map(Some)
        .map_err(|e| Error::shape(e.to_string()))
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
