//! `Pad`: pad (or, with negative pads, crop) with modes constant, reflect, edge and wrap.

use super::common::{
    axes_in, check_attrs, for_each_index, opt_ints, req_ints, strides, take_or, zero_of,
};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// How padded positions are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// Pads its input.
#[derive(Debug)]
pub struct Pad {
    mode: Mode,
}

/// Build from `mode`.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, &["mode"])?;
    let mode = match ctx.attrs.string_or("mode", "constant".into())?.as_str() {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        other => return Err(Error::attr("mode", format!("unknown pad mode '{other}'"))),
    };
    Ok(Box::new(Pad { mode }))
}

/// Source index along one axis for output position `i` shifted by `begin`, or `None` for fill.
fn source(mode: Mode, i: i64, n: i64) -> Option<usize> {
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        Mode::Constant => None,
        Mode::Edge => Some(i.clamp(0, n - 1) as usize),
        Mode::Wrap => Some(i.rem_euclid(n) as usize),
        Mode::Reflect => {
            if n == 1 {
                return Some(0);
            }
            let p = 2 * (n - 1);
            let m = i.rem_euclid(p);
            Some(if m >= n { p - m } else { m } as usize)
        }
    }
}

/// Full per-axis (begin, end) pads from the `pads` and `axes` inputs.
pub(crate) fn full_pads(
    rank: usize,
    pads: &[i64],
    axes: Option<&[i64]>,
) -> Result<Vec<(i64, i64)>> {
    let axes = match axes {
        Some(a) => axes_in(a, rank)?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(Error::input(format!(
            "{} pads for {} axes",
            pads.len(),
            axes.len()
        )));
    }
    let mut out = vec![(0, 0); rank];
    for (i, &a) in axes.iter().enumerate() {
        out[a] = (pads[i], pads[i + axes.len()]);
    }
    Ok(out)
}

/// Pad `x` with per-axis (begin, end) pads in the given mode, filling with `fill`.
fn pad(x: &Tensor, pads: &[(i64, i64)], mode: Mode, fill: &Tensor) -> Result<Tensor> {
    let s = x.shape();
    let mut out = Vec::with_capacity(s.len());
    for (&n, &(b, e)) in s.iter().zip(pads) {
        let o = (n as i64).saturating_add(b).saturating_add(e);
        if o < 0 {
            return Err(Error::shape(format!(
                "pads {b},{e} crop a dim of size {n} below zero"
            )));
        }
        if n == 0 && o > 0 && mode != Mode::Constant {
            return Err(Error::shape("cannot pad an empty dim in this mode"));
        }
        out.push(o as usize);
    }
    super::common::checked_numel(&out)?;
    let st = strides(s);
    let mut idx = Vec::with_capacity(out.iter().product());
    for_each_index(&out, |o| {
        let mut k = Some(0usize);
        for (d, &i) in o.iter().enumerate() {
            let src = source(mode, i as i64 - pads[d].0, s[d] as i64);
            k = match (k, src) {
                (Some(k), Some(j)) => Some(k + j * st[d]),
                _ => None,
            };
        }
        idx.push(k);
        Ok(())
    })?;
    take_or(x, &idx, &out, fill)
}

impl Op for Pad {
    fn op_type(&self) -> &str {
        "Pad"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let pads = req_ints(inputs, 1, "pads")?;
        let axes = opt_ints(inputs, 3)?;
        let pads = full_pads(x.rank(), &pads, axes.as_deref())?;
        let fill = match opt_input(inputs, 2) {
            Some(c) if c.dtype() != x.dtype() => {
                return Err(Error::dtype("constant_value must have the data's type"));
            }
            Some(c) if c.len() == 1 => c.clone(),
            Some(c) if c.is_empty() => zero_of(x.dtype()),
            Some(_) => return Err(Error::input("constant_value must be a scalar")),
            None => zero_of(x.dtype()),
        };
        Ok(vec![pad(x, &pads, self.mode, &fill)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, ti};
    use crate::{Attribute, Attributes};

    fn pad1(mode: &str, pads: &[i64]) -> Vec<i64> {
        let a = Attributes::new().with("mode", Attribute::String(mode.into()));
        let x = ti(&[3], &[1, 2, 3]);
        let r = run_op("Pad", a, &[Some(x), Some(ti(&[2], pads))], 1).unwrap();
        r[0].to_i64_vec().unwrap()
    }

    #[test]
    fn modes() {
        assert_eq!(pad1("constant", &[1, 2]), vec![0, 1, 2, 3, 0, 0]);
        assert_eq!(pad1("reflect", &[2, 2]), vec![3, 2, 1, 2, 3, 2, 1]);
        assert_eq!(pad1("edge", &[2, 1]), vec![1, 1, 1, 2, 3, 3]);
        assert_eq!(pad1("wrap", &[2, 1]), vec![2, 3, 1, 2, 3, 1]);
        assert_eq!(pad1("constant", &[-1, 1]), vec![2, 3, 0]);
        let a = Attributes::new();
        assert!(
            run_op(
                "Pad",
                a,
                &[Some(ti(&[3], &[1, 2, 3])), Some(ti(&[2], &[-4, 0]))],
                1
            )
            .is_err()
        );
    }
}
