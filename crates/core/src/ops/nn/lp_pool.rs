//! `LpPool`: N-d Lp-norm pooling over windows.

use super::common::{WindowAttrs, check_attrs, float_tensor, float_vec, split_nc};
use super::max_pool::infer_pool;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Lp pooling: `(sum |x|^p)^(1/p)` over each window.
#[derive(Debug)]
pub struct LpPool {
    window: WindowAttrs,
    kernel: Vec<usize>,
    p: f64,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "auto_pad",
            "ceil_mode",
            "dilations",
            "kernel_shape",
            "p",
            "pads",
            "strides",
        ],
    )?;
    let window = WindowAttrs::parse(ctx.attrs)?;
    let kernel = window
        .kernel
        .clone()
        .ok_or_else(|| Error::attr("kernel_shape", "required attribute is missing"))?;
    let p = ctx.attrs.int_or("p", 2)?;
    if p < 1 {
        return Err(Error::attr("p", format!("must be >= 1, got {p}")));
    }
    Ok(Box::new(LpPool {
        window,
        kernel,
        p: p as f64,
    }))
}

impl Op for LpPool {
    fn op_type(&self) -> &str {
        "LpPool"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|x| vec![infer_pool(&self.window, &self.kernel, x.fact)])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (n, c, spatial) = split_nc(x.shape(), "LpPool")?;
        let g = self.window.geometry(&spatial, &self.kernel)?;
        let table = g.gather_table();
        let xv = float_vec(x)?;
        let (ol, il, kl) = (g.out_len(), g.in_len(), g.kernel_len());
        let mut y = vec![0.0; n * c * ol];
        for pl in 0..n * c {
            let plane = &xv[pl * il..][..il];
            for o in 0..ol {
                let mut sum = 0.0;
                for k in 0..kl {
                    let off = table[k * ol + o];
                    if off >= 0 {
                        sum += plane[off as usize].abs().powf(self.p);
                    }
                }
                y[pl * ol + o] = sum.powf(1.0 / self.p);
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&g.out);
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}
