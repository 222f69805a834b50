//! `ConcatFromSequence`: concatenate (or stack, with `new_axis`) the tensors of a sequence.

use crate::ops::control::common::{check_attrs, concat, seq_in, stack};
use crate::ops::util::normalize_axis;
use crate::{BuildCtx, Error, EvalContext, Op, Result, Value};

/// Concatenates along `axis`; with `new_axis = 1` stacks along a new axis instead.
#[derive(Debug)]
pub struct ConcatFromSequence {
    axis: i64,
    new_axis: bool,
}

/// Build from `axis` (required) and `new_axis` (0 or 1, default 0).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["axis", "new_axis"])?;
    let new_axis = ctx.attrs.int_or("new_axis", 0)?;
    if new_axis != 0 && new_axis != 1 {
        return Err(Error::attr("new_axis", "must be 0 or 1"));
    }
    Ok(Box::new(ConcatFromSequence {
        axis: ctx.attrs.int_req("axis")?,
        new_axis: new_axis == 1,
    }))
}

impl Op for ConcatFromSequence {
    fn op_type(&self) -> &str {
        "ConcatFromSequence"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], _: &EvalContext<'_>) -> Result<Vec<Value>> {
        let seq = seq_in(inputs, 0)?;
        let first = seq
            .first()
            .ok_or_else(|| Error::input("ConcatFromSequence of an empty sequence"))?;
        let rank = first.rank() + usize::from(self.new_axis);
        let axis = normalize_axis(self.axis, rank)?;
        let out = if self.new_axis {
            stack(seq, axis)?
        } else {
            concat(seq, axis)?
        };
        Ok(vec![Value::Tensor(out)])
    }
}
