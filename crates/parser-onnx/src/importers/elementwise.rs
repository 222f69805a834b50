//! Element-wise ops: unary math, activations, binary arithmetic, comparisons, logic,
//! bitwise, variadic (Max/Min/Sum/Mean), Clip, Cast, Where, string functions.

use super::legacy::broadcast_v1;
use super::{ImportCtx, ImporterRegistry, OnnxNode, direct, drop_consumed_inputs, scalar_of};
use kiln_core::{Attribute, DataType, Error, Node, Result};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    // Unary math: opset 1 carried `consumed_inputs`.
    r.add("Abs", 1, drop_consumed_inputs);
    r.add("Abs", 6, direct);
    r.add("Ceil", 1, drop_consumed_inputs);
    r.add("Ceil", 6, direct);
    r.add("Exp", 1, drop_consumed_inputs);
    r.add("Exp", 6, direct);
    r.add("Floor", 1, drop_consumed_inputs);
    r.add("Floor", 6, direct);
    r.add("Log", 1, drop_consumed_inputs);
    r.add("Log", 6, direct);
    r.add("Neg", 1, drop_consumed_inputs);
    r.add("Neg", 6, direct);
    r.add("Reciprocal", 1, drop_consumed_inputs);
    r.add("Reciprocal", 6, direct);
    r.add("Sqrt", 1, drop_consumed_inputs);
    r.add("Sqrt", 6, direct);
    r.add("Acos", 7, direct);
    r.add("Acosh", 9, direct);
    r.add("Asin", 7, direct);
    r.add("Asinh", 9, direct);
    r.add("Atan", 7, direct);
    r.add("Atanh", 9, direct);
    r.add("Cos", 7, direct);
    r.add("Cosh", 9, direct);
    r.add("Sin", 7, direct);
    r.add("Sinh", 9, direct);
    r.add("Tan", 7, direct);
    r.add("Erf", 9, direct);
    r.add("Sign", 9, direct);
    r.add("Round", 11, direct);
    r.add("IsNaN", 9, direct);
    r.add("IsInf", 10, direct);
    r.add("Det", 11, direct);
    // Activations.
    r.add("Relu", 1, drop_consumed_inputs);
    r.add("Relu", 6, direct);
    r.add("Sigmoid", 1, drop_consumed_inputs);
    r.add("Sigmoid", 6, direct);
    r.add("Tanh", 1, drop_consumed_inputs);
    r.add("Tanh", 6, direct);
    r.add("Elu", 1, drop_consumed_inputs);
    r.add("Elu", 6, direct);
    r.add("HardSigmoid", 1, drop_consumed_inputs);
    r.add("HardSigmoid", 6, direct);
    r.add("LeakyRelu", 1, drop_consumed_inputs);
    r.add("LeakyRelu", 6, direct);
    r.add("Selu", 1, drop_consumed_inputs);
    r.add("Selu", 6, direct);
    r.add("PRelu", 1, drop_consumed_inputs);
    r.add("PRelu", 6, direct);
    r.add("Softplus", 1, direct);
    r.add("Softsign", 1, direct);
    r.add("Celu", 12, direct);
    r.add("Gelu", 20, direct);
    r.add("HardSwish", 14, direct);
    r.add("Mish", 18, direct);
    r.add("ThresholdedRelu", 10, direct);
    r.add("Shrink", 9, direct);
    r.add("Swish", 24, direct);
    // Binary arithmetic: opsets before 7 used `broadcast`/`axis` attributes.
    r.add("Add", 1, broadcast_v1);
    r.add("Add", 7, direct);
    r.add("Sub", 1, broadcast_v1);
    r.add("Sub", 7, direct);
    r.add("Mul", 1, broadcast_v1);
    r.add("Mul", 7, direct);
    r.add("Div", 1, broadcast_v1);
    r.add("Div", 7, direct);
    r.add("Pow", 1, broadcast_v1);
    r.add("Pow", 7, direct);
    r.add("Mod", 10, direct);
    // Comparisons and logic.
    r.add("Equal", 1, broadcast_v1);
    r.add("Equal", 7, direct);
    r.add("Greater", 1, broadcast_v1);
    r.add("Greater", 7, direct);
    r.add("Less", 1, broadcast_v1);
    r.add("Less", 7, direct);
    r.add("GreaterOrEqual", 12, direct);
    r.add("LessOrEqual", 12, direct);
    r.add("And", 1, broadcast_v1);
    r.add("And", 7, direct);
    r.add("Or", 1, broadcast_v1);
    r.add("Or", 7, direct);
    r.add("Xor", 1, broadcast_v1);
    r.add("Xor", 7, direct);
    r.add("Not", 1, direct);
    r.add("Where", 9, direct);
    // Bitwise.
    r.add("BitShift", 11, direct);
    r.add("BitwiseAnd", 18, direct);
    r.add("BitwiseOr", 18, direct);
    r.add("BitwiseXor", 18, direct);
    r.add("BitwiseNot", 18, direct);
    // Variadic: opset 1 carried `consumed_inputs`; 6 and 8 only widened broadcasting.
    r.add("Max", 1, drop_consumed_inputs);
    r.add("Max", 6, direct);
    r.add("Min", 1, drop_consumed_inputs);
    r.add("Min", 6, direct);
    r.add("Sum", 1, drop_consumed_inputs);
    r.add("Sum", 6, direct);
    r.add("Mean", 1, drop_consumed_inputs);
    r.add("Mean", 6, direct);
    // Clip: min/max were attributes before opset 11.
    r.add("Clip", 1, clip_v1);
    r.add("Clip", 11, direct);
    // Cast: opset 1 named the target type with a string.
    r.add("Cast", 1, cast_v1);
    r.add("Cast", 6, direct);
    r.add("CastLike", 15, direct);
    r.add("BitCast", 26, direct);
    // Strings.
    r.add("StringConcat", 20, direct);
    r.add("StringNormalizer", 10, direct);
    r.add("StringSplit", 20, direct);
    r.add("RegexFullMatch", 20, direct);
}

/// Clip-1/6: `min`/`max` attributes -> constant inputs of the input's type.
pub fn clip_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    let dtype = node
        .input(0)
        .and_then(|x| ctx.dtype_of(x))
        .unwrap_or(DataType::F32);
    for (attr, index) in [("min", 1), ("max", 2)] {
        match node.take_attr(attr) {
            None => {}
            Some(Attribute::Float(v)) => {
                let name = ctx.add_const(
                    &format!("{}_{attr}", node.name),
                    scalar_of(dtype, v as f64)?,
                );
                node.set_input(index, name);
            }
            Some(other) => {
                return Err(Error::attr(
                    attr,
                    format!("expected float, got {}", other.kind()),
                ));
            }
        }
    }
    direct(ctx, node)
}

/// Cast-1: `to` was a type name string (`"FLOAT"`); later opsets use the type number.
pub fn cast_v1(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    if let Some(Attribute::String(s)) = node.attrs.get("to").cloned() {
        let code = (0..=26)
            .find(|&c| crate::dtype::onnx_dtype_name(c).eq_ignore_ascii_case(&s))
            .ok_or_else(|| Error::attr("to", format!("unknown type name '{s}'")))?;
        node.attrs.set("to", Attribute::Int(code as i64));
    }
    direct(ctx, node)
}
