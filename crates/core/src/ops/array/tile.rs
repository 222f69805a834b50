//! `Tile`: repeat the input `repeats[d]` times along each dim.

use super::common::{check_attrs, dims, for_each_index, req_ints, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Tiles its input.
#[derive(Debug)]
pub struct Tile;

/// Build (no attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &[])?;
    Ok(Box::new(Tile))
}

impl Op for Tile {
    fn op_type(&self) -> &str {
        "Tile"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let reps = dims(&req_ints(inputs, 1, "repeats")?, "repeats")?;
        let s = x.shape();
        if reps.len() != s.len() {
            return Err(Error::shape(format!(
                "{} repeats for a rank-{} input",
                reps.len(),
                s.len()
            )));
        }
        let out: Vec<usize> = s
            .iter()
            .zip(&reps)
            .map(|(a, b)| a.saturating_mul(*b))
            .collect();
        super::common::checked_numel(&out)?;
        let st = strides(s);
        let mut idx = Vec::with_capacity(out.iter().product());
        for_each_index(&out, |o| {
            idx.push(
                o.iter()
                    .zip(s)
                    .zip(&st)
                    .map(|((i, n), t)| (i % n) * t)
                    .sum(),
            );
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attributes, Tensor};

    #[test]
    fn tile_strings_and_errors() {
        let s = Tensor::from_vec(&[2], vec!["a".to_string(), "b".to_string()]).unwrap();
        let r = run_op(
            "Tile",
            Attributes::new(),
            &[Some(s), Some(ti(&[1], &[2]))],
            1,
        )
        .unwrap();
        let want: Vec<String> = ["a", "b", "a", "b"].iter().map(|x| x.to_string()).collect();
        assert_eq!(r[0], Tensor::from_vec(&[4], want).unwrap());
        let x = ti(&[2], &[1, 2]);
        assert!(
            run_op(
                "Tile",
                Attributes::new(),
                &[Some(x.clone()), Some(ti(&[1], &[-1]))],
                1
            )
            .is_err()
        );
        assert!(
            run_op(
                "Tile",
                Attributes::new(),
                &[Some(x), Some(ti(&[2], &[1, 1]))],
                1
            )
            .is_err()
        );
    }
}
