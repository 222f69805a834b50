//! Helpers shared by the nn ops: attribute checks, float/int conversions, and the window
//! geometry (padding, output sizes, gather tables) of convolutions and pools.

use crate::{Attributes, DataType, Dim, Error, Result, Shape, Tensor};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

/// Reject attributes outside `known` with an "unsupported attribute" error.
pub fn check_attrs(attrs: &Attributes, known: &[&str]) -> Result<()> {
    match attrs.unknown(known).first() {
        Some(name) => Err(Error::attr(name, "unsupported attribute")),
        None => Ok(()),
    }
}

/// The elements of a float tensor as f64 (any other type is a type error).
pub fn float_vec(t: &Tensor) -> Result<Vec<f64>> {
    if !t.dtype().is_float() {
        return Err(Error::dtype(format!(
            "expected a float tensor, got {}",
            t.dtype()
        )));
    }
    t.to_f64_vec()
}

/// A float tensor as an f64 array of the same shape.
pub fn float_array(t: &Tensor) -> Result<ArrayD<f64>> {
    ArrayD::from_shape_vec(IxDyn(t.shape()), float_vec(t)?).map_err(|e| Error::shape(e.to_string()))
}

/// A float tensor of `dtype` from f64 values (rounded to the target precision).
pub fn float_tensor(dtype: DataType, shape: &[usize], v: Vec<f64>) -> Result<Tensor> {
    match dtype {
        DataType::F32 => Tensor::from_vec(shape, v.into_iter().map(|x| x as f32).collect()),
        DataType::F64 => Tensor::from_vec(shape, v),
        DataType::F16 => Tensor::from_vec(shape, v.into_iter().map(f16::from_f64).collect()),
        DataType::BF16 => Tensor::from_vec(shape, v.into_iter().map(bf16::from_f64).collect()),
        other => Err(Error::dtype(format!("expected a float type, got {other}"))),
    }
}

/// A float tensor of `dtype` from an f64 array.
pub fn float_from_array(dtype: DataType, a: ArrayD<f64>) -> Result<Tensor> {
    let shape = a.shape().to_vec();
    float_tensor(dtype, &shape, a.into_iter().collect())
}

/// An integer tensor of `dtype` from i64 values, truncating like a C cast (wrapping).
pub fn int_tensor(dtype: DataType, shape: &[usize], v: Vec<i64>) -> Result<Tensor> {
    macro_rules! cast {
        ($t:ty) => {
            Tensor::from_vec(shape, v.into_iter().map(|x| x as $t).collect::<Vec<$t>>())
        };
    }
    match dtype {
        DataType::I8 => cast!(i8),
        DataType::U8 => cast!(u8),
        DataType::I16 => cast!(i16),
        DataType::U16 => cast!(u16),
        DataType::I32 => cast!(i32),
        DataType::U32 => cast!(u32),
        DataType::I64 => cast!(i64),
        DataType::U64 => cast!(u64),
        other => Err(Error::dtype(format!(
            "expected an integer type, got {other}"
        ))),
    }
}

/// How a convolution or pool pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// Output size `ceil(in / stride)`, extra padding at the end.
    SameUpper,
    /// Output size `ceil(in / stride)`, extra padding at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    /// Parse the `auto_pad` attribute.
    pub fn parse(attrs: &Attributes) -> Result<AutoPad> {
        match attrs.string_or("auto_pad", "NOTSET".into())?.as_str() {
            "NOTSET" => Ok(AutoPad::NotSet),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            "VALID" => Ok(AutoPad::Valid),
            other => Err(Error::attr("auto_pad", format!("unknown value '{other}'"))),
        }
    }
}

/// Non-negative integers of an `ints` attribute (strictly positive when `positive`).
pub fn usize_list(attrs: &Attributes, name: &str, positive: bool) -> Result<Option<Vec<usize>>> {
    let Some(v) = attrs.ints(name)? else {
        return Ok(None);
    };
    v.iter()
        .map(|&x| {
            if x < 0 || (positive && x == 0) {
                Err(Error::attr(name, format!("bad value {x} in {v:?}")))
            } else {
                Ok(x as usize)
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The window attributes shared by convolutions and pools.
#[derive(Clone, Debug)]
pub struct WindowAttrs {
    /// Padding mode.
    pub auto_pad: AutoPad,
    /// `kernel_shape`, when given.
    pub kernel: Option<Vec<usize>>,
    /// `strides` (default 1).
    pub strides: Option<Vec<usize>>,
    /// `dilations` (default 1).
    pub dilations: Option<Vec<usize>>,
    /// `pads` as `[begin..., end...]` (default 0).
    pub pads: Option<Vec<usize>>,
    /// Pools: round the output size up.
    pub ceil_mode: bool,
}

impl WindowAttrs {
    /// Parse `auto_pad`, `kernel_shape`, `strides`, `dilations`, `pads` (and `ceil_mode`).
    pub fn parse(attrs: &Attributes) -> Result<WindowAttrs> {
        let ceil = attrs.int_or("ceil_mode", 0)?;
        if ceil != 0 && ceil != 1 {
            return Err(Error::attr("ceil_mode", "must be 0 or 1"));
        }
        let w = WindowAttrs {
            auto_pad: AutoPad::parse(attrs)?,
            kernel: usize_list(attrs, "kernel_shape", true)?,
            strides: usize_list(attrs, "strides", true)?,
            dilations: usize_list(attrs, "dilations", true)?,
            pads: usize_list(attrs, "pads", false)?,
            ceil_mode: ceil == 1,
        };
        if let (Some(p), Some(k)) = (&w.pads, &w.kernel)
            && p.len() != 2 * k.len()
        {
            return Err(Error::attr("pads", "needs two values per spatial axis"));
        }
        Ok(w)
    }

    fn per_axis(
        v: &Option<Vec<usize>>,
        name: &str,
        n: usize,
        default: usize,
    ) -> Result<Vec<usize>> {
        match v {
            None => Ok(vec![default; n]),
            Some(v) if v.len() == n => Ok(v.clone()),
            Some(v) => Err(Error::attr(
                name,
                format!("{v:?} has {} values for {n} spatial axes", v.len()),
            )),
        }
    }

    /// The geometry for `input` spatial sizes and `kernel` sizes.
    pub fn geometry(&self, input: &[usize], kernel: &[usize]) -> Result<Geometry> {
        let n = input.len();
        if kernel.len() != n {
            return Err(Error::shape(format!(
                "kernel {kernel:?} does not fit spatial input {input:?}"
            )));
        }
        let strides = Self::per_axis(&self.strides, "strides", n, 1)?;
        let dilations = Self::per_axis(&self.dilations, "dilations", n, 1)?;
        let pads = Self::per_axis(&self.pads, "pads", 2 * n, 0)?;
        let mut g = Geometry {
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            strides,
            dilations,
            pad_begin: pads[..n].to_vec(),
            pad_end: pads[n..].to_vec(),
            out: vec![0; n],
        };
        for i in 0..n {
            let ext = (kernel[i].max(1) - 1) * g.dilations[i] + 1;
            let s = g.strides[i];
            match self.auto_pad {
                AutoPad::NotSet => {
                    let padded = input[i] + g.pad_begin[i] + g.pad_end[i];
                    if padded < ext {
                        return Err(Error::shape(format!(
                            "window {ext} is larger than padded input {padded} on axis {i}"
                        )));
                    }
                    let mut o = if self.ceil_mode {
                        (padded - ext).div_ceil(s) + 1
                    } else {
                        (padded - ext) / s + 1
                    };
                    if self.ceil_mode && (o - 1) * s >= input[i] + g.pad_begin[i] {
                        o -= 1;
                    }
                    g.out[i] = o;
                }
                AutoPad::Valid => {
                    g.pad_begin[i] = 0;
                    g.pad_end[i] = 0;
                    if input[i] < ext {
                        return Err(Error::shape(format!(
                            "window {ext} is larger than input {} on axis {i}",
                            input[i]
                        )));
                    }
                    g.out[i] = (input[i] - ext) / s + 1;
                }
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = input[i].div_ceil(s);
                    let total = ((o.max(1) - 1) * s + ext).saturating_sub(input[i]);
                    let small = total / 2;
                    if self.auto_pad == AutoPad::SameUpper {
                        g.pad_begin[i] = small;
                        g.pad_end[i] = total - small;
                    } else {
                        g.pad_begin[i] = total - small;
                        g.pad_end[i] = small;
                    }
                    g.out[i] = o;
                }
            }
        }
        Ok(g)
    }

    /// Output spatial dims for inference: computed where the input size is known.
    pub fn infer_spatial(&self, input: &[Dim], kernel: &[usize]) -> Vec<Dim> {
        let fixed: Option<Vec<usize>> = input.iter().map(Dim::fixed).collect();
        if let Some(f) = fixed
            && let Ok(g) = self.geometry(&f, kernel)
        {
            return g.out.into_iter().map(Dim::Fixed).collect();
        }
        vec![Dim::Unknown; input.len()]
    }
}

/// Resolved window geometry over the spatial axes.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Input spatial sizes.
    pub input: Vec<usize>,
    /// Kernel sizes.
    pub kernel: Vec<usize>,
    /// Strides.
    pub strides: Vec<usize>,
    /// Dilations.
    pub dilations: Vec<usize>,
    /// Padding before each axis.
    pub pad_begin: Vec<usize>,
    /// Padding after each axis.
    pub pad_end: Vec<usize>,
    /// Output sizes.
    pub out: Vec<usize>,
}

/// A gather table entry: the input offset, or where the position falls.
pub const IN_PAD: i64 = -1;
/// A window position beyond the explicit padding (ceil mode overhang).
pub const OUTSIDE: i64 = -2;

impl Geometry {
    /// Number of kernel positions.
    pub fn kernel_len(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Number of output positions.
    pub fn out_len(&self) -> usize {
        self.out.iter().product()
    }

    /// Number of input positions of one channel.
    pub fn in_len(&self) -> usize {
        self.input.iter().product()
    }

    /// For each kernel position `k` and output position `o`, at `k * out_len + o`: the offset
    /// into one input channel plane, or [`IN_PAD`] / [`OUTSIDE`].
    pub fn gather_table(&self) -> Vec<i64> {
        let n = self.input.len();
        let (kl, ol) = (self.kernel_len(), self.out_len());
        let mut table = vec![0i64; kl * ol];
        let mut kidx = vec![0usize; n];
        for k in 0..kl {
            unravel(k, &self.kernel, &mut kidx);
            let mut oidx = vec![0usize; n];
            for o in 0..ol {
                unravel(o, &self.out, &mut oidx);
                let mut off = 0i64;
                let mut state = 0i64;
                for d in 0..n {
                    let pos = (oidx[d] * self.strides[d] + kidx[d] * self.dilations[d]) as i64
                        - self.pad_begin[d] as i64;
                    let size = self.input[d] as i64;
                    if pos < -(self.pad_begin[d] as i64) || pos >= size + self.pad_end[d] as i64 {
                        state = OUTSIDE;
                    } else if (pos < 0 || pos >= size) && state == 0 {
                        state = IN_PAD;
                    }
                    off = off * size + pos;
                }
                table[k * ol + o] = if state < 0 { state } else { off };
            }
        }
        table
    }
}

/// Row-major multi-index of flat index `i` in `dims`.
pub fn unravel(mut i: usize, dims: &[usize], out: &mut [usize]) {
    for d in (0..dims.len()).rev() {
        let s = dims[d].max(1);
        out[d] = i % s;
        i /= s;
    }
}

/// Check that `x` has rank >= 3 (N, C, spatial...) and return (N, C, spatial).
pub fn split_nc(shape: &[usize], what: &str) -> Result<(usize, usize, Vec<usize>)> {
    if shape.len() < 3 {
        return Err(Error::shape(format!(
            "{what} needs an input of rank >= 3 (N, C, spatial...), got {shape:?}"
        )));
    }
    Ok((shape[0], shape[1], shape[2..].to_vec()))
}

/// The shape of a fact, when known and of rank >= 3.
pub fn nc_fact(shape: &Option<Shape>) -> Option<&[Dim]> {
    shape
        .as_ref()
        .map(|s| s.0.as_slice())
        .filter(|s| s.len() >= 3)
}

/// `a @ b` for row-major matrices `a` (m x k) and `b` (k x n) through ndarray's `dot`.
pub fn matmul_f64(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Result<Vec<f64>> {
    let a = ndarray::ArrayView2::from_shape((m, k), a).map_err(|e| Error::shape(e.to_string()))?;
    let b = ndarray::ArrayView2::from_shape((k, n), b).map_err(|e| Error::shape(e.to_string()))?;
    Ok(a.dot(&b).into_iter().collect())
}

/// A float tensor broadcast (numpy rules) to `shape`, as f64 in row-major order.
pub fn broadcast_float(t: &Tensor, shape: &[usize], what: &str) -> Result<Vec<f64>> {
    let a = float_array(t)?;
    let b = a.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::shape(format!(
            "{what} of shape {:?} does not broadcast to {shape:?}",
            t.shape()
        ))
    })?;
    Ok(b.iter().copied().collect())
}

/// A per-channel float vector of exactly `c` values.
pub fn channel_vec(t: &Tensor, c: usize, what: &str) -> Result<Vec<f64>> {
    let v = float_vec(t)?;
    if v.len() != c {
        return Err(Error::shape(format!(
            "{what} has {} values for {c} channels",
            v.len()
        )));
    }
    Ok(v)
}

/// Parse `stash_type` (1 = float32 statistics, 11 = float64, 16 = bfloat16).
pub fn parse_stash_type(attrs: &Attributes) -> Result<i64> {
    let s = attrs.int_or("stash_type", 1)?;
    if ![1, 10, 11, 16].contains(&s) {
        return Err(Error::attr(
            "stash_type",
            format!("unsupported stash type {s}"),
        ));
    }
    Ok(s)
}

/// Mean and (population) variance of a slice.
pub fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

/// Output facts equal to the first input's fact (element-wise ops).
pub fn same_as_first(inputs: &[crate::InferInput<'_>]) -> Vec<crate::TensorFact> {
    inputs
        .first()
        .map(|x| vec![x.fact.clone()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attribute;

    #[test]
    fn same_upper_and_ceil_geometry() {
        let a = Attributes::new().with("auto_pad", Attribute::String("SAME_UPPER".into()));
        let w = WindowAttrs::parse(&a).unwrap();
        let g = w.geometry(&[5], &[2]).unwrap();
        assert_eq!((g.out[0], g.pad_begin[0], g.pad_end[0]), (5, 0, 1));
        let a = Attributes::new()
            .with("ceil_mode", Attribute::Int(1))
            .with("strides", Attribute::Ints(vec![2]));
        let g = WindowAttrs::parse(&a)
            .unwrap()
            .geometry(&[4], &[3])
            .unwrap();
        assert_eq!(g.out[0], 2);
        let t = g.gather_table();
        assert_eq!(t, vec![0, 2, 1, 3, 2, OUTSIDE]);
    }

    #[test]
    fn rejects_unknown_attribute() {
        let a = Attributes::new().with("bogus", Attribute::Int(1));
        let e = check_attrs(&a, &["axis"]).unwrap_err();
        assert!(e.to_string().contains("unsupported attribute"));
    }
}
