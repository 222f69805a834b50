//! `Col2Im`: sum column blocks back into a batched N-d image (like PyTorch `fold`).

use super::common::{Num, array, check_attrs, dims, elems, for_each_index, req_ints, strides};
use crate::ops::util::input;
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Folds columns into an image.
#[derive(Debug)]
pub struct Col2Im {
    dilations: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

/// Build from `dilations`, `pads` and `strides`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["dilations", "pads", "strides"])?;
    let c = Col2Im {
        dilations: ctx.attrs.ints("dilations")?,
        pads: ctx.attrs.ints("pads")?,
        strides: ctx.attrs.ints("strides")?,
    };
    for (name, v) in [("dilations", &c.dilations), ("strides", &c.strides)] {
        if v.as_ref().is_some_and(|v| v.iter().any(|&x| x < 1)) {
            return Err(Error::attr(name, "values must be positive"));
        }
    }
    if c.pads.as_ref().is_some_and(|v| v.iter().any(|&x| x < 0)) {
        return Err(Error::attr("pads", "values must be non-negative"));
    }
    Ok(Box::new(c))
}

fn or_fill(v: &Option<Vec<i64>>, n: usize, fill: i64, name: &str) -> Result<Vec<i64>> {
    match v {
        None => Ok(vec![fill; n]),
        Some(v) if v.len() == n => Ok(v.clone()),
        Some(v) => Err(Error::attr(
            name,
            format!("has {} values, expected {n}", v.len()),
        )),
    }
}

struct Geometry {
    image: Vec<usize>,
    block: Vec<usize>,
    cols: Vec<usize>,
    dil: Vec<i64>,
    pad: Vec<i64>,
    stride: Vec<i64>,
}

fn fold<T: Num>(x: &Tensor, g: &Geometry) -> Result<Tensor> {
    let s = x.shape();
    let bsize: usize = g.block.iter().product();
    let (n, cb, l) = (s[0], s[1], s[2]);
    let c = cb / bsize;
    let src = elems(x.array::<T>()?);
    let isize: usize = g.image.iter().product();
    let mut dst = vec![T::zero(); n * c * isize];
    let ist = strides(&g.image);
    let mut plan: Vec<(usize, usize, usize)> = Vec::new();
    let mut kb = 0;
    for_each_index(&g.block, |k| {
        let mut lc = 0;
        for_each_index(&g.cols, |p| {
            let mut off = 0usize;
            let mut inside = true;
            for d in 0..k.len() {
                let pos = p[d] as i64 * g.stride[d] - g.pad[d] + k[d] as i64 * g.dil[d];
                if pos < 0 || pos >= g.image[d] as i64 {
                    inside = false;
                    break;
                }
                off += pos as usize * ist[d];
            }
            if inside {
                plan.push((kb, lc, off));
            }
            lc += 1;
            Ok(())
        })?;
        kb += 1;
        Ok(())
    })?;
    for b in 0..n {
        for ch in 0..c {
            for &(k, lc, off) in &plan {
                let v = src[(b * cb + ch * bsize + k) * l + lc];
                let d = &mut dst[(b * c + ch) * isize + off];
                *d = d.add(v);
            }
        }
    }
    let mut out = vec![n, c];
    out.extend_from_slice(&g.image);
    Ok(T::wrap(array(&out, dst)?))
}

impl Op for Col2Im {
    fn op_type(&self) -> &str {
        "Col2Im"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let image = dims(&req_ints(inputs, 1, "image_shape")?, "image_shape")?;
        let block = dims(&req_ints(inputs, 2, "block_shape")?, "block_shape")?;
        let nd = image.len();
        if block.len() != nd || x.rank() != 3 {
            return Err(Error::shape(
                "Col2Im needs a 3-D input and matching image/block shapes",
            ));
        }
        let dil = or_fill(&self.dilations, nd, 1, "dilations")?;
        let pads = or_fill(&self.pads, 2 * nd, 0, "pads")?;
        let stride = or_fill(&self.strides, nd, 1, "strides")?;
        let mut cols = Vec::with_capacity(nd);
        for d in 0..nd {
            let eff = dil[d] * (block[d] as i64 - 1) + 1;
            let span = image[d] as i64 + pads[d] + pads[d + nd] - eff;
            if span < 0 || block[d] == 0 {
                return Err(Error::shape("Col2Im block does not fit the padded image"));
            }
            cols.push((span / stride[d] + 1) as usize);
        }
        super::common::checked_numel(&image)?;
        let bsize = super::common::checked_numel(&block)?;
        let s = x.shape();
        if s[1] % bsize != 0 || s[2] != cols.iter().product::<usize>() {
            return Err(Error::shape(format!(
                "input {s:?} does not match block {block:?} and {cols:?} column positions"
            )));
        }
        let g = Geometry {
            image,
            block,
            cols,
            dil,
            pad: pads[..nd].to_vec(),
            stride,
        };
        Ok(vec![crate::dispatch_numeric!(x, _a => fold::<T>(x, &g)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf, ti};
    use crate::Attributes;

    #[test]
    fn overlapping_blocks_sum() {
        // 1x3 image, 1x2 blocks at stride 1: two column positions overlapping in the middle.
        let cols = tf(&[1, 2, 2], &[1.0, 2.0, 10.0, 20.0]);
        let r = run_op(
            "Col2Im",
            Attributes::new(),
            &[Some(cols), Some(ti(&[2], &[1, 3])), Some(ti(&[2], &[1, 2]))],
            1,
        )
        .unwrap();
        assert_eq!(r[0], tf(&[1, 1, 1, 3], &[1.0, 12.0, 20.0]));
        let bad = tf(&[1, 2, 3], &[0.0; 6]);
        assert!(
            run_op(
                "Col2Im",
                Attributes::new(),
                &[Some(bad), Some(ti(&[2], &[1, 3])), Some(ti(&[2], &[1, 2]))],
                1
            )
            .is_err()
        );
    }
}
