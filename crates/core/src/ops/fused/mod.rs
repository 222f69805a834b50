//! The `fused` op family: layers the optimizer makes by merging several ONNX nodes.
//! Nodes of these ops live in the domain [`KILN_DOMAIN`] (`"kiln"`); their reference
//! evaluators reuse the core ops (Conv, MatMul, Add, activations) so their results equal the
//! unfused graph (up to float rounding of the intermediate values).
//!
//! # Spec (for kernel writers)
//!
//! Every fused node may carry two string attributes that say where it came from (see
//! [`FUSION_ATTR`] and [`FUSED_NODES_ATTR`]): `fusion` (the op types it replaced, joined by
//! `+`, e.g. `"Conv+BatchNormalization+Add+Relu"`) and `fused_nodes` (the original node names,
//! comma-separated). They do not change the computation.
//!
//! ## Activation attributes (both ops)
//! - `activation` (string, default `""`): one of `""` (none), `Relu`, `Clip`, `Sigmoid`,
//!   `Tanh`, `LeakyRelu`, `HardSwish`, `HardSigmoid`, `Gelu` (exact, erf), `GeluTanh` (tanh
//!   approximation).
//! - `activation_alpha`, `activation_beta` (floats): Clip: min (default -inf) / max (default
//!   +inf); LeakyRelu: alpha (default 0.01); HardSigmoid: alpha (default 0.2) / beta (default
//!   0.5). Ignored by the other activations. See [`Activation`].
//!
//! ## `FusedConv`
//! Inputs: `X` `[N, C, D1..Dn]`, `W` `[M, C/group, k1..kn]`, optional `B` `[M]`, optional
//! `Z` (residual, exactly the shape of the conv output `[N, M, O1..On]`).
//! Attributes: ONNX Conv's (`auto_pad`, `dilations`, `group`, `kernel_shape`, `pads`,
//! `strides`, same defaults) plus the activation attributes.
//! `Y = act(Conv(X, W, B) + Z)`: bias and residual are added before the activation.
//!
//! ## `FusedMatMul`
//! Inputs: `A`, `B`, optional `bias` (1-D `[N]`, or any shape broadcastable along the last
//! dim, added to every row), optional `Z` (residual, broadcastable to the output).
//! Attributes: `alpha` (float, default 1.0: scale of the product, applied before the bias),
//! `trans_b` (int 0/1, default 0: with 1, B's last two dims are swapped before the product;
//! B must then have rank >= 2), plus the activation attributes.
//! `Y = act(alpha * MatMul(A, op(B)) + bias + Z)` with ONNX MatMul semantics (batched,
//! broadcasting batch dims, 1-D operands).
//!
//! ## `NhwcPool`
//! Input `X` `[N, H, W, C]`, output `Y` `[N, OH, OW, C]`: attribute `pool` (`MaxPool`,
//! `AveragePool`, `GlobalAveragePool`, `GlobalMaxPool`) and that op's attributes; `Y` is the
//! pool of the NCHW view. FusedConv's `layout = "NHWC"` likewise makes X, Z and Y
//! channels-last (both made by the CPU layout selection).
//!
//! Pattern fusions that have an ONNX op (LayerNormalization, Gelu, Attention) produce those
//! standard ops in the default domain instead.

mod activation;
mod fused_conv;
mod fused_matmul;
mod nhwc_pool;

pub use activation::Activation;
pub use fused_conv::FusedConv;
pub use fused_matmul::FusedMatMul;
pub use nhwc_pool::{NhwcPool, POOLS};

use crate::{Attributes, Error, OpRegistry, Result};

/// The domain of nodes made by the optimizer.
pub const KILN_DOMAIN: &str = "kiln";

/// String attribute: the op types a fused node replaced, joined by `+`.
pub const FUSION_ATTR: &str = "fusion";

/// String attribute: the names of the nodes a fused node replaced, comma-separated.
pub const FUSED_NODES_ATTR: &str = "fused_nodes";

/// The op types of this family (all in [`KILN_DOMAIN`]; no ONNX importer makes them).
pub const FUSED_OPS: &[&str] = &["FusedConv", "FusedMatMul", "NhwcPool"];

/// Register this family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("FusedConv", fused_conv::build);
    r.add("FusedMatMul", fused_matmul::build);
    r.add("NhwcPool", nhwc_pool::build);
}

/// Reject attributes outside `known`, the activation attributes and the provenance ones.
pub(crate) fn check_attrs(attrs: &Attributes, known: &[&str]) -> Result<()> {
    let always = [
        FUSION_ATTR,
        FUSED_NODES_ATTR,
        "activation",
        "activation_alpha",
        "activation_beta",
    ];
    for name in attrs.unknown(known) {
        if !always.contains(&name) {
            return Err(Error::attr(name, "unsupported attribute"));
        }
    }
    if let Some(a) = [FUSION_ATTR, FUSED_NODES_ATTR]
        .iter()
        .find(|a| attrs.string(a).is_err())
    {
        return Err(Error::attr(a, "must be a string"));
    }
    Ok(())
}

/// Run a builtin op built from `attrs` on `inputs` and return its first output.
pub(crate) fn run_builtin(
    op_type: &str,
    attrs: &Attributes,
    inputs: &[Option<&crate::Tensor>],
) -> Result<crate::Tensor> {
    let ctx = crate::BuildCtx {
        attrs,
        num_inputs: inputs.len(),
        num_outputs: 1,
    };
    let op = crate::builtin_ops().build(op_type, &ctx)?;
    let mut out = op.eval(inputs)?;
    if out.is_empty() {
        return Err(Error::unsupported(format!("{op_type} returned no output")));
    }
    Ok(out.swap_remove(0))
}
