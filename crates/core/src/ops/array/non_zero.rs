//! `NonZero`: the indices of the non-zero elements, as an i64 `[rank, count]` tensor.

use super::common::{check_attrs, for_each_index};
use crate::ops::util::input;
use crate::{BuildCtx, Op, Result, Tensor};

/// Lists non-zero positions.
#[derive(Debug)]
pub struct NonZero;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(NonZero))
}

impl Op for NonZero {
    fn op_type(&self) -> &str {
        "NonZero"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let nz: Vec<bool> =
            crate::dispatch_all!(x, a => a.iter().map(|v| *v != T::default()).collect());
        let r = x.rank();
        let mut coords: Vec<Vec<i64>> = vec![Vec::new(); r];
        let mut k = 0;
        let mut count = 0;
        for_each_index(x.shape(), |o| {
            if nz.get(k).copied().unwrap_or(false) {
                for (c, &i) in coords.iter_mut().zip(o) {
                    c.push(i as i64);
                }
                count += 1;
            }
            k += 1;
            Ok(())
        })?;
        let data: Vec<i64> = coords.into_iter().flatten().collect();
        Ok(vec![Tensor::from_vec(
            &[r, if r == 0 { 0 } else { count }],
            data,
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attributes, Tensor};

    #[test]
    fn strings_and_numbers() {
        let x = ti(&[2, 2], &[1, 0, 0, 3]);
        let r = run_op("NonZero", Attributes::new(), &[Some(x)], 1).unwrap();
        assert_eq!(r[0], ti(&[2, 2], &[0, 1, 0, 1]));
        let s = Tensor::from_vec(&[3], vec![String::new(), "a".into(), "b".into()]).unwrap();
        let r = run_op("NonZero", Attributes::new(), &[Some(s)], 1).unwrap();
        assert_eq!(r[0], ti(&[1, 2], &[1, 2]));
    }
}
