//! `ReverseSequence`: reverse the first `sequence_lens[b]` steps of each batch entry.

use super::common::{check_attrs, for_each_index, req_ints, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Per-batch partial reversal along the time axis.
#[derive(Debug)]
pub struct ReverseSequence {
    batch_axis: usize,
    time_axis: usize,
}

/// Build from `batch_axis` (default 1) and `time_axis` (default 0), each 0 or 1.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["batch_axis", "time_axis"])?;
    let b = ctx.attrs.int_or("batch_axis", 1)?;
    let t = ctx.attrs.int_or("time_axis", 0)?;
    if !matches!((b, t), (0, 1) | (1, 0)) {
        return Err(Error::attr(
            "batch_axis",
            format!("batch_axis {b} and time_axis {t} must be 0 and 1"),
        ));
    }
    Ok(Box::new(ReverseSequence {
        batch_axis: b as usize,
        time_axis: t as usize,
    }))
}

impl Op for ReverseSequence {
    fn op_type(&self) -> &str {
        "ReverseSequence"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let lens = req_ints(inputs, 1, "sequence_lens")?;
        let s = x.shape();
        if s.len() < 2 {
            return Err(Error::shape(format!(
                "ReverseSequence needs rank >= 2, got {s:?}"
            )));
        }
        let (nb, nt) = (s[self.batch_axis], s[self.time_axis]);
        if lens.len() != nb {
            return Err(Error::shape(format!(
                "{} sequence_lens for batch {nb}",
                lens.len()
            )));
        }
        if let Some(l) = lens.iter().find(|&&l| l < 0 || l as usize > nt) {
            return Err(Error::input(format!(
                "sequence length {l} is out of range 0..={nt}"
            )));
        }
        let st = strides(s);
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(s, |o| {
            let l = lens[o[self.batch_axis]] as usize;
            let t = o[self.time_axis];
            let src_t = if t < l { l - 1 - t } else { t };
            idx.push(
                o.iter()
                    .enumerate()
                    .map(|(d, &i)| if d == self.time_axis { src_t } else { i } * st[d])
                    .sum(),
            );
            Ok(())
        })?;
        Ok(vec![take(x, &idx, s)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn batch_major() {
        let x = ti(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = Attributes::new()
            .with("batch_axis", Attribute::Int(0))
            .with("time_axis", Attribute::Int(1));
        let r = run_op(
            "ReverseSequence",
            a.clone(),
            &[Some(x.clone()), Some(ti(&[2], &[2, 3]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 3], &[2, 1, 3, 6, 5, 4]));
        assert!(run_op("ReverseSequence", a, &[Some(x), Some(ti(&[2], &[4, 1]))], 1).is_err());
    }
}
