//! Helpers shared by the element-wise family: attribute checks, broadcasting zips, and
//! shape/type inference for broadcasting and unary ops.

use super::scalar::Num;
use crate::ops::util::broadcast_shapes;
use crate::{BuildCtx, DataType, Dim, Error, InferInput, Result, Shape, Tensor, TensorFact};
use ndarray::{ArrayD, IxDyn, Zip};

/// Reject attributes the op does not know.
pub(crate) fn check_attrs(ctx: &BuildCtx<'_>, known: &[&str]) -> Result<()> {
    match ctx.attrs.unknown(known).first() {
        Some(name) => Err(Error::attr(name, "unsupported attribute")),
        None => Ok(()),
    }
}

/// Require at least `min` and at most `max` inputs.
pub(crate) fn check_arity(ctx: &BuildCtx<'_>, op: &str, min: usize, max: usize) -> Result<()> {
    if ctx.num_inputs < min || ctx.num_inputs > max {
        return Err(Error::input(format!(
            "{op} takes {min} to {max} inputs, got {}",
            ctx.num_inputs
        )));
    }
    Ok(())
}

/// Apply `f` to the elements of two arrays broadcast together (numpy rules).
pub(crate) fn zip2<A, B, O>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl FnMut(&A, &B) -> O,
) -> Result<ArrayD<O>> {
    if a.shape() == b.shape() {
        return Ok(Zip::from(a).and(b).map_collect(f));
    }
    let shape = IxDyn(&broadcast_shapes(a.shape(), b.shape())?);
    let av = a
        .broadcast(shape.clone())
        .ok_or_else(|| bad_bcast(a.shape(), b.shape()))?;
    let bv = b
        .broadcast(shape)
        .ok_or_else(|| bad_bcast(a.shape(), b.shape()))?;
    Ok(Zip::from(&av).and(&bv).map_collect(f))
}

/// Apply `f` to the elements of three arrays broadcast together (numpy rules).
pub(crate) fn zip3<A, B, C, O>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    c: &ArrayD<C>,
    f: impl FnMut(&A, &B, &C) -> O,
) -> Result<ArrayD<O>> {
    let ab = broadcast_shapes(a.shape(), b.shape())?;
    let shape = IxDyn(&broadcast_shapes(&ab, c.shape())?);
    let err = || bad_bcast(&ab, c.shape());
    let av = a.broadcast(shape.clone()).ok_or_else(err)?;
    let bv = b.broadcast(shape.clone()).ok_or_else(err)?;
    let cv = c.broadcast(shape).ok_or_else(err)?;
    Ok(Zip::from(&av).and(&bv).and(&cv).map_collect(f))
}

/// Apply `f` (computed in f64) to every element of a float tensor, keeping its type.
pub(crate) fn map_float(x: &Tensor, f: impl Fn(f64) -> f64) -> Result<Tensor> {
    Ok(crate::dispatch_float!(x, a => Tensor::from(a.mapv(|v| T::of_f64(f(v.as_f64()))))))
}

/// Apply `f` (computed in i128, wrapped back) to every element of an integer tensor.
pub(crate) fn map_int(x: &Tensor, f: impl Fn(i128) -> i128) -> Result<Tensor> {
    Ok(crate::dispatch_int!(x, a => Tensor::from(a.mapv(|v| T::of_i128(f(v.as_i128()))))))
}

/// Apply `f` (computed in f64) to every element of a numeric tensor, keeping its type
/// (integers truncate the result toward zero).
pub(crate) fn map_numeric(x: &Tensor, f: impl Fn(f64) -> f64) -> Result<Tensor> {
    Ok(crate::dispatch_numeric!(x, a => Tensor::from(a.mapv(|v| T::of_f64(f(v.as_f64()))))))
}

fn bad_bcast(a: &[usize], b: &[usize]) -> Error {
    Error::shape(format!("shapes {a:?} and {b:?} cannot broadcast"))
}

/// Require two tensors of the same element type.
pub(crate) fn same_dtype(a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::dtype(format!(
            "inputs must have the same type, got {} and {}",
            a.dtype(),
            b.dtype()
        )));
    }
    Ok(())
}

/// Broadcast two symbolic dimensions.
fn broadcast_dim(a: &Dim, b: &Dim) -> Result<Dim> {
    Ok(match (a, b) {
        (Dim::Fixed(1), d) | (d, Dim::Fixed(1)) => d.clone(),
        (Dim::Fixed(x), Dim::Fixed(y)) if x == y => Dim::Fixed(*x),
        (Dim::Fixed(x), Dim::Fixed(y)) => {
            return Err(Error::shape(format!(
                "dimensions {x} and {y} cannot broadcast"
            )));
        }
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(*x),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Dim::Sym(x.clone()),
        _ => Dim::Unknown,
    })
}

/// Broadcast symbolic shapes (numpy rules); `None` when any rank is unknown.
pub(crate) fn broadcast_symbolic(shapes: &[Option<&Shape>]) -> Result<Option<Shape>> {
    let mut out: Vec<Dim> = Vec::new();
    for s in shapes {
        let Some(s) = s else { return Ok(None) };
        let n = out.len().max(s.rank());
        let mut next = Vec::with_capacity(n);
        for i in 0..n {
            let a = (i + out.len() >= n).then(|| &out[i + out.len() - n]);
            let b = (i + s.rank() >= n).then(|| &s.0[i + s.rank() - n]);
            next.push(match (a, b) {
                (Some(a), Some(b)) => broadcast_dim(a, b)?,
                (Some(d), None) | (None, Some(d)) => d.clone(),
                (None, None) => Dim::Fixed(1),
            });
        }
        out = next;
    }
    Ok(Some(Shape(out)))
}

/// One output fact: the broadcast of all (present) inputs' shapes, with `dtype` or, when
/// `None`, the first input's type.
pub(crate) fn infer_broadcast(
    inputs: &[InferInput<'_>],
    dtype: Option<DataType>,
) -> Result<Vec<TensorFact>> {
    let shapes: Vec<Option<&Shape>> = inputs.iter().map(|i| i.fact.shape.as_ref()).collect();
    let dtype = dtype.or_else(|| inputs.first().and_then(|i| i.fact.dtype));
    Ok(vec![TensorFact {
        dtype,
        shape: broadcast_symbolic(&shapes)?,
    }])
}

/// One output fact with the first input's shape, and `dtype` or the first input's type.
pub(crate) fn infer_unary(
    inputs: &[InferInput<'_>],
    dtype: Option<DataType>,
) -> Result<Vec<TensorFact>> {
    let Some(first) = inputs.first() else {
        return Ok(Vec::new());
    };
    Ok(vec![TensorFact {
        dtype: dtype.or(first.fact.dtype),
        shape: first.fact.shape.clone(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_broadcasts() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![1, 2]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![10, 20, 30]).unwrap();
        let c = zip2(&a, &b, |x, y| x + y).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(
            c.iter().copied().collect::<Vec<_>>(),
            vec![11, 21, 31, 12, 22, 32]
        );
        let bad = ArrayD::from_shape_vec(IxDyn(&[2]), vec![1, 2]).unwrap();
        assert!(zip2(&b, &bad, |x, y| x + y).is_err());
    }

    #[test]
    fn symbolic_broadcast() {
        let a = Shape(vec![Dim::Sym("N".into()), Dim::Fixed(1), Dim::Fixed(4)]);
        let b = Shape(vec![Dim::Fixed(3), Dim::Fixed(1)]);
        let c = broadcast_symbolic(&[Some(&a), Some(&b)]).unwrap().unwrap();
        assert_eq!(
            c,
            Shape(vec![Dim::Sym("N".into()), Dim::Fixed(3), Dim::Fixed(4)])
        );
        let d = Shape(vec![Dim::Sym("M".into()), Dim::Fixed(3), Dim::Fixed(4)]);
        let e = broadcast_symbolic(&[Some(&c), Some(&d)]).unwrap().unwrap();
        assert_eq!(e.0[0], Dim::Unknown);
        assert!(
            broadcast_symbolic(&[Some(&Shape::fixed(&[2])), Some(&Shape::fixed(&[3]))]).is_err()
        );
        assert_eq!(broadcast_symbolic(&[Some(&a), None]).unwrap(), None);
    }
}
