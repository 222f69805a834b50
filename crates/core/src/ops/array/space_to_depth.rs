//! `SpaceToDepth`: move spatial blocks into channels (inverse of DCR `DepthToSpace`).

use super::common::{check_attrs, for_each_index, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Rearranges `blocksize x blocksize` spatial blocks into depth.
#[derive(Debug)]
pub struct SpaceToDepth {
    block: usize,
}

/// Build from `blocksize`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["blocksize"])?;
    let b = ctx.attrs.int_req("blocksize")?;
    if b < 1 {
        return Err(Error::attr(
            "blocksize",
            format!("must be positive, got {b}"),
        ));
    }
    Ok(Box::new(SpaceToDepth { block: b as usize }))
}

impl Op for SpaceToDepth {
    fn op_type(&self) -> &str {
        "SpaceToDepth"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let b = self.block;
        let [n, c, h, w] = *x.shape() else {
            return Err(Error::shape(format!(
                "SpaceToDepth needs a 4-D input, got {:?}",
                x.shape()
            )));
        };
        if h % b != 0 || w % b != 0 {
            return Err(Error::shape(format!(
                "spatial dims {h}x{w} not divisible by {b}"
            )));
        }
        let out = [n, c * b * b, h / b, w / b];
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(&out, |o| {
            let (blk, ch) = (o[1] / c, o[1] % c);
            let (i, j) = (blk / b, blk % b);
            idx.push(o[0] * st[0] + ch * st[1] + (o[2] * b + i) * st[2] + (o[3] * b + j) * st[3]);
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    }
}
