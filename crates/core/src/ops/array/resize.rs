//! `Resize`: nearest / linear / cubic resampling with the ONNX coordinate transformation
//! modes, `scales` or `sizes` (with `keep_aspect_ratio_policy`), `axes`, `roi`, antialiasing
//! and extrapolation. Resampling is separable: one axis at a time, in f64.

use super::common::{Num, array, check_attrs, dims, fact};
use super::resize_plan::{CoordMode, Kernel, NearestMode, PlanParams, Taps, axis_plan};
use crate::ops::util::{input, opt_input};
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// How `sizes` constrain the aspect ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Resamples its input.
#[derive(Debug)]
pub struct Resize {
    params: PlanParams,
    axes: Option<Vec<i64>>,
    extrapolation: f64,
    policy: AspectPolicy,
}

const ATTRS: &[&str] = &[
    "antialias",
    "axes",
    "coordinate_transformation_mode",
    "cubic_coeff_a",
    "exclude_outside",
    "extrapolation_value",
    "keep_aspect_ratio_policy",
    "mode",
    "nearest_mode",
];

/// Build from the Resize attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx, ATTRS)?;
    let a = ctx.attrs;
    let antialias = super::common::bool_attr(ctx, "antialias", false)?;
    let kernel = match a.string_or("mode", "nearest".into())?.as_str() {
        "nearest" => {
            if antialias {
                return Err(Error::attr(
                    "antialias",
                    "not supported with mode 'nearest'",
                ));
            }
            Kernel::Nearest(NearestMode::parse(
                &a.string_or("nearest_mode", "round_prefer_floor".into())?,
            )?)
        }
        "linear" => Kernel::Linear { antialias },
        "cubic" => Kernel::Cubic {
            a: a.float_or("cubic_coeff_a", -0.75)? as f64,
            antialias,
        },
        m => return Err(Error::attr("mode", format!("unknown mode '{m}'"))),
    };
    let coord =
        CoordMode::parse(&a.string_or("coordinate_transformation_mode", "half_pixel".into())?)?;
    let policy = match a
        .string_or("keep_aspect_ratio_policy", "stretch".into())?
        .as_str()
    {
        "stretch" => AspectPolicy::Stretch,
        "not_larger" => AspectPolicy::NotLarger,
        "not_smaller" => AspectPolicy::NotSmaller,
        p => {
            return Err(Error::attr(
                "keep_aspect_ratio_policy",
                format!("unknown policy '{p}'"),
            ));
        }
    };
    Ok(Box::new(Resize {
        params: PlanParams {
            coord,
            kernel,
            exclude_outside: super::common::bool_attr(ctx, "exclude_outside", false)?,
        },
        axes: a.ints("axes")?,
        extrapolation: a.float_or("extrapolation_value", 0.0)? as f64,
        policy,
    }))
}

/// Output sizes, per-axis scales and ROIs of one call.
struct Geometry {
    out: Vec<usize>,
    scales: Vec<f64>,
    roi: Vec<(f64, f64)>,
    axes: Vec<usize>,
}

impl Resize {
    fn geometry(&self, shape: &[usize], inputs: &[Option<&Tensor>]) -> Result<Geometry> {
        let r = shape.len();
        let axes = match &self.axes {
            Some(a) => super::common::axes_in(a, r)?,
            None => (0..r).collect(),
        };
        let n = axes.len();
        let nonempty = |i: usize| opt_input(inputs, i).filter(|t| !t.is_empty());
        let mut roi = vec![(0.0, 1.0); r];
        if let Some(t) = nonempty(1) {
            let v = t.to_f64_vec()?;
            if v.len() != 2 * n {
                return Err(Error::input(format!(
                    "roi has {} values, expected {}",
                    v.len(),
                    2 * n
                )));
            }
            for (i, &a) in axes.iter().enumerate() {
                roi[a] = (v[i], v[n + i]);
            }
        }
        let mut scales = vec![1.0; r];
        let mut out = shape.to_vec();
        match (nonempty(2), nonempty(3)) {
            (Some(s), None) => {
                let v = s.to_f64_vec()?;
                if v.len() != n {
                    return Err(Error::input(format!("{} scales for {n} axes", v.len())));
                }
                for (i, &a) in axes.iter().enumerate() {
                    if v[i].is_nan() || v[i] <= 0.0 || !v[i].is_finite() {
                        return Err(Error::input(format!("scale {} must be positive", v[i])));
                    }
                    scales[a] = v[i];
                    let o = (v[i] * shape[a] as f64).floor();
                    if o > 1e9 {
                        return Err(Error::input("resize output is too large"));
                    }
                    out[a] = o as usize;
                }
            }
            (None, Some(s)) => {
                let v = dims(&s.to_i64_vec()?, "sizes")?;
                if v.len() != n {
                    return Err(Error::input(format!("{} sizes for {n} axes", v.len())));
                }
                for (i, &a) in axes.iter().enumerate() {
                    if shape[a] == 0 {
                        return Err(Error::shape("cannot resize an empty axis by sizes"));
                    }
                    scales[a] = v[i] as f64 / shape[a] as f64;
                    out[a] = v[i];
                }
                if self.policy != AspectPolicy::Stretch && n > 0 {
                    let it = axes.iter().map(|&a| scales[a]);
                    let s = if self.policy == AspectPolicy::NotLarger {
                        it.fold(f64::INFINITY, f64::min)
                    } else {
                        it.fold(0.0, f64::max)
                    };
                    for &a in &axes {
                        scales[a] = s;
                        out[a] = (s * shape[a] as f64 + 0.5) as usize;
                    }
                }
            }
            (Some(_), Some(_)) => {
                return Err(Error::input("only one of scales and sizes may be given"));
            }
            (None, None) => return Err(Error::input("one of scales and sizes is required")),
        }
        Ok(Geometry {
            out,
            scales,
            roi,
            axes,
        })
    }
}

/// Resample `data` (shape `shape`) along `axis` with `plan`.
fn apply(data: &[f64], shape: &[usize], axis: usize, plan: &[Taps], ext: f64) -> Vec<f64> {
    let w = shape[axis];
    let o_len = plan.len();
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = vec![0.0; outer * o_len * inner];
    for o in 0..outer {
        for (y, t) in plan.iter().enumerate() {
            let dst = (o * o_len + y) * inner;
            if t.extrapolate {
                out[dst..dst + inner].fill(ext);
                continue;
            }
            for &(x, c) in &t.taps {
                let src = (o * w + x) * inner;
                for i in 0..inner {
                    out[dst + i] += c * data[src + i];
                }
            }
        }
    }
    out
}

fn cast<T: Num>(v: &[f64], shape: &[usize], integer: bool) -> Result<Tensor> {
    let data = v
        .iter()
        .map(|&x| T::from_f64(if integer { x.round_ties_even() } else { x }))
        .collect();
    Ok(T::wrap(array(shape, data)?))
}

impl Op for Resize {
    fn op_type(&self) -> &str {
        "Resize"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let f = fact(inputs, 0);
        let shape = f
            .and_then(|f| f.shape.as_ref())
            .map(|s| Shape(vec![crate::Dim::Unknown; s.rank()]));
        Ok(vec![TensorFact {
            dtype: f.and_then(|f| f.dtype),
            shape,
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let g = self.geometry(x.shape(), inputs)?;
        let total = super::common::checked_numel(&g.out)?;
        if total > 1 << 32 {
            return Err(Error::input("resize output is too large"));
        }
        let mut data = x.to_f64_vec()?;
        let mut shape = x.shape().to_vec();
        for &a in &g.axes {
            let identity = (g.scales[a] - 1.0).abs() <= 1e-9
                && g.out[a] == shape[a]
                && (g.roi[a].0.abs() <= 1e-9 && (g.roi[a].1 - 1.0).abs() <= 1e-9
                    || self.params.coord != CoordMode::TfCropAndResize);
            if identity {
                continue;
            }
            let plan = axis_plan(&self.params, shape[a], g.out[a], g.scales[a], g.roi[a])?;
            data = apply(&data, &shape, a, &plan, self.extrapolation);
            shape[a] = g.out[a];
        }
        let integer = x.dtype().is_integer();
        let out = match x.dtype() {
            DataType::Bool | DataType::String => {
                return Err(Error::dtype(format!(
                    "Resize does not take {} tensors",
                    x.dtype()
                )));
            }
            _ => crate::dispatch_numeric!(x, _a => cast::<T>(&data, &shape, integer)?),
        };
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::{run_op, tf};
    use crate::{Attribute, Attributes};

    #[test]
    fn nearest_upsample_2x() {
        let x = tf(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = tf(&[4], &[1.0, 1.0, 2.0, 2.0]);
        let r = run_op("Resize", Attributes::new(), &[Some(x), None, Some(s)], 1).unwrap();
        assert_eq!(r[0].shape(), &[1, 1, 4, 4]);
        assert_eq!(
            r[0].to_f64_vec().unwrap()[..8],
            [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]
        );
    }

    #[test]
    fn rejects_bad_attributes() {
        let a = Attributes::new()
            .with("mode", Attribute::String("nearest".into()))
            .with("antialias", Attribute::Int(1));
        assert!(run_op("Resize", a, &[], 1).is_err());
        let a = Attributes::new().with("mode", Attribute::String("bilinear".into()));
        assert!(run_op("Resize", a, &[], 1).is_err());
    }
}
