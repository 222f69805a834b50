//! `Einsum`: Einstein summation (explicit/implicit output, repeated labels, ellipsis).

use super::common::{check_attrs, float_tensor, float_vec, int_tensor};
use crate::{BuildCtx, Error, Op, Result, Tensor};

/// Einstein summation over any number of operands.
#[derive(Debug)]
pub struct Einsum {
    inputs: Vec<Term>,
    output: Option<Term>,
}

/// One side of an equation: letters, with at most one ellipsis at `ellipsis` (a position in
/// `letters`).
#[derive(Clone, Debug)]
struct Term {
    letters: Vec<char>,
    ellipsis: Option<usize>,
}

fn parse_term(s: &str) -> Result<Term> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut letters = Vec::new();
    let mut ellipsis = None;
    let mut rest = s.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            if ellipsis.is_some() {
                return Err(Error::attr("equation", "more than one ellipsis in a term"));
            }
            ellipsis = Some(letters.len());
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if !c.is_ascii_alphabetic() {
                return Err(Error::attr("equation", format!("bad character '{c}'")));
            }
            letters.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(Term { letters, ellipsis })
}

/// Build from attributes (`equation`).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["equation"])?;
    let eq = ctx.attrs.string_req("equation")?;
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let inputs = lhs.split(',').map(parse_term).collect::<Result<Vec<_>>>()?;
    let output = rhs.map(parse_term).transpose()?;
    Ok(Box::new(Einsum { inputs, output }))
}

/// Label ids: letters as themselves; ellipsis axis `i` (of `e`, right-aligned) as a private id.
type Label = u32;

fn ell_label(i: usize) -> Label {
    1000 + i as Label
}

impl Einsum {
    /// Labels of each axis of an operand of rank `rank`, with the ellipsis expanded.
    fn axis_labels(t: &Term, rank: usize, e: usize) -> Result<Vec<Label>> {
        let n_ell = rank.checked_sub(t.letters.len()).ok_or_else(|| {
            Error::shape(format!(
                "term has {} labels but rank {rank}",
                t.letters.len()
            ))
        })?;
        if t.ellipsis.is_none() && n_ell != 0 {
            return Err(Error::shape(format!(
                "term has {} labels but rank {rank}",
                t.letters.len()
            )));
        }
        let mut out = Vec::with_capacity(rank);
        for (i, &c) in t.letters.iter().enumerate() {
            if t.ellipsis == Some(i) {
                out.extend((0..n_ell).map(|j| ell_label(e - n_ell + j)));
            }
            out.push(c as Label);
        }
        if t.ellipsis == Some(t.letters.len()) {
            out.extend((0..n_ell).map(|j| ell_label(e - n_ell + j)));
        }
        Ok(out)
    }
}

impl Op for Einsum {
    fn op_type(&self) -> &str {
        "Einsum"
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::input(format!(
                "equation names {} operands, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let ts: Vec<&Tensor> = inputs
            .iter()
            .map(|t| t.ok_or_else(|| Error::input("Einsum operands are required")))
            .collect::<Result<_>>()?;
        let dt = ts[0].dtype();
        if ts.iter().any(|t| t.dtype() != dt) || !dt.is_numeric() {
            return Err(Error::dtype("Einsum operands must share one numeric type"));
        }
        let e = self
            .inputs
            .iter()
            .zip(&ts)
            .map(|(t, x)| x.rank().saturating_sub(t.letters.len()))
            .max()
            .unwrap_or(0);
        // Sizes of every label.
        let mut labels: Vec<Label> = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        let mut per_op = Vec::new();
        for (t, x) in self.inputs.iter().zip(&ts) {
            let ax = Self::axis_labels(t, x.rank(), e)?;
            for (&l, &d) in ax.iter().zip(x.shape()) {
                match labels.iter().position(|&m| m == l) {
                    Some(p) if sizes[p] == d || d == 1 => {}
                    Some(p) if sizes[p] == 1 && l >= 1000 => sizes[p] = d,
                    Some(p) => {
                        return Err(Error::shape(format!(
                            "label sizes {} and {d} disagree",
                            sizes[p]
                        )));
                    }
                    None => {
                        labels.push(l);
                        sizes.push(d);
                    }
                }
            }
            per_op.push(ax);
        }
        let out_labels: Vec<Label> = match &self.output {
            Some(o) => {
                let mut v = Vec::new();
                for (i, &c) in o.letters.iter().enumerate() {
                    if o.ellipsis == Some(i) {
                        v.extend((0..e).map(ell_label));
                    }
                    v.push(c as Label);
                }
                if o.ellipsis == Some(o.letters.len()) {
                    v.extend((0..e).map(ell_label));
                }
                if let Some(&bad) = v.iter().find(|l| !labels.contains(l)) {
                    return Err(Error::attr(
                        "equation",
                        format!("output label {bad} is not an input label"),
                    ));
                }
                v
            }
            None => {
                let mut v: Vec<Label> = (0..e).map(ell_label).collect();
                let mut once: Vec<Label> = labels
                    .iter()
                    .copied()
                    .filter(|&l| {
                        l < 1000 && per_op.iter().flatten().filter(|&&m| m == l).count() == 1
                    })
                    .collect();
                once.sort_unstable();
                v.extend(once);
                v
            }
        };
        let mut order = out_labels.clone();
        order.extend(labels.iter().copied().filter(|l| !out_labels.contains(l)));
        let dims: Vec<usize> = order
            .iter()
            .map(|l| sizes[labels.iter().position(|m| m == l).unwrap_or(0)])
            .collect();
        // Stride of each label in each operand (summed over repeated axes; 0 if broadcast).
        let strides: Vec<Vec<usize>> = per_op
            .iter()
            .zip(&ts)
            .map(|(ax, x)| {
                let shape = x.shape();
                let mut st = vec![0usize; shape.len()];
                for d in (0..shape.len()).rev() {
                    st[d] = if d + 1 == shape.len() {
                        1
                    } else {
                        st[d + 1] * shape[d + 1]
                    };
                }
                order
                    .iter()
                    .map(|l| {
                        ax.iter()
                            .enumerate()
                            .filter(|(d, m)| *m == l && shape[*d] != 1)
                            .map(|(d, _)| st[d])
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let out_shape: Vec<usize> = dims[..out_labels.len()].to_vec();
        let out_len: usize = out_shape.iter().product();
        let inner: usize = dims[out_labels.len()..].iter().product();
        let total = out_len * inner;
        let mut idx = vec![0usize; dims.len()];
        let mut offs = vec![0usize; ts.len()];
        let step = |idx: &mut Vec<usize>, offs: &mut Vec<usize>| {
            for d in (0..dims.len()).rev() {
                idx[d] += 1;
                for (o, s) in offs.iter_mut().zip(&strides) {
                    *o += s[d];
                }
                if idx[d] < dims[d] {
                    return;
                }
                for (o, s) in offs.iter_mut().zip(&strides) {
                    *o -= s[d] * dims[d];
                }
                idx[d] = 0;
            }
        };
        if dt.is_float() {
            let data: Vec<Vec<f64>> = ts.iter().map(|t| float_vec(t)).collect::<Result<_>>()?;
            let mut out = vec![0.0; out_len];
            for k in 0..total {
                let p: f64 = data.iter().zip(&offs).map(|(d, &o)| d[o]).product();
                out[k / inner.max(1)] += p;
                step(&mut idx, &mut offs);
            }
            Ok(vec![float_tensor(dt, &out_shape, out)?])
        } else {
            let data: Vec<Vec<i64>> = ts.iter().map(|t| t.to_i64_vec()).collect::<Result<_>>()?;
            let mut out = vec![0i64; out_len];
            for k in 0..total {
                let p = data
                    .iter()
                    .zip(&offs)
                    .fold(1i64, |a, (d, &o)| a.wrapping_mul(d[o]));
                let slot = &mut out[k / inner.max(1)];
                *slot = slot.wrapping_add(p);
                step(&mut idx, &mut offs);
            }
            Ok(vec![int_tensor(dt, &out_shape, out)?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    fn einsum(eq: &str, ins: &[Tensor]) -> Result<Tensor> {
        let attrs = Attributes::new().with("equation", Attribute::String(eq.into()));
        let op = build(&BuildCtx {
            attrs: &attrs,
            num_inputs: ins.len(),
            num_outputs: 1,
        })?;
        let refs: Vec<Option<&Tensor>> = ins.iter().map(Some).collect();
        Ok(op.eval(&refs)?.remove(0))
    }

    #[test]
    fn diagonal_trace_and_ellipsis() {
        let m = Tensor::from_vec(&[3, 3], (0..9).map(|v| v as f32).collect()).unwrap();
        assert_eq!(
            einsum("ii->i", std::slice::from_ref(&m))
                .unwrap()
                .to_f64_vec()
                .unwrap(),
            vec![0.0, 4.0, 8.0]
        );
        assert_eq!(
            einsum("ii", std::slice::from_ref(&m))
                .unwrap()
                .to_f64_vec()
                .unwrap(),
            vec![12.0]
        );
        assert_eq!(einsum("ij", std::slice::from_ref(&m)).unwrap(), m);
        let t = einsum("ji", std::slice::from_ref(&m))
            .unwrap()
            .to_f64_vec()
            .unwrap();
        assert_eq!(t[1], 3.0);
        let b = Tensor::from_vec(&[2, 3, 3], (0..18).map(|v| v as f32).collect()).unwrap();
        let y = einsum("...ij,...jk->...ik", &[b.clone(), m]).unwrap();
        assert_eq!(y.shape(), &[2, 3, 3]);
        assert!(einsum("ij,jk", &[b]).is_err());
    }
}
