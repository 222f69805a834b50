//! The `Reduce*` ops (ReduceSum, ReduceMean, ReduceMax, ...): one shared implementation,
//! one [`Kind`] per op.
//!
//! Latest-opset form: the axes come from the optional second input; an absent or empty axes
//! input reduces every axis, unless `noop_with_empty_axes` is set (then the op is an
//! identity). Reductions over zero-size dims give the reduction's identity element.

use super::common::{Num, check_attrs};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};
use ndarray::{ArrayD, IxDyn};

/// Which reduction an op computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Sum of elements.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Product.
    Prod,
    /// Sum of absolute values.
    L1,
    /// Square root of the sum of squares.
    L2,
    /// Natural log of the sum.
    LogSum,
    /// Natural log of the sum of exponentials.
    LogSumExp,
    /// Sum of squares.
    SumSquare,
}

impl Kind {
    /// The ONNX op name.
    pub fn op_name(self) -> &'static str {
        match self {
            Kind::Sum => "ReduceSum",
            Kind::Mean => "ReduceMean",
            Kind::Max => "ReduceMax",
            Kind::Min => "ReduceMin",
            Kind::Prod => "ReduceProd",
            Kind::L1 => "ReduceL1",
            Kind::L2 => "ReduceL2",
            Kind::LogSum => "ReduceLogSum",
            Kind::LogSumExp => "ReduceLogSumExp",
            Kind::SumSquare => "ReduceSumSquare",
        }
    }

    /// True when integer inputs reduce exactly (wrapping) rather than through f64.
    fn exact_for_ints(self) -> bool {
        matches!(
            self,
            Kind::Sum | Kind::Max | Kind::Min | Kind::Prod | Kind::L1 | Kind::SumSquare
        )
    }
}

/// A reduction op over the axes given by its second input.
#[derive(Debug)]
pub struct Reduce {
    kind: Kind,
    keepdims: bool,
    noop_with_empty_axes: bool,
}

/// Build a reduction of kind `kind` from its attributes.
pub fn build(ctx: &BuildCtx<'_>, kind: Kind) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["keepdims", "noop_with_empty_axes"])?;
    let flag = |name: &str, default: i64| -> Result<bool> {
        match ctx.attrs.int_or(name, default)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::attr(name, format!("must be 0 or 1, got {v}"))),
        }
    };
    Ok(Box::new(Reduce {
        kind,
        keepdims: flag("keepdims", 1)?,
        noop_with_empty_axes: flag("noop_with_empty_axes", 0)?,
    }))
}

impl Reduce {
    /// Which axes to reduce: `None` means "no-op" (empty axes with `noop_with_empty_axes`).
    fn mask(&self, axes: Option<&[i64]>, rank: usize) -> Result<Option<Vec<bool>>> {
        let axes = axes.unwrap_or(&[]);
        if axes.is_empty() {
            return Ok(if self.noop_with_empty_axes {
                None
            } else {
                Some(vec![true; rank])
            });
        }
        let mut mask = vec![false; rank];
        for &a in axes {
            let r = rank as i64;
            let n = if a < 0 { a + r } else { a };
            if n < 0 || n >= r {
                return Err(Error::shape(format!(
                    "{}: axis {a} is out of range for rank {rank}",
                    self.kind.op_name()
                )));
            }
            let slot = &mut mask[n as usize];
            if *slot {
                return Err(Error::shape(format!(
                    "{}: axis {a} is repeated",
                    self.kind.op_name()
                )));
            }
            *slot = true;
        }
        Ok(Some(mask))
    }

    /// The output dims for a reduction mask.
    fn out_dims<D: Clone>(&self, dims: &[D], mask: &[bool], one: D) -> Vec<D> {
        dims.iter()
            .zip(mask)
            .filter_map(|(d, &m)| match (m, self.keepdims) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(one.clone()),
                (true, false) => None,
            })
            .collect()
    }
}

/// For every input element (row-major), the index of the output element it reduces into.
fn out_index_map(shape: &[usize], mask: &[bool]) -> (Vec<usize>, usize) {
    let rank = shape.len();
    // Strides of the (keepdims) output.
    let mut strides = vec![0usize; rank];
    let mut acc = 1usize;
    for i in (0..rank).rev() {
        if !mask[i] {
            strides[i] = acc;
            acc *= shape[i];
        }
    }
    let out_len = acc;
    let total: usize = shape.iter().product();
    let mut map = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for _ in 0..total {
        map.push(off);
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            off -= strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    (map, out_len)
}

/// Reduce f64 values.
fn reduce_f64(kind: Kind, x: &[f64], map: &[usize], out_len: usize) -> Vec<f64> {
    let fold = |init: f64, step: &dyn Fn(f64, f64) -> f64| {
        let mut out = vec![init; out_len];
        for (&v, &o) in x.iter().zip(map) {
            out[o] = step(out[o], v);
        }
        out
    };
    let sum = |f: &dyn Fn(f64) -> f64| fold(0.0, &|a, v| a + f(v));
    match kind {
        Kind::Sum => sum(&|v| v),
        Kind::Mean => {
            let count = x.len().checked_div(out_len).unwrap_or(1) as f64;
            sum(&|v| v).into_iter().map(|s| s / count).collect()
        }
        Kind::Max => fold(f64::NEG_INFINITY, &|a, v| {
            if v > a || v.is_nan() { v } else { a }
        }),
        Kind::Min => fold(f64::INFINITY, &|a, v| {
            if v < a || v.is_nan() { v } else { a }
        }),
        Kind::Prod => fold(1.0, &|a, v| a * v),
        Kind::L1 => sum(&|v| v.abs()),
        Kind::L2 => sum(&|v| v * v).into_iter().map(f64::sqrt).collect(),
        Kind::LogSum => sum(&|v| v).into_iter().map(f64::ln).collect(),
        Kind::SumSquare => sum(&|v| v * v),
        Kind::LogSumExp => {
            let max = reduce_f64(Kind::Max, x, map, out_len);
            let mut s = vec![0.0; out_len];
            for (&v, &o) in x.iter().zip(map) {
                s[o] += (v - max[o]).exp();
            }
            max.iter()
                .zip(s)
                .map(|(&m, s)| if m.is_infinite() { m } else { m + s.ln() })
                .collect()
        }
    }
}

/// Reduce integers exactly (wrapping into the element type at the end).
fn reduce_int<T: Num>(kind: Kind, x: &[T], map: &[usize], out_len: usize) -> Vec<T> {
    let fold = |init: i128, step: &dyn Fn(i128, i128) -> i128| {
        let mut out = vec![init; out_len];
        for (v, &o) in x.iter().zip(map) {
            out[o] = step(out[o], v.to_i128());
        }
        out
    };
    let r = match kind {
        Kind::Max => fold(T::LOWEST, &|a, v| a.max(v)),
        Kind::Min => fold(T::HIGHEST, &|a, v| a.min(v)),
        Kind::Prod => fold(1, &|a, v| T::from_i128(a.wrapping_mul(v)).to_i128()),
        Kind::L1 => fold(0, &|a, v| T::from_i128(a.wrapping_add(v.abs())).to_i128()),
        Kind::SumSquare => fold(0, &|a, v| {
            T::from_i128(a.wrapping_add(v.wrapping_mul(v))).to_i128()
        }),
        _ => fold(0, &|a, v| T::from_i128(a.wrapping_add(v)).to_i128()),
    };
    r.into_iter().map(T::from_i128).collect()
}

fn reduce_typed<T: Num + crate::Element>(
    kind: Kind,
    a: &ArrayD<T>,
    mask: &[bool],
    keep_shape: &[usize],
) -> Result<Tensor> {
    let (map, out_len) = out_index_map(a.shape(), mask);
    let data: Vec<T> = if !T::IS_FLOAT && kind.exact_for_ints() {
        let x: Vec<T> = a.iter().copied().collect();
        reduce_int(kind, &x, &map, out_len)
    } else {
        let x: Vec<f64> = a.iter().map(|v| v.to_f64()).collect();
        reduce_f64(kind, &x, &map, out_len)
            .into_iter()
            .map(T::from_f64)
            .collect()
    };
    let arr =
        ArrayD::from_shape_vec(IxDyn(keep_shape), data).map_err(|e| Error::shape(e.to_string()))?;
    Ok(T::wrap(arr))
}

fn reduce_bool(
    kind: Kind,
    a: &ArrayD<bool>,
    mask: &[bool],
    keep_shape: &[usize],
) -> Result<Tensor> {
    let (map, out_len) = out_index_map(a.shape(), mask);
    let (init, any) = match kind {
        Kind::Max => (false, true),
        Kind::Min => (true, false),
        k => {
            return Err(Error::dtype(format!(
                "{} does not accept bool inputs",
                k.op_name()
            )));
        }
    };
    let mut out = vec![init; out_len];
    for (&v, &o) in a.iter().zip(&map) {
        out[o] = if any { out[o] || v } else { out[o] && v };
    }
    let arr =
        ArrayD::from_shape_vec(IxDyn(keep_shape), out).map_err(|e| Error::shape(e.to_string()))?;
    Ok(Tensor::Bool(arr))
}

impl Op for Reduce {
    fn op_type(&self) -> &str {
        self.kind.op_name()
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let Some(x) = inputs.first() else {
            return Ok(Vec::new());
        };
        let dtype = x.fact.dtype;
        let axes_input = inputs.get(1);
        let axes: Option<Vec<i64>> = match axes_input {
            None => Some(Vec::new()),
            Some(i) => match i.value {
                Some(t) => Some(t.to_i64_vec()?),
                None => None,
            },
        };
        let shape = match (&x.fact.shape, axes) {
            (Some(s), Some(axes)) => match self.mask(Some(&axes), s.rank())? {
                None => Some(s.clone()),
                Some(mask) => Some(Shape(self.out_dims(&s.0, &mask, Dim::Fixed(1)))),
            },
            (Some(s), None) if self.keepdims => Some(Shape(vec![Dim::Unknown; s.rank()])),
            _ => None,
        };
        Ok(vec![TensorFact { dtype, shape }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let axes = match opt_input(inputs, 1) {
            Some(t) => Some(t.to_i64_vec()?),
            None => None,
        };
        let Some(mask) = self.mask(axes.as_deref(), x.rank())? else {
            return Ok(vec![x.clone()]);
        };
        let keep: Vec<usize> = x
            .shape()
            .iter()
            .zip(&mask)
            .map(|(&d, &m)| if m { 1 } else { d })
            .collect();
        let kind = self.kind;
        let out = match x {
            Tensor::Bool(a) => reduce_bool(kind, a, &mask, &keep)?,
            other => {
                crate::dispatch_numeric!(other, a => reduce_typed::<T>(kind, a, &mask, &keep)?)
            }
        };
        let final_shape = self.out_dims(x.shape(), &mask, 1);
        Ok(vec![out.reshape(&final_shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn op(kind: Kind, keepdims: i64, noop: i64) -> Box<dyn Op> {
        let attrs = Attributes::new()
            .with("keepdims", Attribute::Int(keepdims))
            .with("noop_with_empty_axes", Attribute::Int(noop));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 2,
            num_outputs: 1,
        };
        build(&ctx, kind).unwrap()
    }

    fn run(kind: Kind, keep: i64, x: &Tensor, axes: &[i64]) -> Tensor {
        let axes = Tensor::from_vec(&[axes.len()], axes.to_vec()).unwrap();
        op(kind, keep, 0)
            .eval(&[Some(x), Some(&axes)])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn sum_over_middle_axis() {
        let x = Tensor::from_vec(&[2, 2, 2], (1..=8).map(|v| v as f32).collect()).unwrap();
        let y = run(Kind::Sum, 0, &x, &[1]);
        assert_eq!(
            y,
            Tensor::from_vec(&[2, 2], vec![4.0f32, 6.0, 12.0, 14.0]).unwrap()
        );
        let y = run(Kind::Sum, 1, &x, &[-1]);
        assert_eq!(y.shape(), &[2, 2, 1]);
    }

    #[test]
    fn empty_axes_reduce_all_or_noop() {
        let x = Tensor::from_vec(&[2, 2], vec![1i64, 2, 3, 4]).unwrap();
        let y = run(Kind::Prod, 0, &x, &[]);
        assert_eq!(y, Tensor::scalar(24i64));
        let axes = Tensor::from_vec::<i64>(&[0], vec![]).unwrap();
        let y = op(Kind::Sum, 1, 1).eval(&[Some(&x), Some(&axes)]).unwrap();
        assert_eq!(y[0], x);
    }

    #[test]
    fn empty_set_gives_identity() {
        let x = Tensor::from_vec::<f32>(&[2, 0, 4], vec![]).unwrap();
        let y = run(Kind::Max, 1, &x, &[1]);
        assert_eq!(y.shape(), &[2, 1, 4]);
        assert!(
            y.to_f64_vec()
                .unwrap()
                .iter()
                .all(|v| *v == f64::NEG_INFINITY)
        );
        let y = run(Kind::Prod, 1, &x, &[1]);
        assert!(y.to_f64_vec().unwrap().iter().all(|v| *v == 1.0));
        let y = run(Kind::Sum, 1, &x, &[2]);
        assert_eq!(y.shape(), &[2, 0, 1]);
    }

    #[test]
    fn ints_wrap_and_bools_work() {
        let x = Tensor::from_vec(&[2], vec![100i8, 100]).unwrap();
        assert_eq!(run(Kind::Sum, 0, &x, &[0]), Tensor::scalar(-56i8));
        let x = Tensor::from_vec(&[3], vec![7i32, -2, 4]).unwrap();
        assert_eq!(run(Kind::Mean, 0, &x, &[0]), Tensor::scalar(3i32));
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert_eq!(run(Kind::Max, 0, &b, &[0]), Tensor::scalar(true));
        assert_eq!(run(Kind::Min, 0, &b, &[0]), Tensor::scalar(false));
    }

    #[test]
    fn log_sum_exp_is_stable() {
        let x = Tensor::from_vec(&[2], vec![1000.0f64, 1000.0]).unwrap();
        let y = run(Kind::LogSumExp, 0, &x, &[0]).to_f64_vec().unwrap();
        assert!((y[0] - (1000.0 + 2f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn bad_axes_are_errors() {
        let x = Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap();
        let axes = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        assert!(op(Kind::Sum, 1, 0).eval(&[Some(&x), Some(&axes)]).is_err());
        let axes = Tensor::from_vec(&[2], vec![0i64, -1]).unwrap();
        assert!(op(Kind::Sum, 1, 0).eval(&[Some(&x), Some(&axes)]).is_err());
        let attrs = Attributes::new().with("axes", Attribute::Ints(vec![0]));
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 1,
        };
        assert!(build(&ctx, Kind::Sum).is_err());
    }

    #[test]
    fn infer_keeps_symbols() {
        let fact = TensorFact::new(
            crate::DataType::F32,
            Shape(vec![Dim::Sym("n".into()), Dim::Fixed(3)]),
        );
        let axes = Tensor::from_vec(&[1], vec![1i64]).unwrap();
        let axes_fact = TensorFact::default();
        let out = op(Kind::Mean, 0, 0)
            .infer(&[
                InferInput {
                    fact: &fact,
                    value: None,
                },
                InferInput {
                    fact: &axes_fact,
                    value: Some(&axes),
                },
            ])
            .unwrap();
        assert_eq!(out[0].shape, Some(Shape(vec![Dim::Sym("n".into())])));
    }
}
