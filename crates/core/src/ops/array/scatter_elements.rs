//! `ScatterElements`: copy `data`, then write (or reduce) `updates` at positions given by
//! `indices` along `axis`.

use super::common::{Reduction, axis_in, check_attrs, reduction_attr, scatter};
use super::gather_elements::element_offsets;
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Element-wise scatter along an axis.
#[derive(Debug)]
pub struct ScatterElements {
    axis: i64,
    reduction: Reduction,
}

/// Build from `axis` and `reduction` (none/add/mul/max/min).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["axis", "reduction"])?;
    Ok(Box::new(ScatterElements {
        axis: ctx.attrs.int_or("axis", 0)?,
        reduction: reduction_attr(ctx)?,
    }))
}

impl Op for ScatterElements {
    fn op_type(&self) -> &str {
        "ScatterElements"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let ind = input(inputs, 1)?;
        let upd = input(inputs, 2)?;
        if ind.shape() != upd.shape() {
            return Err(Error::shape(format!(
                "indices {:?} and updates {:?} differ",
                ind.shape(),
                upd.shape()
            )));
        }
        let axis = axis_in(self.axis, x.rank())?;
        let offs = element_offsets(x.shape(), ind.shape(), &ind.to_i64_vec()?, axis)?;
        Ok(vec![scatter(x, upd, &offs, self.reduction)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn scatter_add_duplicates() {
        let x = tf(&[1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let a = Attributes::new()
            .with("axis", Attribute::Int(1))
            .with("reduction", Attribute::String("add".into()));
        let r = run_op(
            "ScatterElements",
            a,
            &[
                Some(x.clone()),
                Some(ti(&[1, 2], &[1, 1])),
                Some(tf(&[1, 2], &[1.1, 2.1])),
            ],
            1,
        )
        .unwrap();
        assert_eq!(r[0], tf(&[1, 5], &[1.0, 5.2, 3.0, 4.0, 5.0]));
        let bad = Attributes::new().with("reduction", Attribute::String("avg".into()));
        assert!(run_op("ScatterElements", bad, &[], 1).is_err());
    }
}
