//! `FusedConv` (domain `kiln`): `act(Conv(X, W, B) + Z)`, a convolution with its bias,
//! residual add and activation in one layer. See the family docs for the spec. With
//! `layout = "NHWC"` (set by the optimizer's CPU layout selection) X, Z and Y are
//! channels-last (`[N, H, W, C]`); the weights stay `[M, C/group, kh, kw]`.

use super::{Activation, check_attrs, run_builtin};
use crate::ops::util::{input, opt_input};
use crate::{
    Attribute, Attributes, BuildCtx, Error, InferInput, Op, Result, Tensor, TensorFact, builtin_ops,
};

/// ONNX Conv's attributes, which FusedConv accepts unchanged.
pub const CONV_ATTRS: &[&str] = &[
    "auto_pad",
    "dilations",
    "group",
    "kernel_shape",
    "pads",
    "strides",
];

/// A convolution with fused bias, residual add and activation.
#[derive(Debug)]
pub struct FusedConv {
    /// The plain convolution (built from the Conv attributes).
    conv: Box<dyn Op>,
    /// The Conv attributes alone (for kernels that want them).
    pub conv_attrs: Attributes,
    /// The activation applied last.
    pub activation: Activation,
    /// X, Z and Y are `[N, H, W, C]` (2-D convolutions only).
    pub nhwc: bool,
}

/// NCHW -> NHWC and back.
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// Build from attributes (Conv's plus the activation and provenance attributes).
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    let mut known = CONV_ATTRS.to_vec();
    known.push("layout");
    check_attrs(ctx.attrs, &known)?;
    let nhwc = match ctx.attrs.string_or("layout", "NCHW".into())?.as_str() {
        "NCHW" => false,
        "NHWC" => true,
        other => return Err(Error::attr("layout", format!("'{other}': NCHW or NHWC"))),
    };
    if !(2..=4).contains(&ctx.num_inputs) {
        return Err(Error::input(format!(
            "FusedConv takes 2 to 4 inputs (X, W, B, Z), got {}",
            ctx.num_inputs
        )));
    }
    let mut conv_attrs = Attributes::new();
    for name in CONV_ATTRS {
        if let Some(a) = ctx.attrs.get(name) {
            conv_attrs.set(name, a.clone());
        }
    }
    let conv = builtin_ops().build(
        "Conv",
        &BuildCtx {
            attrs: &conv_attrs,
            num_inputs: ctx.num_inputs.min(3),
            num_outputs: 1,
        },
    )?;
    Ok(Box::new(FusedConv {
        conv,
        conv_attrs,
        activation: Activation::from_attrs(ctx.attrs)?,
        nhwc,
    }))
}

impl FusedConv {
    /// The `group` attribute (default 1).
    pub fn group(&self) -> i64 {
        match self.conv_attrs.get("group") {
            Some(Attribute::Int(g)) => *g,
            _ => 1,
        }
    }
}

impl Op for FusedConv {
    fn op_type(&self) -> &str {
        "FusedConv"
    }

    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        let n = inputs.len().min(2);
        if !self.nhwc {
            return self.conv.infer(&inputs[..n]);
        }
        let permute = |f: &TensorFact, perm: &[usize; 4]| -> Result<TensorFact> {
            let mut f = f.clone();
            if let Some(s) = &f.shape {
                if s.0.len() != 4 {
                    return Err(Error::shape("NHWC FusedConv takes a 4-D input"));
                }
                f.shape = Some(crate::Shape(perm.iter().map(|&p| s.0[p].clone()).collect()));
            }
            Ok(f)
        };
        let x = permute(inputs[0].fact, &TO_NCHW)?;
        let mut ins = vec![InferInput {
            fact: &x,
            value: None,
        }];
        ins.extend(inputs[1..n].iter().map(|i| InferInput {
            fact: i.fact,
            value: i.value,
        }));
        self.conv
            .infer(&ins)?
            .iter()
            .map(|f| permute(f, &TO_NHWC))
            .collect()
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        if !self.activation.accepts(x.dtype()) {
            return Err(Error::dtype(format!(
                "activation {} does not take {}",
                self.activation.name(),
                x.dtype()
            )));
        }
        let to = |t: &Tensor, perm: &[usize; 4]| -> Result<Tensor> {
            if t.shape().len() != 4 {
                return Err(Error::shape("NHWC FusedConv takes 4-D tensors"));
            }
            crate::ops::array::transpose::transpose(t, perm)
        };
        let x_nchw;
        let x = if self.nhwc {
            x_nchw = to(x, &TO_NCHW)?;
            &x_nchw
        } else {
            x
        };
        let mut y = self
            .conv
            .eval(&[Some(x), Some(w), opt_input(inputs, 2)])?
            .swap_remove(0);
        if self.nhwc {
            y = to(&y, &TO_NHWC)?;
        }
        if let Some(z) = opt_input(inputs, 3) {
            if z.shape() != y.shape() {
                return Err(Error::shape(format!(
                    "residual Z {:?} must have the conv output shape {:?}",
                    z.shape(),
                    y.shape()
                )));
            }
            y = run_builtin("Add", &Attributes::new(), &[Some(&y), Some(z)])?;
        }
        Ok(vec![self.activation.apply(y)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    fn node_op(attrs: &Attributes, n: usize) -> Result<Box<dyn Op>> {
        builtin_ops().build(
            "FusedConv",
            &BuildCtx {
                attrs,
                num_inputs: n,
                num_outputs: 1,
            },
        )
    }

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * scale)
            .collect();
        Tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn equals_conv_add_relu() {
        let attrs = Attributes::new()
            .with("pads", Attribute::Ints(vec![1, 1, 1, 1]))
            .with("activation", Attribute::String("Relu".into()))
            .with("fusion", Attribute::String("Conv+Add+Relu".into()))
            .with("fused_nodes", Attribute::String("c,a,r".into()));
        let op = node_op(&attrs, 4).unwrap();
        let (x, w, b) = (
            ramp(&[1, 2, 4, 4], 0.1),
            ramp(&[3, 2, 3, 3], 0.2),
            ramp(&[3], 0.5),
        );
        let z = ramp(&[1, 3, 4, 4], 0.3);
        let y = op
            .eval(&[Some(&x), Some(&w), Some(&b), Some(&z)])
            .unwrap()
            .remove(0);
        let conv_attrs = Attributes::new().with("pads", Attribute::Ints(vec![1, 1, 1, 1]));
        let c = run_builtin("Conv", &conv_attrs, &[Some(&x), Some(&w), Some(&b)]).unwrap();
        let s = run_builtin("Add", &Attributes::new(), &[Some(&c), Some(&z)]).unwrap();
        let r = run_builtin("Relu", &Attributes::new(), &[Some(&s)]).unwrap();
        assert_eq!(y, r);
        let facts = [
            TensorFact::new(crate::DataType::F32, Shape::fixed(&[1, 2, 4, 4])),
            TensorFact::new(crate::DataType::F32, Shape::fixed(&[3, 2, 3, 3])),
        ];
        let ins: Vec<InferInput<'_>> = facts
            .iter()
            .map(|f| InferInput {
                fact: f,
                value: None,
            })
            .collect();
        let out = op.infer(&ins).unwrap();
        assert_eq!(out[0].shape, Some(Shape::fixed(&[1, 3, 4, 4])));
        // A residual of another shape is an error, not a broadcast.
        let bad = ramp(&[1, 3, 1, 1], 1.0);
        assert!(op.eval(&[Some(&x), Some(&w), None, Some(&bad)]).is_err());
    }

    #[test]
    fn rejects_unknown_attributes() {
        let attrs = Attributes::new().with("transA", Attribute::Int(1));
        assert!(node_op(&attrs, 2).is_err());
        let attrs = Attributes::new().with("fusion", Attribute::Int(1));
        assert!(node_op(&attrs, 2).is_err());
        assert!(node_op(&Attributes::new(), 5).is_err());
    }
}
