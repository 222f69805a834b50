//! `MaxPool`: N-d max pooling with padding, dilations, ceil mode and optional argmax indices.

use super::common::{WindowAttrs, check_attrs, float_tensor, int_tensor, nc_fact, split_nc};
use crate::ops::util::input;
use crate::{BuildCtx, DataType, Error, InferInput, Op, Result, Shape, Tensor, TensorFact};

/// Max pooling.
#[derive(Debug)]
pub struct MaxPool {
    window: WindowAttrs,
    kernel: Vec<usize>,
    column_major: bool,
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
            "pads",
            "storage_order",
            "strides",
        ],
    )?;
    let window = WindowAttrs::parse(ctx.attrs)?;
    let kernel = window
        .kernel
        .clone()
        .ok_or_else(|| Error::attr("kernel_shape", "required attribute is missing"))?;
    let so = ctx.attrs.int_or("storage_order", 0)?;
    if so != 0 && so != 1 {
        return Err(Error::attr("storage_order", "must be 0 or 1"));
    }
    Ok(Box::new(MaxPool {
        window,
        kernel,
        column_major: so == 1,
    }))
}

/// Pool output facts `[N, C, out...]` for a window op with a known kernel.
pub fn infer_pool(window: &WindowAttrs, kernel: &[usize], x: &TensorFact) -> TensorFact {
    let shape = nc_fact(&x.shape).map(|d| {
        let mut dims = d[..2].to_vec();
        dims.extend(window.infer_spatial(&d[2..], kernel));
        Shape(dims)
    });
    TensorFact {
        dtype: x.dtype,
        shape,
    }
}

impl Op for MaxPool {
    fn op_type(&self) -> &str {
        "MaxPool"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let Some(x) = inputs.first() else {
            return Ok(Vec::new());
        };
        let y = infer_pool(&self.window, &self.kernel, x.fact);
        let idx = TensorFact {
            dtype: Some(DataType::I64),
            shape: y.shape.clone(),
        };
        Ok(vec![y, idx])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0)?;
        let dt = x.dtype();
        if !(dt.is_float() || dt == DataType::I8 || dt == DataType::U8) {
            return Err(Error::dtype(format!("MaxPool does not take {dt}")));
        }
        let (n, c, spatial) = split_nc(x.shape(), "MaxPool")?;
        let g = self.window.geometry(&spatial, &self.kernel)?;
        let table = g.gather_table();
        let xv = x.to_f64_vec()?;
        let (ol, il) = (g.out_len(), g.in_len());
        let mut y = vec![0.0; n * c * ol];
        let mut idx = vec![0i64; n * c * ol];
        let mut sp = vec![0usize; spatial.len()];
        for p in 0..n * c {
            let plane = &xv[p * il..][..il];
            for o in 0..ol {
                let mut best = f64::NEG_INFINITY;
                let mut at: i64 = -1;
                for k in 0..g.kernel_len() {
                    let off = table[k * ol + o];
                    if off >= 0 {
                        let v = plane[off as usize];
                        if v > best || at < 0 {
                            best = v;
                            at = off;
                        }
                    }
                }
                y[p * ol + o] = best;
                let local = if self.column_major && at >= 0 {
                    super::common::unravel(at as usize, &spatial, &mut sp);
                    let mut f = 0usize;
                    for d in (0..spatial.len()).rev() {
                        f = f * spatial[d] + sp[d];
                    }
                    f as i64
                } else {
                    at
                };
                idx[p * ol + o] = (p * il) as i64 + local.max(0);
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&g.out);
        let yt = if dt.is_float() {
            float_tensor(dt, &shape, y)?
        } else {
            int_tensor(dt, &shape, y.into_iter().map(|v| v as i64).collect())?
        };
        Ok(vec![yt, Tensor::from_vec(&shape, idx)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes, Dim};

    #[test]
    fn max_pool_indices_and_ceil() {
        let attrs = Attributes::new()
            .with("kernel_shape", Attribute::Ints(vec![2, 2]))
            .with("strides", Attribute::Ints(vec![2, 2]))
            .with("ceil_mode", Attribute::Int(1));
        let op = build(&BuildCtx {
            attrs: &attrs,
            num_inputs: 1,
            num_outputs: 2,
        })
        .unwrap();
        let x = Tensor::from_vec(&[1, 1, 3, 3], (0..9).map(|v| v as f32).collect()).unwrap();
        let out = op.eval(&[Some(&x)]).unwrap();
        assert_eq!(out[0].to_f64_vec().unwrap(), vec![4.0, 5.0, 7.0, 8.0]);
        assert_eq!(out[1].to_i64_vec().unwrap(), vec![4, 5, 7, 8]);
        let f = op
            .infer(&[InferInput {
                fact: &TensorFact::new(
                    DataType::F32,
                    Shape(vec![
                        Dim::Sym("N".into()),
                        Dim::Fixed(1),
                        Dim::Fixed(3),
                        Dim::Fixed(3),
                    ]),
                ),
                value: None,
            }])
            .unwrap();
        assert_eq!(
            f[0].shape.as_ref().unwrap().0,
            vec![
                Dim::Sym("N".into()),
                Dim::Fixed(1),
                Dim::Fixed(2),
                Dim::Fixed(2)
            ]
        );
    }

    #[test]
    fn missing_kernel_is_an_error() {
        let attrs = Attributes::new();
        assert!(
            build(&BuildCtx {
                attrs: &attrs,
                num_inputs: 1,
                num_outputs: 1
            })
            .is_err()
        );
    }
}
