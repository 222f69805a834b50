//! Variadic broadcasting reductions over inputs, one table line per op: `Sum`, `Mean`,
//! `Max`, `Min` (`Max`/`Min` propagate NaN like numpy `maximum`/`minimum`).

use super::common::{check_attrs, infer_broadcast, zip2};
use super::scalar::{Num, max_nan, min_nan};
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};
use ndarray::ArrayD;

/// Which combination of inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
}

/// Folds any number of inputs element-wise with broadcasting.
#[derive(Debug)]
pub struct Variadic {
    name: &'static str,
    kind: Kind,
}

fn make(ctx: &BuildCtx<'_>, name: &'static str, kind: Kind) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    if ctx.num_inputs == 0 {
        return Err(Error::input(format!("{name} needs at least one input")));
    }
    Ok(Box::new(Variadic { name, kind }))
}

/// Build `Sum`.
pub fn sum(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Sum", Kind::Sum)
}
/// Build `Mean`.
pub fn mean(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Mean", Kind::Mean)
}
/// Build `Max`.
pub fn max(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Max", Kind::Max)
}
/// Build `Min`.
pub fn min(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    make(ctx, "Min", Kind::Min)
}

fn fold<T: Num>(kind: Kind, first: &ArrayD<T>, rest: &[&Tensor]) -> Result<ArrayD<T>> {
    let mut acc = first.clone();
    for t in rest {
        let b = t.array::<T>()?;
        acc = match kind {
            Kind::Sum | Kind::Mean => zip2(&acc, b, |&x, &y| x.add(y))?,
            Kind::Max => zip2(&acc, b, |&x, &y| max_nan(x, y))?,
            Kind::Min => zip2(&acc, b, |&x, &y| min_nan(x, y))?,
        };
    }
    if kind == Kind::Mean {
        let n = T::of_f64((rest.len() + 1) as f64);
        acc.mapv_inplace(|x| x.div(n));
    }
    Ok(acc)
}

impl Op for Variadic {
    fn op_type(&self) -> &str {
        self.name
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        infer_broadcast(inputs, None)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let first = input(inputs, 0)?;
        let rest = (1..inputs.len())
            .map(|i| input(inputs, i))
            .collect::<Result<Vec<&Tensor>>>()?;
        let out = crate::dispatch_numeric!(first, a => Tensor::from(fold(self.kind, a, &rest)?));
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    #[test]
    fn folds_with_broadcast_and_nan() {
        let attrs = Attributes::new();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: 3,
            num_outputs: 1,
        };
        let a = Tensor::from_vec(&[2], vec![1.0f32, f32::NAN]).unwrap();
        let b = Tensor::scalar(3.0f32);
        let c = Tensor::from_vec(&[2, 1], vec![2.0f32, 5.0]).unwrap();
        let m = max(&ctx)
            .unwrap()
            .eval(&[Some(&a), Some(&b), Some(&c)])
            .unwrap()
            .remove(0);
        let m = m.into_array::<f32>().unwrap();
        assert_eq!(m.shape(), &[2, 2]);
        assert_eq!((m[[0, 0]], m[[1, 0]]), (3.0, 5.0));
        assert!(m[[0, 1]].is_nan());
        let s = mean(&ctx)
            .unwrap()
            .eval(&[Some(&b), Some(&b), Some(&c)])
            .unwrap()
            .remove(0);
        assert_eq!(
            s,
            Tensor::from_vec(&[2, 1], vec![8.0f32 / 3.0, 11.0 / 3.0]).unwrap()
        );
        assert!(
            sum(&ctx)
                .unwrap()
                .eval(&[Some(&b), Some(&Tensor::scalar(1i32))])
                .is_err()
        );
    }
}
