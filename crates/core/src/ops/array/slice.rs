//! `Slice`: take `starts..ends` by `steps` along `axes` (negative steps, clamped bounds).

use super::common::{
    axes_in, check_attrs, const_ints, fact, fact_dims, fact_of, for_each_index, opt_ints, req_ints,
    strides, take,
};
use crate::ops::util::input;
use crate::{BuildCtx, Dim, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Slices its input.
#[derive(Debug)]
pub struct Slice;

/// Build (everything comes as inputs).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Slice))
}

/// Per-axis selection: first index, step and count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Range1 {
    /// First index taken.
    pub start: i64,
    /// Step between taken indices (non-zero).
    pub step: i64,
    /// Number of indices taken.
    pub len: usize,
}

/// Clamp one axis's `start`/`end`/`step` against a dim of size `dim` (ONNX rules).
pub(crate) fn clamp_range(start: i64, end: i64, step: i64, dim: usize) -> Result<Range1> {
    if step == 0 {
        return Err(Error::input("slice steps cannot be 0"));
    }
    if dim == 0 {
        return Ok(Range1 {
            start: 0,
            step,
            len: 0,
        });
    }
    let d = dim as i64;
    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = if step > 0 {
        (fix(start).clamp(0, d), fix(end).clamp(0, d))
    } else {
        (fix(start).clamp(0, d - 1), fix(end).clamp(-1, d - 1))
    };
    let len = if step > 0 {
        if e > s { (e - s + step - 1) / step } else { 0 }
    } else if s > e {
        (s - e + (-step) - 1) / (-step)
    } else {
        0
    };
    Ok(Range1 {
        start: s,
        step,
        len: len as usize,
    })
}

/// Per-axis ranges for a full slice description.
pub(crate) fn ranges(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Vec<Range1>> {
    let n = starts.len();
    if ends.len() != n || axes.is_some_and(|a| a.len() != n) || steps.is_some_and(|s| s.len() != n)
    {
        return Err(Error::input(
            "starts, ends, axes and steps must have the same length",
        ));
    }
    let axes = match axes {
        Some(a) => axes_in(a, shape.len())?,
        None => {
            if n > shape.len() {
                return Err(Error::input(format!(
                    "{n} starts for a rank-{} input",
                    shape.len()
                )));
            }
            (0..n).collect()
        }
    };
    let mut r: Vec<Range1> = shape
        .iter()
        .map(|&d| Range1 {
            start: 0,
            step: 1,
            len: d,
        })
        .collect();
    for (i, &a) in axes.iter().enumerate() {
        let step = steps.map_or(1, |s| s[i]);
        r[a] = clamp_range(starts[i], ends[i], step, shape[a])?;
    }
    Ok(r)
}

/// Apply per-axis ranges to a tensor.
pub(crate) fn slice_tensor(x: &Tensor, r: &[Range1]) -> Result<Tensor> {
    let st = strides(x.shape());
    let out: Vec<usize> = r.iter().map(|a| a.len).collect();
    let mut idx = Vec::with_capacity(out.iter().product());
    for_each_index(&out, |o| {
        let mut k = 0i64;
        for ((&i, a), &s) in o.iter().zip(r).zip(&st) {
            k += (a.start + a.step * i as i64) * s as i64;
        }
        idx.push(k as usize);
        Ok(())
    })?;
    take(x, &idx, &out)
}

impl Op for Slice {
    fn op_type(&self) -> &str {
        "Slice"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let dtype = fact(inputs, 0).and_then(|f| f.dtype);
        let Some(d) = fact_dims(fact(inputs, 0)) else {
            return Ok(vec![fact_of(dtype, None)]);
        };
        let get = |i: usize| -> Option<Option<Vec<i64>>> {
            match inputs.get(i) {
                None => Some(None),
                Some(_) => const_ints(inputs, i).map(Some),
            }
        };
        let (Some(Some(starts)), Some(Some(ends)), Some(axes), Some(steps)) =
            (get(1), get(2), get(3), get(4))
        else {
            return Ok(vec![fact_of(dtype, Some(vec![Dim::Unknown; d.len()]))]);
        };
        let n = starts.len();
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..n as i64).collect());
        let ax = axes_in(&axes, d.len())?;
        if ends.len() != n || ax.len() != n || steps.as_ref().is_some_and(|s| s.len() != n) {
            return Err(Error::input(
                "starts, ends, axes and steps must have the same length",
            ));
        }
        let mut out = d.clone();
        for (i, &a) in ax.iter().enumerate() {
            let step = steps.as_ref().map_or(1, |s| s[i]);
            out[a] = match d[a].fixed() {
                Some(n) => Dim::Fixed(clamp_range(starts[i], ends[i], step, n)?.len),
                None => Dim::Unknown,
            };
        }
        Ok(vec![fact_of(dtype, Some(out))])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let starts = req_ints(inputs, 1, "starts")?;
        let ends = req_ints(inputs, 2, "ends")?;
        let axes = opt_ints(inputs, 3)?;
        let steps = opt_ints(inputs, 4)?;
        let r = ranges(x.shape(), &starts, &ends, axes.as_deref(), steps.as_deref())?;
        Ok(vec![slice_tensor(x, &r)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use super::clamp_range;
    use crate::Attributes;

    #[test]
    fn clamping() {
        assert_eq!(clamp_range(0, i64::MAX, 1, 5).unwrap().len, 5);
        assert_eq!(clamp_range(-1, i64::MIN, -1, 5).unwrap().len, 5);
        assert_eq!(clamp_range(10, -10, -2, 5).unwrap().len, 3);
        assert_eq!(clamp_range(3, 1, 1, 5).unwrap().len, 0);
        assert!(clamp_range(0, 1, 0, 5).is_err());
    }

    #[test]
    fn negative_step_slice() {
        let x = ti(&[2, 4], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let r = run_op(
            "Slice",
            Attributes::new(),
            &[
                Some(x),
                Some(ti(&[1], &[-1])),
                Some(ti(&[1], &[0])),
                Some(ti(&[1], &[1])),
                Some(ti(&[1], &[-2])),
            ],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 2], &[3, 1, 7, 5]));
    }
}
