//! `AveragePool`: N-d average pooling (count_include_pad, ceil mode, dilations).

use super::common::{IN_PAD, WindowAttrs, check_attrs, float_tensor, float_vec, split_nc};
use super::max_pool::infer_pool;
use crate::ops::util::input;
use crate::{BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact};

/// Average pooling.
#[derive(Debug)]
pub struct AveragePool {
    window: WindowAttrs,
    kernel: Vec<usize>,
    include_pad: bool,
}

/// Build from attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "strides",
        ],
    )?;
    let window = WindowAttrs::parse(ctx.attrs)?;
    let kernel = window
        .kernel
        .clone()
        .ok_or_else(|| Error::attr("kernel_shape", "required attribute is missing"))?;
    let cip = ctx.attrs.int_or("count_include_pad", 0)?;
    if cip != 0 && cip != 1 {
        return Err(Error::attr("count_include_pad", "must be 0 or 1"));
    }
    Ok(Box::new(AveragePool {
        window,
        kernel,
        include_pad: cip == 1,
    }))
}

impl Op for AveragePool {
    fn op_type(&self) -> &str {
        "AveragePool"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(inputs
            .first()
            .map(|x| vec![infer_pool(&self.window, &self.kernel, x.fact)])
            .unwrap_or_default())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let (n, c, spatial) = split_nc(x.shape(), "AveragePool")?;
        let g = self.window.geometry(&spatial, &self.kernel)?;
        let table = g.gather_table();
        let xv = float_vec(x)?;
        let (ol, il, kl) = (g.out_len(), g.in_len(), g.kernel_len());
        let mut y = vec![0.0; n * c * ol];
        for p in 0..n * c {
            let plane = &xv[p * il..][..il];
            for o in 0..ol {
                let (mut sum, mut count) = (0.0, 0usize);
                for k in 0..kl {
                    let off = table[k * ol + o];
                    if off >= 0 {
                        sum += plane[off as usize];
                        count += 1;
                    } else if off == IN_PAD && self.include_pad {
                        count += 1;
                    }
                }
                y[p * ol + o] = if count > 0 { sum / count as f64 } else { 0.0 };
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&g.out);
        Ok(vec![float_tensor(x.dtype(), &shape, y)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes};

    #[test]
    fn count_include_pad_changes_divisor() {
        let x = Tensor::from_vec(&[1, 1, 2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let run = |cip: i64| {
            let attrs = Attributes::new()
                .with("kernel_shape", Attribute::Ints(vec![2, 2]))
                .with("pads", Attribute::Ints(vec![1, 1, 0, 0]))
                .with("count_include_pad", Attribute::Int(cip));
            let op = build(&BuildCtx {
                attrs: &attrs,
                num_inputs: 1,
                num_outputs: 1,
            })
            .unwrap();
            op.eval(&[Some(&x)]).unwrap()[0].to_f64_vec().unwrap()
        };
        assert_eq!(run(0), vec![1.0, 1.5, 2.0, 2.5]);
        assert_eq!(run(1), vec![0.25, 0.75, 1.0, 2.5]);
    }
}
