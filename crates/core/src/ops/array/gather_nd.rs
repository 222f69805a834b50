//! `GatherND`: gather slices addressed by index tuples in the last dim of `indices`.

use super::common::{check_attrs, index_in, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Gathers slices of `data` by index tuples, with `batch_dims` leading batch dims.
#[derive(Debug)]
pub struct GatherND {
    batch_dims: usize,
}

/// Build from `batch_dims` (default 0).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["batch_dims"])?;
    let b = ctx.attrs.int_or("batch_dims", 0)?;
    let batch_dims = usize::try_from(b)
        .map_err(|_| Error::attr("batch_dims", format!("must be >= 0, got {b}")))?;
    Ok(Box::new(GatherND { batch_dims }))
}

/// Flat offsets of the addressed slices: (offsets of each slice start, slice size, output shape).
/// Shared with ScatterND (`batch_dims` 0).
pub(crate) fn nd_offsets(
    data: &[usize],
    ishape: &[usize],
    ind: &[i64],
    b: usize,
) -> Result<(Vec<usize>, usize, Vec<usize>)> {
    let q = ishape.len();
    let r = data.len();
    let k = *ishape
        .last()
        .ok_or_else(|| Error::shape("indices must have rank >= 1"))?;
    if b >= q || b >= r || k < 1 && r == b || k > r - b {
        return Err(Error::shape(format!(
            "indices {ishape:?} do not fit data {data:?} with batch_dims {b}"
        )));
    }
    if data[..b] != ishape[..b] {
        return Err(Error::shape(format!(
            "batch dims of {data:?} and {ishape:?} differ"
        )));
    }
    let st = strides(data);
    let slice: usize = data[b + k..].iter().product();
    let batch_size: usize = data[..b].iter().product();
    let batch_stride: usize = data[b..].iter().product();
    let tuples: usize = ishape[..q - 1].iter().product();
    let per_batch = tuples.checked_div(batch_size).unwrap_or(0);
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let batch = t.checked_div(per_batch).unwrap_or(0);
        let mut off = batch * batch_stride;
        for j in 0..k {
            let v = *ind
                .get(t * k + j)
                .ok_or_else(|| Error::input("indices too short"))?;
            off += index_in(v, data[b + j])? * st[b + j];
        }
        offs.push(off);
    }
    let mut out = ishape[..q - 1].to_vec();
    out.extend_from_slice(&data[b + k..]);
    Ok((offs, slice, out))
}

impl Op for GatherND {
    fn op_type(&self) -> &str {
        "GatherND"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let ind = input(inputs, 1)?;
        let (offs, slice, out) =
            nd_offsets(x.shape(), ind.shape(), &ind.to_i64_vec()?, self.batch_dims)?;
        let flat: Vec<usize> = offs.iter().flat_map(|&o| o..o + slice).collect();
        Ok(vec![take(x, &flat, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn gather_nd_batch() {
        let x = ti(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let a = Attributes::new().with("batch_dims", Attribute::Int(1));
        let r = run_op(
            "GatherND",
            a,
            &[Some(x.clone()), Some(ti(&[2, 1], &[1, 0]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[2, 2], &[2, 3, 4, 5]));
        let r = run_op(
            "GatherND",
            Attributes::new(),
            &[Some(x.clone()), Some(ti(&[1, 3], &[1, 1, 0]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], ti(&[1], &[6]));
        assert!(
            run_op(
                "GatherND",
                Attributes::new(),
                &[Some(x), Some(ti(&[1, 4], &[0, 0, 0, 0]))],
                1
            )
            .is_err()
        );
    }
}
