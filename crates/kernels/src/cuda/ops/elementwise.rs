//! Elementwise kernels (`elementwise.cu`): unary ops, broadcasting binary ops, and the
//! bias/residual/activation epilogue shared by the fused layers.

use super::{Ctx, Dims, first_input, strides};
use crate::cuda::layer::grid_for;
use crate::cuda::layer::launch;
use crate::cuda::{CudaError, DevTensor, Exec, GpuLayer};
use kiln_core::DataType;
use kiln_core::ops::fused::Activation;

/// The `.cu` activation code and its two parameters.
pub fn act_code(a: &Activation) -> Option<(i32, f32, f32)> {
    Some(match *a {
        Activation::None => (0, 0.0, 0.0),
        Activation::Relu => (1, 0.0, 0.0),
        Activation::Clip { min, max } => (2, min, max),
        Activation::Sigmoid => (3, 0.0, 0.0),
        Activation::Tanh => (4, 0.0, 0.0),
        Activation::LeakyRelu { alpha } => (5, alpha, 0.0),
        Activation::HardSwish => (6, 0.0, 0.0),
        Activation::HardSigmoid { alpha, beta } => (7, alpha, beta),
        Activation::Gelu => (8, 0.0, 0.0),
        Activation::GeluTanh => (9, 0.0, 0.0),
    })
}

/// A unary op (`kiln_unary_*`).
#[derive(Debug)]
pub struct Unary {
    dt: DataType,
    op: i32,
    a: f32,
    b: f32,
}

pub(crate) fn unary(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    if c.input(0)?.len() != c.outputs.first()?.len() {
        return None;
    }
    let attrs = &c.node.attrs;
    let f = |n: &str, d: f32| attrs.float_or(n, d).ok();
    let (op, a, b) = match c.node.op_type() {
        "Relu" => (1, 0.0, 0.0),
        "Sigmoid" => (3, 0.0, 0.0),
        "Tanh" => (4, 0.0, 0.0),
        "LeakyRelu" => (5, f("alpha", 0.01)?, 0.0),
        "HardSwish" => (6, 0.0, 0.0),
        "HardSigmoid" => (7, f("alpha", 0.2)?, f("beta", 0.5)?),
        "Gelu" => match attrs.string_or("approximate", "none".into()).ok()?.as_str() {
            "tanh" => (9, 0.0, 0.0),
            "none" => (8, 0.0, 0.0),
            _ => return None,
        },
        "Exp" => (10, 0.0, 0.0),
        "Log" => (11, 0.0, 0.0),
        "Sqrt" => (12, 0.0, 0.0),
        "Neg" => (13, 0.0, 0.0),
        "Abs" => (14, 0.0, 0.0),
        "Erf" => (15, 0.0, 0.0),
        "Reciprocal" => (16, 0.0, 0.0),
        "Floor" => (17, 0.0, 0.0),
        "Ceil" => (18, 0.0, 0.0),
        "Sin" => (19, 0.0, 0.0),
        "Cos" => (20, 0.0, 0.0),
        "Softplus" => (21, 0.0, 0.0),
        "Elu" => (22, f("alpha", 1.0)?, 0.0),
        _ => return None,
    };
    Some(Box::new(Unary { dt, op, a, b }))
}

/// Clip with constant bounds (absent bounds are infinite; run-time bounds run on the CPU).
pub(crate) fn clip(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    let bound = |i: usize, default: f32| -> Option<f32> {
        match c.inputs.get(i) {
            Some(Some(_)) => {
                let v = c.constant(i)?.to_f64_vec().ok()?;
                (v.len() == 1).then(|| v[0] as f32)
            }
            _ => Some(default),
        }
    };
    Some(Box::new(Unary {
        dt,
        op: 2,
        a: bound(1, f32::NEG_INFINITY)?,
        b: bound(2, f32::INFINITY)?,
    }))
}

impl GpuLayer for Unary {
    fn kernel(&self) -> &str {
        "nvrtc-unary"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let x = first_input(ins)?;
        let y = &outs[0];
        launch_unary(ex, self.dt, x.ptr, y.ptr, y.len(), self.op, self.a, self.b)
    }
}

/// Enqueue `y = op(x)` over `n` elements of type `dt`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_unary(
    ex: &Exec<'_>,
    dt: DataType,
    x: u64,
    y: u64,
    n: usize,
    op: i32,
    a: f32,
    b: f32,
) -> Result<(), CudaError> {
    if n == 0 {
        return Ok(());
    }
    let f = ex.function_t("elementwise", "kiln_unary", dt)?;
    let n64 = n as i64;
    launch!(ex, &f, grid_for(n), "kiln_unary"; &x, &y, &n64, &op, &a, &b)
}

/// A broadcasting binary op (`kiln_binary_*`).
#[derive(Debug)]
pub struct Binary {
    dt: DataType,
    op: i32,
    rank: i32,
    out: Dims,
    a_str: Dims,
    b_str: Dims,
    /// Periods of the fast path (0, 0: general indexing).
    pa: i64,
    pb: i64,
}

/// The period of an input that is contiguous and repeats only along leading output dims
/// (its shape, without leading 1s, is a suffix of the output's), else `None`.
fn period(shape: &[usize], out: &[usize]) -> Option<usize> {
    let first = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
    let core = &shape[first..];
    (core.len() <= out.len() && out[out.len() - core.len()..] == *core)
        .then(|| core.iter().product::<usize>().max(1))
}

/// Strides of `shape` broadcast to `out` (0 on broadcast dims), aligned to the right.
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Option<Vec<usize>> {
    if shape.len() > out.len() {
        return None;
    }
    let pad = out.len() - shape.len();
    let own = strides(shape);
    let mut s = vec![0; out.len()];
    for (i, &d) in shape.iter().enumerate() {
        if d == out[pad + i] {
            s[pad + i] = if d == 1 { 0 } else { own[i] };
        } else if d != 1 {
            return None;
        }
    }
    Some(s)
}

pub(crate) fn binary(c: &Ctx<'_>) -> Option<Box<dyn GpuLayer>> {
    let dt = c.float_type()?;
    if c.inputs.len() != 2 {
        return None;
    }
    let op = match c.node.op_type() {
        "Add" => 0,
        "Sub" => 1,
        "Mul" => 2,
        "Div" => 3,
        "Pow" => 4,
        "Max" => 5,
        "Min" => 6,
        "PRelu" => 7,
        _ => return None,
    };
    let out = &c.outputs.first()?.shape;
    let a = broadcast_strides(&c.input(0)?.shape, out)?;
    let b = broadcast_strides(&c.input(1)?.shape, out)?;
    let (pa, pb) = match (
        period(&c.input(0)?.shape, out),
        period(&c.input(1)?.shape, out),
    ) {
        (Some(pa), Some(pb)) => (pa as i64, pb as i64),
        _ => (0, 0),
    };
    Some(Box::new(Binary {
        dt,
        op,
        rank: out.len() as i32,
        out: Dims::from(out)?,
        a_str: Dims::from(&a)?,
        b_str: Dims::from(&b)?,
        pa,
        pb,
    }))
}

impl GpuLayer for Binary {
    fn kernel(&self) -> &str {
        "nvrtc-binary"
    }

    fn enqueue(
        &self,
        ex: &Exec<'_>,
        ins: &[Option<&DevTensor>],
        outs: &[DevTensor],
        _ws: u64,
    ) -> Result<(), CudaError> {
        let (Some(Some(a)), Some(Some(b))) = (ins.first(), ins.get(1)) else {
            return Err(CudaError::Unsupported("missing input".into()));
        };
        let y = &outs[0];
        let n = y.len() as i64;
        if n == 0 {
            return Ok(());
        }
        let f = ex.function_t("elementwise", "kiln_binary", self.dt)?;
        let (ap, bp, yp) = (a.ptr, b.ptr, y.ptr);
        launch!(ex, &f, grid_for(y.len()), "kiln_binary"; &ap, &bp, &yp, &n, &self.op, &self.rank, &self.out, &self.a_str, &self.b_str, &self.pa, &self.pb)
    }
}

/// The epilogue of fused layers: `y = act(alpha*y + bias_scale*bias[(i/inner)%channels] +
/// z_scale*z)` over `n` elements (bias, z: 0 = none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BiasAct {
    pub dt: DataType,
    pub inner: usize,
    pub channels: usize,
    pub alpha: f32,
    pub bias_scale: f32,
    pub z_scale: f32,
    pub act: (i32, f32, f32),
}

impl BiasAct {
    pub fn launch(
        &self,
        ex: &Exec<'_>,
        y: u64,
        bias: u64,
        z: u64,
        n: usize,
    ) -> Result<(), CudaError> {
        if n == 0 {
            return Ok(());
        }
        let f = ex.function_t("elementwise", "kiln_bias_act", self.dt)?;
        let (n64, inner, ch) = (
            n as i64,
            self.inner.max(1) as i64,
            self.channels.max(1) as i64,
        );
        let (act, a, b) = self.act;
        launch!(ex, &f, grid_for(n), "kiln_bias_act"; &y, &bias, &z, &n64, &inner, &ch, &self.alpha, &self.bias_scale, &self.z_scale, &act, &a, &b)
    }
}

/// Enqueue `y = x` converted from `from` to `to` over `n` elements (f32 <-> f16/bf16): the
/// casts at the edges of reduced-precision regions.
pub fn launch_cast(
    ex: &Exec<'_>,
    from: DataType,
    to: DataType,
    x: u64,
    y: u64,
    n: usize,
) -> Result<(), CudaError> {
    if n == 0 {
        return Ok(());
    }
    let f = match (from, to) {
        (DataType::F32, DataType::F16) => ex.function("elementwise", "kiln_cast_f32_f16")?,
        (DataType::F16, DataType::F32) => ex.function("elementwise", "kiln_cast_f16_f32")?,
        (DataType::F32, DataType::BF16) => ex.function("elementwise", "kiln_cast_f32_bf16")?,
        (DataType::BF16, DataType::F32) => ex.function("elementwise", "kiln_cast_bf16_f32")?,
        _ => {
            return Err(CudaError::Unsupported(format!(
                "no GPU cast from {from} to {to}"
            )));
        }
    };
    let n64 = n as i64;
    launch!(ex, &f, grid_for(n), "kiln_cast"; &x, &y, &n64)
}

#[cfg(test)]
mod tests {
    use super::period;

    #[test]
    fn fast_path_periods() {
        // Same shape as the output: the element index itself.
        assert_eq!(period(&[2, 3, 5], &[2, 3, 5]), Some(30));
        // A bias over the trailing dims, with or without leading 1s.
        assert_eq!(period(&[5], &[2, 3, 5]), Some(5));
        assert_eq!(period(&[1, 3, 5], &[2, 3, 5]), Some(15));
        // Scalars repeat with period 1.
        assert_eq!(period(&[], &[4, 4]), Some(1));
        assert_eq!(period(&[1, 1], &[4, 4]), Some(1));
        // Broadcast inside (per-channel [C,1,1]) or not a suffix: general indexing.
        assert_eq!(period(&[3, 1], &[2, 3, 5]), None);
        assert_eq!(period(&[2, 1, 5], &[2, 3, 5]), None);
    }
}
