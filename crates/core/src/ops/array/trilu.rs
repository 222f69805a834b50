//! `Trilu`: keep the upper (or lower) triangle of the last two dims, zero the rest.

use super::common::{bool_attr, check_attrs, for_each_index, scalar_int, take_or, zero_of};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Triangular part of matrices.
#[derive(Debug)]
pub struct Trilu {
    upper: bool,
}

/// Build from `upper` (default 1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["upper"])?;
    Ok(Box::new(Trilu {
        upper: bool_attr(ctx, "upper", true)?,
    }))
}

impl Op for Trilu {
    fn op_type(&self) -> &str {
        "Trilu"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let k = opt_input(inputs, 1)
            .map(|t| scalar_int(t, "k"))
            .transpose()?
            .unwrap_or(0);
        let s = x.shape();
        if s.len() < 2 {
            return Err(Error::shape(format!("Trilu needs rank >= 2, got {s:?}")));
        }
        let r = s.len();
        let mut idx = Vec::with_capacity(x.len());
        let mut flat = 0usize;
        for_each_index(s, |o| {
            let diff = o[r - 1] as i64 - o[r - 2] as i64;
            let keep = if self.upper { diff >= k } else { diff <= k };
            idx.push(keep.then_some(flat));
            flat += 1;
            Ok(())
        })?;
        Ok(vec![take_or(x, &idx, s, &zero_of(x.dtype()))?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes, Tensor};

    #[test]
    fn upper_and_lower_with_k() {
        let x = ti(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let r = run_op(
            "Trilu",
            Attributes::new(),
            &[Some(x.clone()), Some(Tensor::scalar(1i64))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 3], &[0, 2, 3, 0, 0, 6]));
        let a = Attributes::new().with("upper", Attribute::Int(0));
        let r = run_op("Trilu", a, &[Some(x)], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 3], &[1, 0, 0, 4, 5, 0]));
    }
}
