//! `DepthToSpace`: move channel blocks into spatial blocks (modes DCR and CRD).

use super::common::{check_attrs, for_each_index, strides, take};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Rearranges depth into `blocksize x blocksize` spatial blocks.
#[derive(Debug)]
pub struct DepthToSpace {
    block: usize,
    crd: bool,
}

/// Build from `blocksize` and `mode`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["blocksize", "mode"])?;
    let b = ctx.attrs.int_req("blocksize")?;
    if b < 1 {
        return Err(Error::attr(
            "blocksize",
            format!("must be positive, got {b}"),
        ));
    }
    let crd = match ctx.attrs.string_or("mode", "DCR".into())?.as_str() {
        "DCR" => false,
        "CRD" => true,
        m => return Err(Error::attr("mode", format!("unknown mode '{m}'"))),
    };
    Ok(Box::new(DepthToSpace {
        block: b as usize,
        crd,
    }))
}

impl Op for DepthToSpace {
    fn op_type(&self) -> &str {
        "DepthToSpace"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let b = self.block;
        let [n, c, h, w] = *x.shape() else {
            return Err(Error::shape(format!(
                "DepthToSpace needs a 4-D input, got {:?}",
                x.shape()
            )));
        };
        if c % (b * b) != 0 {
            return Err(Error::shape(format!(
                "channels {c} not divisible by blocksize^2"
            )));
        }
        let oc = c / (b * b);
        let out = [n, oc, h * b, w * b];
        let st = strides(x.shape());
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(&out, |o| {
            let (i, j) = (o[2] % b, o[3] % b);
            let ch = if self.crd {
                o[1] * b * b + i * b + j
            } else {
                (i * b + j) * oc + o[1]
            };
            idx.push(o[0] * st[0] + ch * st[1] + (o[2] / b) * st[2] + (o[3] / b) * st[3]);
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    #[test]
    fn round_trip_with_space_to_depth() {
        let x = ti(&[1, 1, 2, 4], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let b = Attributes::new().with("blocksize", Attribute::Int(2));
        let d = run_op("SpaceToDepth", b.clone(), &[Some(x.clone())], 1).unwrap();
        assert_eq!(d[0], ti(&[1, 4, 1, 2], &[0, 2, 1, 3, 4, 6, 5, 7]));
        let back = run_op("DepthToSpace", b.clone(), &[Some(d[0].clone())], 1).unwrap();
        assert_eq!(back[0], x);
        let crd = b.clone().with("mode", Attribute::String("CRD".into()));
        let deep = ti(&[1, 8, 1, 1], &[0, 1, 2, 3, 4, 5, 6, 7]);
        let c = run_op("DepthToSpace", crd, &[Some(deep.clone())], 1).unwrap();
        assert_eq!(c[0], ti(&[1, 2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]));
        let c = run_op("DepthToSpace", b.clone(), &[Some(deep)], 1).unwrap();
        assert_eq!(c[0], ti(&[1, 2, 2, 2], &[0, 2, 4, 6, 1, 3, 5, 7]));
        assert!(
            run_op(
                "DepthToSpace",
                Attributes::new().with("blocksize", Attribute::Int(0)),
                &[],
                1
            )
            .is_err()
        );
    }
}
