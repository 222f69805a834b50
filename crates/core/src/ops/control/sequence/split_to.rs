//! `SplitToSequence`: split a tensor along an axis into a sequence of tensors.

use crate::ops::control::common::{check_attrs, opt_tensor_in, slice_axis, tensor_in};
use crate::ops::util::normalize_axis;
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Splits by a scalar chunk size, by a list of sizes, or (no `split`) into size-1 pieces
/// whose split axis is dropped unless `keepdims`.
#[derive(Debug)]
pub struct SplitToSequence {
    axis: i64,
    keepdims: bool,
}

/// Build from `axis` (default 0) and `keepdims` (default 1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "keepdims"])?;
    let keepdims = ctx.attrs.int_or("keepdims", 1)?;
    if keepdims != 0 && keepdims != 1 {
        return Err(Error::attr("keepdims", "must be 0 or 1"));
    }
    Ok(Box::new(SplitToSequence {
        axis: ctx.attrs.int_or("axis", 0)?,
        keepdims: keepdims == 1,
    }))
}

impl Op for SplitToSequence {
    fn op_type(&self) -> &str {
        "SplitToSequence"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let x = tensor_in(inputs, 0)?;
        if x.rank() == 0 {
            return Err(Error::shape("SplitToSequence needs an input of rank >= 1"));
        }
        let axis = normalize_axis(self.axis, x.rank())?;
        let dim = x.shape()[axis];
        let (sizes, squeeze) = match opt_tensor_in(inputs, 1)? {
            None => (vec![1usize; dim], !self.keepdims),
            Some(s) => {
                let v = s.to_i64_vec()?;
                if v.iter().any(|&n| n < 0) {
                    return Err(Error::input("split sizes must be non-negative"));
                }
                if s.rank() == 0 {
                    let chunk = v[0] as usize;
                    if chunk == 0 {
                        return Err(Error::input("a scalar split must be positive"));
                    }
                    let mut sizes = vec![chunk; dim / chunk];
                    if dim % chunk != 0 {
                        sizes.push(dim % chunk);
                    }
                    (sizes, false)
                } else {
                    let total: i64 = v.iter().sum();
                    if total != dim as i64 {
                        return Err(Error::input(format!(
                            "split sizes sum to {total}, axis {axis} has {dim}"
                        )));
                    }
                    (v.into_iter().map(|n| n as usize).collect(), false)
                }
            }
        };
        let mut out = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for n in sizes {
            let mut piece = slice_axis(x, axis, start, start + n)?;
            if squeeze {
                let mut shape = piece.shape().to_vec();
                shape.remove(axis);
                piece = piece.reshape(&shape)?;
            }
            out.push(piece);
            start += n;
        }
        Ok(vec![Value::Sequence(out)])
    }
}
