//! `MatMul`: numpy-style batched matrix product (broadcast batch axes, 1-D operands).

use super::common::{check_attrs, float_tensor, float_vec, int_tensor, matmul_f64};
use crate::ops::util::{broadcast_shapes, input};
use crate::{BuildCtx, DataType, Dim, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};
use ndarray::{ArrayD, IxDyn};

/// Batched matrix product.
#[derive(Debug)]
pub struct MatMul;

/// Build from attributes (MatMul has none).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &[])?;
    Ok(Box::new(MatMul))
}

/// The plan of a batched product: operand shapes as 3-D views after broadcasting.
#[derive(Debug)]
pub struct MatMulPlan {
    /// Broadcast batch shape.
    pub batch: Vec<usize>,
    /// Rows of the left operand.
    pub m: usize,
    /// Shared dimension.
    pub k: usize,
    /// Columns of the right operand.
    pub n: usize,
    /// Shape of the result (1-D operands' axes removed).
    pub out_shape: Vec<usize>,
    a_full: Vec<usize>,
    b_full: Vec<usize>,
}

impl MatMulPlan {
    /// Plan `a @ b` for shapes `a` and `b`.
    pub fn new(a: &[usize], b: &[usize]) -> Result<MatMulPlan> {
        if a.is_empty() || b.is_empty() {
            return Err(Error::shape("MatMul operands must have rank >= 1"));
        }
        let a2: Vec<usize> = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b2: Vec<usize> = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return Err(Error::shape(format!(
                "MatMul shapes {a:?} and {b:?} do not fit"
            )));
        }
        let batch = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
        let mut out_shape = batch.clone();
        if a.len() > 1 {
            out_shape.push(m);
        }
        if b.len() > 1 {
            out_shape.push(n);
        }
        let mut a_full = batch.clone();
        a_full.extend([m, k]);
        let mut b_full = batch.clone();
        b_full.extend([k, n]);
        let _ = (&a2, &b2);
        Ok(MatMulPlan {
            batch,
            m,
            k,
            n,
            out_shape,
            a_full,
            b_full,
        })
    }

    fn expand<T: Clone>(v: Vec<T>, from: &[usize], to: &[usize]) -> Result<Vec<T>> {
        let mut shape = from.to_vec();
        if shape.len() == 1 {
            // 1-D operands become a row (left) or column (right) matrix.
            shape = if to[to.len() - 2] == 1 && to[to.len() - 1] == from[0] {
                vec![1, from[0]]
            } else {
                vec![from[0], 1]
            };
        }
        let a =
            ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| Error::shape(e.to_string()))?;
        let b = a
            .broadcast(IxDyn(to))
            .ok_or_else(|| Error::shape(format!("{from:?} does not broadcast to {to:?}")))?;
        Ok(b.iter().cloned().collect())
    }

    /// Float product (f64 accumulation).
    pub fn run_f64(
        &self,
        a: Vec<f64>,
        ashape: &[usize],
        b: Vec<f64>,
        bshape: &[usize],
    ) -> Result<Vec<f64>> {
        let a = Self::expand(a, ashape, &self.a_full)?;
        let b = Self::expand(b, bshape, &self.b_full)?;
        let (m, k, n) = (self.m, self.k, self.n);
        let nb: usize = self.batch.iter().product();
        let mut out = Vec::with_capacity(nb * m * n);
        for i in 0..nb {
            out.extend(matmul_f64(
                &a[i * m * k..][..m * k],
                &b[i * k * n..][..k * n],
                m,
                k,
                n,
            )?);
        }
        Ok(out)
    }

    /// Integer product with wrapping arithmetic.
    pub fn run_i64(
        &self,
        a: Vec<i64>,
        ashape: &[usize],
        b: Vec<i64>,
        bshape: &[usize],
    ) -> Result<Vec<i64>> {
        let a = Self::expand(a, ashape, &self.a_full)?;
        let b = Self::expand(b, bshape, &self.b_full)?;
        let (m, k, n) = (self.m, self.k, self.n);
        let nb: usize = self.batch.iter().product();
        let mut out = vec![0i64; nb * m * n];
        for bi in 0..nb {
            let (ab, bb) = (&a[bi * m * k..][..m * k], &b[bi * k * n..][..k * n]);
            let ob = &mut out[bi * m * n..][..m * n];
            for r in 0..m {
                for kk in 0..k {
                    let av = ab[r * k + kk];
                    for c in 0..n {
                        ob[r * n + c] = ob[r * n + c].wrapping_add(av.wrapping_mul(bb[kk * n + c]));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Output shape inference of a batched product over possibly symbolic dims.
pub fn infer_matmul(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let ab = if a.len() > 2 {
        &a[..a.len() - 2]
    } else {
        &[][..]
    };
    let bb = if b.len() > 2 {
        &b[..b.len() - 2]
    } else {
        &[][..]
    };
    let r = ab.len().max(bb.len());
    let mut dims = Vec::with_capacity(r + 2);
    for i in 0..r {
        let da = (i + ab.len()).checked_sub(r).map(|j| &ab[j]);
        let db = (i + bb.len()).checked_sub(r).map(|j| &bb[j]);
        dims.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(Dim::Fixed(1)), Some(y)) => y.clone(),
            (Some(x), Some(Dim::Fixed(1))) => x.clone(),
            _ => Dim::Unknown,
        });
    }
    if a.len() > 1 {
        dims.push(a[a.len() - 2].clone());
    }
    if b.len() > 1 {
        dims.push(b[b.len() - 1].clone());
    }
    Some(dims)
}

impl Op for MatMul {
    fn op_type(&self) -> &str {
        "MatMul"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let (Some(a), Some(b)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Vec::new());
        };
        let shape = match (&a.fact.shape, &b.fact.shape) {
            (Some(x), Some(y)) => infer_matmul(&x.0, &y.0).map(Shape),
            _ => None,
        };
        Ok(vec![TensorFact {
            dtype: a.fact.dtype,
            shape,
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        if a.dtype() != b.dtype() {
            return Err(Error::dtype(format!(
                "MatMul of {} and {}",
                a.dtype(),
                b.dtype()
            )));
        }
        let plan = MatMulPlan::new(a.shape(), b.shape())?;
        let dt = a.dtype();
        let y = if dt.is_float() {
            let v = plan.run_f64(float_vec(a)?, a.shape(), float_vec(b)?, b.shape())?;
            float_tensor(dt, &plan.out_shape, v)?
        } else if dt.is_integer() {
            let v = plan.run_i64(a.to_i64_vec()?, a.shape(), b.to_i64_vec()?, b.shape())?;
            int_tensor(dt, &plan.out_shape, v)?
        } else {
            return Err(Error::dtype(format!("MatMul does not take {dt}")));
        };
        let _ = DataType::F32;
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mm(a: Tensor, b: Tensor) -> Result<Tensor> {
        Ok(MatMul.eval(&[Some(&a), Some(&b)])?.remove(0))
    }

    #[test]
    fn vector_and_batched_shapes() {
        let a = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
        let b = Tensor::from_vec(&[2, 3, 2], (0..12).map(|v| v as f32).collect()).unwrap();
        let y = mm(a, b).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_f64_vec().unwrap(), vec![16.0, 22.0, 52.0, 58.0]);
        let a = Tensor::from_vec(&[2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let b = Tensor::from_vec(&[2], vec![5i32, 6]).unwrap();
        let y = mm(a, b).unwrap();
        assert_eq!(y, Tensor::from_vec(&[2], vec![17i32, 39]).unwrap());
        let a = Tensor::from_vec(&[2, 3], vec![0.0f32; 6]).unwrap();
        assert!(mm(a.clone(), a).is_err());
    }

    #[test]
    fn infer_keeps_symbolic_batch() {
        let a = vec![Dim::Sym("B".into()), Dim::Fixed(4), Dim::Fixed(8)];
        let b = vec![Dim::Fixed(8), Dim::Fixed(16)];
        assert_eq!(
            infer_matmul(&a, &b).unwrap(),
            vec![Dim::Sym("B".into()), Dim::Fixed(4), Dim::Fixed(16)]
        );
    }
}
