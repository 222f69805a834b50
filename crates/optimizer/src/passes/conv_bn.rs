//! Conv + BatchNormalization folding: an inference-mode BatchNormalization whose input is a
//! Conv (or a FusedConv without activation and residual) with constant weights, and whose
//! scale, bias, mean and variance are constants, folds into the convolution's weights and
//! bias: `W' = W * s`, `b' = (b - mean) * s + beta` with `s = scale / sqrt(var + eps)`.
//! The result is a FusedConv (which records the fusion); the original weights are left for
//! other readers (dead-node elimination drops them when unused).

use crate::fusion::fused_node;
use crate::util::{Names, constant, op_at, producer, replace_nodes, sole_reader, subgraph_reads};
use crate::{OptError, Pass, PassReport};
use kiln_core::ops::fused::{Activation, FUSED_NODES_ATTR, FUSION_ATTR};
use kiln_core::{Attributes, Graph, Tensor};

/// Folds BatchNormalization into the convolution before it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvBnFolding;

impl Pass for ConvBnFolding {
    fn name(&self) -> &'static str {
        "conv-bn-folding"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let mut i = 0;
        while i < graph.nodes.len() {
            match fold_at(graph, i) {
                Some(line) => report.changes.push(line),
                None => i += 1,
            }
        }
        Ok(report)
    }
}

/// Conv attributes copied from the conv node to the fused node.
fn conv_attrs(attrs: &Attributes) -> Attributes {
    let mut out = attrs.clone();
    out.0.remove(FUSION_ATTR);
    out.0.remove(FUSED_NODES_ATTR);
    out
}

fn fold_at(graph: &mut Graph, b: usize) -> Option<String> {
    let bn = op_at(graph, b, "BatchNormalization")?;
    if bn.attrs.int_or("training_mode", 0).ok()? != 0
        || bn.outputs.iter().skip(1).any(|o| !o.is_empty())
        || bn.inputs.len() != 5
    {
        return None;
    }
    let eps = bn.attrs.float_or("epsilon", 1e-5).ok()? as f64;
    let params: Vec<Vec<f64>> = bn.inputs[1..]
        .iter()
        .map(|n| constant(graph, n).and_then(|t| t.to_f64_vec().ok()))
        .collect::<Option<_>>()?;
    let c = producer(graph, &bn.inputs[0])?;
    let conv = &graph.nodes[c];
    let fused = conv.op_type() == "FusedConv" && conv.domain == kiln_core::ops::fused::KILN_DOMAIN;
    if !(op_at(graph, c, "Conv").is_some() || fused) {
        return None;
    }
    if fused
        && (Activation::from_attrs(&conv.attrs).ok()? != Activation::None
            || conv.inputs.get(3).is_some_and(|z| !z.is_empty()))
    {
        return None;
    }
    let sub = subgraph_reads(graph);
    sole_reader(graph, conv.outputs.first()?, &sub).filter(|&r| r == b)?;
    let w = constant(graph, conv.inputs.get(1)?)?;
    let m = *w.shape().first()?;
    if !w.dtype().is_float() || params.iter().any(|p| p.len() != m) {
        return None;
    }
    let bias = match conv.inputs.get(2).filter(|n| !n.is_empty()) {
        Some(n) => {
            let t = constant(graph, n)?;
            if t.dtype() != w.dtype() || t.len() != m {
                return None;
            }
            t.to_f64_vec().ok()?
        }
        None => vec![0.0; m],
    };
    let (scale, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    let s: Vec<f64> = (0..m).map(|k| scale[k] / (var[k] + eps).sqrt()).collect();
    let per = w.len() / m.max(1);
    let wv: Vec<f64> = w
        .to_f64_vec()
        .ok()?
        .iter()
        .enumerate()
        .map(|(i, v)| v * s[i / per.max(1)])
        .collect();
    let bv: Vec<f64> = (0..m)
        .map(|k| (bias[k] - mean[k]) * s[k] + beta[k])
        .collect();
    let new_w = Tensor::from_vec(w.shape(), wv).ok()?.cast(w.dtype()).ok()?;
    let new_b = Tensor::from_vec(&[m], bv).ok()?.cast(w.dtype()).ok()?;
    let mut names = Names::of(graph);
    let (wn, bnn) = (
        names.fresh(&format!("{}_W_bn", conv.name)),
        names.fresh(&format!("{}_B_bn", conv.name)),
    );
    let inputs = vec![conv.inputs[0].clone(), wn.clone(), bnn.clone()];
    let (node, line) = fused_node(
        &conv.name,
        "FusedConv",
        conv_attrs(&conv.attrs),
        inputs,
        vec![bn.outputs[0].clone()],
        &[conv, bn],
    )
    .ok()?;
    graph.initializers.insert(wn, new_w);
    graph.initializers.insert(bnn, new_b);
    replace_nodes(graph, &[c, b], b, vec![node]);
    Some(line)
}
