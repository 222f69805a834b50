//! Layers that move data without arithmetic: Concat, Slice, Split, Flatten, Reshape,
//! Permute and Crop.

use super::{LayerCtx, LayerError, LayerRegistry, LayerResult, attrs, axis};
use kiln_core::Attribute;

pub(super) fn register(r: &mut LayerRegistry) {
    r.add("Concat", concat);
    r.add("Slice", slice);
    r.add("Split", split);
    r.add("Flatten", flatten);
    r.add("Reshape", reshape);
    r.add("Permute", permute);
    r.add("Crop", crop);
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

/// A Reshape node to a fixed shape.
fn reshape_to(ctx: &mut LayerCtx<'_>, shape: &[usize]) -> LayerResult {
    let s = ctx.const_i64("shape", i64s(shape))?;
    let (x, y) = ctx.io();
    ctx.node("Reshape", Default::default(), vec![x, s], vec![y])
}

fn concat(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, usize::MAX, Some(1))?;
    let p = ctx.param.concat_param.unwrap_or_default();
    let rank = ctx.in_shape(0)?.len();
    let a = match (p.axis, p.concat_dim) {
        (None, Some(d)) => i64::from(d),
        _ => i64::from(p.axis()),
    };
    let a = axis(a, rank, "axis")?;
    let inputs = ctx.inputs.clone();
    let y = ctx.outputs[0].clone();
    ctx.node(
        "Concat",
        attrs(&[("axis", Attribute::Int(a as i64))]),
        inputs,
        vec![y],
    )
}

fn slice(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, None)?;
    let p = ctx.param.slice_param.clone().unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    let a = match (p.axis, p.slice_dim) {
        (None, Some(d)) => i64::from(d),
        _ => i64::from(p.axis()),
    };
    let a = axis(a, shape.len(), "axis")?;
    let (dim, tops) = (shape[a], ctx.outputs.len());
    let sizes: Vec<usize> = if p.slice_point.is_empty() {
        if dim % tops != 0 {
            return Err(LayerError::invalid(format!(
                "axis {a} of size {dim} does not split evenly into {tops} tops"
            )));
        }
        vec![dim / tops; tops]
    } else {
        if p.slice_point.len() + 1 != tops {
            return Err(LayerError::invalid(format!(
                "{} slice points for {tops} tops (need one fewer points than tops)",
                p.slice_point.len()
            )));
        }
        let mut prev = 0usize;
        let mut sizes = Vec::new();
        for &pt in p
            .slice_point
            .iter()
            .map(|x| *x as usize)
            .collect::<Vec<_>>()
            .iter()
        {
            if pt <= prev || pt >= dim {
                return Err(LayerError::invalid(format!(
                    "slice points {:?} must increase strictly within (0, {dim})",
                    p.slice_point
                )));
            }
            sizes.push(pt - prev);
            prev = pt;
        }
        sizes.push(dim - prev);
        sizes
    };
    let split = ctx.const_i64("split", i64s(&sizes))?;
    let x = ctx.inputs[0].clone();
    let outputs = ctx.outputs.clone();
    ctx.node(
        "Split",
        attrs(&[("axis", Attribute::Int(a as i64))]),
        vec![x, split],
        outputs,
    )
}

/// Split copies its bottom to every top.
fn split(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, None)?;
    let x = ctx.inputs[0].clone();
    for y in ctx.outputs.clone() {
        ctx.unary("Identity", Default::default(), x.clone(), y)?;
    }
    Ok(())
}

/// Flatten the axes `axis..=end_axis` into one.
fn flatten(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.flatten_param.unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    let start = axis(p.axis().into(), shape.len(), "axis")?;
    let end = axis(p.end_axis().into(), shape.len(), "end_axis")?;
    if end < start {
        return Err(LayerError::invalid(format!(
            "end_axis {end} comes before axis {start}"
        )));
    }
    let mut out = shape[..start].to_vec();
    out.push(shape[start..=end].iter().product());
    out.extend(&shape[end + 1..]);
    reshape_to(ctx, &out)
}

/// Reshape with Caffe's rules: `0` copies the bottom's dimension, `-1` is inferred, and
/// `axis`/`num_axes` choose the range of bottom axes that `shape` replaces.
fn reshape(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let p = ctx.param.reshape_param.clone().unwrap_or_default();
    let shape = ctx.in_shape(0)?;
    let rank = shape.len() as i64;
    let spec = p.shape.clone().unwrap_or_default().dim;
    let start = if p.axis() < 0 {
        rank + 1 + i64::from(p.axis())
    } else {
        i64::from(p.axis())
    };
    if start < 0 || start > rank {
        return Err(LayerError::invalid(format!(
            "axis {} is out of range for rank {rank}",
            p.axis()
        )));
    }
    let end = match p.num_axes() {
        -1 => rank,
        n if n >= 0 && start + i64::from(n) <= rank => start + i64::from(n),
        n => {
            return Err(LayerError::invalid(format!(
                "num_axes {n} is out of range for rank {rank} from axis {start}"
            )));
        }
    };
    let (start, end) = (start as usize, end as usize);
    let mut mid: Vec<i64> = Vec::new();
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            0 => {
                let src = shape.get(start + i).ok_or_else(|| {
                    LayerError::invalid(format!(
                        "dim {i} is 0 but the bottom has no axis {}",
                        start + i
                    ))
                })?;
                mid.push(*src as i64);
            }
            -1 if infer.is_none() => {
                infer = Some(i);
                mid.push(1);
            }
            d if d > 0 => mid.push(d),
            d => {
                return Err(LayerError::invalid(format!(
                    "bad dimension {d} in shape {spec:?}"
                )));
            }
        }
    }
    let mut out: Vec<i64> = i64s(&shape[..start]);
    let known: i64 =
        out.iter().chain(&mid).product::<i64>() * shape[end..].iter().product::<usize>() as i64;
    let total = shape.iter().product::<usize>() as i64;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(LayerError::invalid(format!(
                "cannot infer the -1 of {spec:?} for bottom shape {shape:?}"
            )));
        }
        mid[i] = total / known;
    } else if known != total {
        return Err(LayerError::invalid(format!(
            "shape {spec:?} does not fit bottom shape {shape:?} ({total} elements)"
        )));
    }
    out.extend(&mid);
    out.extend(i64s(&shape[end..]));
    let out: Vec<usize> = out.iter().map(|&d| d as usize).collect();
    reshape_to(ctx, &out)
}

/// Permute: `order` lists the new axis order; axes it leaves out follow in their order.
fn permute(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(1, 1, Some(1))?;
    let rank = ctx.in_shape(0)?.len();
    let order = ctx
        .param
        .permute_param
        .as_ref()
        .map(|p| p.order.clone())
        .unwrap_or_default();
    let mut perm: Vec<i64> = Vec::new();
    for &o in &order {
        let o = i64::from(o);
        if o as usize >= rank || perm.contains(&o) {
            return Err(LayerError::invalid(format!(
                "order {order:?} is not a permutation of {rank} axes"
            )));
        }
        perm.push(o);
    }
    for a in 0..rank as i64 {
        if !perm.contains(&a) {
            perm.push(a);
        }
    }
    let (x, y) = ctx.io();
    ctx.unary("Transpose", attrs(&[("perm", Attribute::Ints(perm))]), x, y)
}

/// Crop bottom 0 to the shape of bottom 1 on the axes from `axis` on, at `offset`.
fn crop(ctx: &mut LayerCtx<'_>) -> LayerResult {
    ctx.arity(2, 2, Some(1))?;
    let p = ctx.param.crop_param.clone().unwrap_or_default();
    let (a, b) = (ctx.in_shape(0)?, ctx.in_shape(1)?);
    if a.len() != b.len() {
        return Err(LayerError::invalid(format!(
            "bottoms have ranks {} and {}",
            a.len(),
            b.len()
        )));
    }
    let start = axis(p.axis().into(), a.len(), "axis")?;
    let n = a.len() - start;
    let offsets: Vec<usize> = match p.offset.len() {
        0 => vec![0; n],
        1 => vec![p.offset[0] as usize; n],
        k if k == n => p.offset.iter().map(|&o| o as usize).collect(),
        k => {
            return Err(LayerError::invalid(format!(
                "{k} offsets for {n} cropped axes"
            )));
        }
    };
    let (mut starts, mut ends, mut axes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &off) in offsets.iter().enumerate() {
        let d = start + i;
        if off + b[d] > a[d] {
            return Err(LayerError::invalid(format!(
                "crop of size {} at offset {off} exceeds axis {d} of size {}",
                b[d], a[d]
            )));
        }
        starts.push(off as i64);
        ends.push((off + b[d]) as i64);
        axes.push(d as i64);
    }
    let starts = ctx.const_i64("starts", starts)?;
    let ends = ctx.const_i64("ends", ends)?;
    let axes = ctx.const_i64("axes", axes)?;
    let (x, y) = ctx.io();
    ctx.node(
        "Slice",
        Default::default(),
        vec![x, starts, ends, axes],
        vec![y],
    )
}
