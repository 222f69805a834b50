//! `OneHot`: expand indices into one-hot vectors of `depth` along `axis`.

use super::common::{check_attrs, for_each_index, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// One-hot encoding.
#[derive(Debug)]
pub struct OneHot {
    axis: i64,
}

/// Build from `axis` (default -1).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis"])?;
    Ok(Box::new(OneHot {
        axis: ctx.attrs.int_or("axis", -1)?,
    }))
}

impl Op for OneHot {
    fn op_type(&self) -> &str {
        "OneHot"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ind = input(inputs, 0)?;
        let depth_t = input(inputs, 1)?;
        let values = input(inputs, 2)?;
        let depth = match depth_t.to_f64_vec()?.as_slice() {
            [d] => *d,
            _ => return Err(Error::input("depth must hold one value")),
        };
        if !(1.0..=1e9).contains(&depth) {
            return Err(Error::input(format!("depth must be positive, got {depth}")));
        }
        let depth = depth as usize;
        if values.len() != 2 {
            return Err(Error::input("values must hold [off, on]"));
        }
        let values = values.reshape(&[2])?;
        let r = ind.rank() as i64 + 1;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if axis < 0 || axis >= r {
            return Err(Error::attr(
                "axis",
                format!("axis {} is out of range", self.axis),
            ));
        }
        let axis = axis as usize;
        let idx: Vec<i64> = ind.to_f64_vec()?.into_iter().map(|x| x as i64).collect();
        let mut out = ind.shape().to_vec();
        out.insert(axis, depth);
        let ist = super::common::strides(ind.shape());
        let d = depth as i64;
        let mut pick = Vec::with_capacity(out.iter().product());
        for_each_index(&out, |o| {
            let mut k = 0;
            for (j, &i) in o.iter().enumerate() {
                if j < axis {
                    k += i * ist[j];
                } else if j > axis {
                    k += i * ist[j - 1];
                }
            }
            let v = idx.get(k).copied().unwrap_or(-1);
            let v = if v < 0 { v + d } else { v };
            pick.push(usize::from(v == o[axis] as i64));
            Ok(())
        })?;
        Ok(vec![take(&values, &pick, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes, Tensor};

    #[test]
    fn negative_and_out_of_range() {
        let ind = ti(&[3], &[0, -1, 7]);
        let vals = tf(&[2], &[0.0, 5.0]);
        let r = run_op(
            "OneHot",
            Attributes::new(),
            &[
                Some(ind.clone()),
                Some(Tensor::scalar(3i64)),
                Some(vals.clone()),
            ],
            1,
        )
        .unwrap();
        assert_eq!(
            r[0],
            tf(&[3, 3], &[5.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0])
        );
        let a = Attributes::new().with("axis", Attribute::Int(0));
        let r = run_op(
            "OneHot",
            a,
            &[Some(ind), Some(Tensor::scalar(3i64)), Some(vals)],
            1,
        )
        .unwrap();
        assert_eq!(r[0].shape(), &[3, 3]);
        assert_eq!(r[0].to_f64_vec().unwrap()[..3], [5.0, 0.0, 0.0]);
    }
}
