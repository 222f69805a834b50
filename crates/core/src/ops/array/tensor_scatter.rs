//! `TensorScatter`: write an update into a cache tensor along the sequence axis, at a
//! per-batch write index (modes linear and circular).

use super::common::{axis_in, check_attrs, for_each_index, opt_ints, strides};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Functional KV-cache update.
#[derive(Debug)]
pub struct TensorScatter {
    axis: i64,
    circular: bool,
}

/// Build from `axis` (default -2) and `mode` (linear/circular).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis", "mode"])?;
    let circular = match ctx.attrs.string_or("mode", "linear".into())?.as_str() {
        "linear" => false,
        "circular" => true,
        m => return Err(Error::attr("mode", format!("unknown mode '{m}'"))),
    };
    Ok(Box::new(TensorScatter {
        axis: ctx.attrs.int_or("axis", -2)?,
        circular,
    }))
}

impl Op for TensorScatter {
    fn op_type(&self) -> &str {
        "TensorScatter"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let cache = input(inputs, 0)?;
        let upd = input(inputs, 1)?;
        let cs = cache.shape();
        let us = upd.shape();
        let axis = axis_in(self.axis, cs.len())?;
        if axis == 0
            || us.len() != cs.len()
            || us
                .iter()
                .zip(cs)
                .enumerate()
                .any(|(i, (a, b))| i != axis && a != b)
            || us[axis] > cs[axis]
        {
            return Err(Error::shape(format!(
                "update {us:?} does not fit cache {cs:?} on axis {axis}"
            )));
        }
        if upd.dtype() != cache.dtype() {
            return Err(Error::dtype("update and cache types differ"));
        }
        let batch = cs[0];
        let wi = opt_ints(inputs, 2)?.unwrap_or_else(|| vec![0; batch]);
        if wi.len() != batch {
            return Err(Error::shape(format!(
                "{} write_indices for batch {batch}",
                wi.len()
            )));
        }
        let max = cs[axis] as i64;
        let cst = strides(cs);
        let mut offs = Vec::with_capacity(upd.len());
        for_each_index(us, |o| {
            let mut p = wi[o[0]].saturating_add(o[axis] as i64);
            if self.circular {
                p = p.rem_euclid(max);
            } else if p < 0 || p >= max {
                return Err(Error::input(format!(
                    "write position {p} is out of range 0..{max}"
                )));
            }
            offs.push(
                o.iter()
                    .enumerate()
                    .map(|(d, &i)| if d == axis { p as usize } else { i } * cst[d])
                    .sum(),
            );
            Ok(())
        })?;
        let red = super::common::Reduction::None;
        Ok(vec![super::common::scatter(cache, upd, &offs, red)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn linear_and_circular() {
        let cache = ti(&[2, 3, 1], &[0; 6]);
        let upd = ti(&[2, 2, 1], &[1, 2, 3, 4]);
        let wi = ti(&[2], &[0, 2]);
        let a = Attributes::new().with("axis", Attribute::Int(1));
        let bad = run_op(
            "TensorScatter",
            a.clone(),
            &[Some(cache.clone()), Some(upd.clone()), Some(wi.clone())],
            1,
        );
        assert!(bad.is_err());
        let c = a.with("mode", Attribute::String("circular".into()));
        let r = run_op("TensorScatter", c, &[Some(cache), Some(upd), Some(wi)], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 3, 1], &[1, 2, 0, 4, 0, 3]));
    }
}
