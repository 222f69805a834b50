//! Reductions: the `axes` attribute became an input (ReduceSum in opset 13, the others in
//! opset 18); ArgMax/ArgMin and the cumulative ops import directly.

use super::{ImportCtx, ImporterRegistry, OnnxNode, direct, ints_attr_to_input};
use kiln_core::{Node, Result};

/// Register this family: one line per op (and per changed opset).
pub fn register(r: &mut ImporterRegistry) {
    r.add("ReduceSum", 1, axes_attr_to_input);
    r.add("ReduceSum", 13, direct);
    r.add("ReduceMax", 1, axes_attr_to_input);
    r.add("ReduceMax", 18, direct);
    r.add("ReduceMin", 1, axes_attr_to_input);
    r.add("ReduceMin", 18, direct);
    r.add("ReduceMean", 1, axes_attr_to_input);
    r.add("ReduceMean", 18, direct);
    r.add("ReduceProd", 1, axes_attr_to_input);
    r.add("ReduceProd", 18, direct);
    r.add("ReduceL1", 1, axes_attr_to_input);
    r.add("ReduceL1", 18, direct);
    r.add("ReduceL2", 1, axes_attr_to_input);
    r.add("ReduceL2", 18, direct);
    r.add("ReduceLogSum", 1, axes_attr_to_input);
    r.add("ReduceLogSum", 18, direct);
    r.add("ReduceLogSumExp", 1, axes_attr_to_input);
    r.add("ReduceLogSumExp", 18, direct);
    r.add("ReduceSumSquare", 1, axes_attr_to_input);
    r.add("ReduceSumSquare", 18, direct);
    r.add("ArgMax", 1, direct);
    r.add("ArgMin", 1, direct);
    r.add("CumSum", 11, direct);
    r.add("CumProd", 26, direct);
}

/// `axes` attribute -> constant i64 input 1 (absent attribute = reduce all, as before).
pub fn axes_attr_to_input(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.inputs.truncate(1);
    ints_attr_to_input(ctx, &mut node, "axes", 1)?;
    direct(ctx, node)
}
