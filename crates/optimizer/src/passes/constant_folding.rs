//! Constant folding: a node whose inputs are all initializers is evaluated once with its
//! op's reference `eval`; its outputs become initializers and the node goes away.
//!
//! Never folded: ops with subgraphs, unresolved ops, random ops, nodes reading an
//! initializer that a graph input can override, and results above the size budget.

use crate::util::has_subgraph;
use crate::{OptError, Pass, PassReport};
use kiln_core::{Graph, InferInput, Node, Tensor, TensorFact};
use std::collections::HashSet;

/// Ops whose results differ from run to run: never folded.
const NONDETERMINISTIC: &[&str] = &[
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
];

/// Folds constant subexpressions into initializers.
#[derive(Clone, Copy, Debug)]
pub struct ConstantFolding {
    /// Largest total size in bytes of one node's folded outputs (default 16 MiB).
    pub max_output_bytes: usize,
}

impl Default for ConstantFolding {
    fn default() -> Self {
        ConstantFolding {
            max_output_bytes: 16 << 20,
        }
    }
}

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        "constant-folding"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let overridable: HashSet<String> = graph.inputs.iter().map(|v| v.name.clone()).collect();
        let mut i = 0;
        while i < graph.nodes.len() {
            let node = &graph.nodes[i];
            if !foldable(graph, node, &overridable) {
                i += 1;
                continue;
            }
            match self.evaluate(graph, node) {
                Some(outputs) => {
                    let node = graph.nodes.remove(i);
                    let mut sizes = Vec::new();
                    for (name, t) in node.outputs.iter().zip(outputs) {
                        if !name.is_empty() {
                            sizes.push(format!("{name}: {}{:?}", t.dtype(), t.shape()));
                            graph.initializers.insert(name.clone(), t);
                        }
                    }
                    report.changes.push(format!(
                        "folded {} node '{}' into {}",
                        node.op_type(),
                        node.name,
                        sizes.join(", ")
                    ));
                }
                None => i += 1,
            }
        }
        Ok(report)
    }
}

fn foldable(graph: &Graph, node: &Node, overridable: &HashSet<String>) -> bool {
    node.op.unresolved().is_none()
        && node.domain.is_empty()
        && !has_subgraph(node)
        && !NONDETERMINISTIC.contains(&node.op_type())
        && node.inputs.iter().all(|n| {
            n.is_empty() || (graph.initializers.contains_key(n) && !overridable.contains(n))
        })
}

impl ConstantFolding {
    /// Evaluate `node` on its constant inputs; `None` when it fails or is too large.
    fn evaluate(&self, graph: &Graph, node: &Node) -> Option<Vec<Tensor>> {
        let args: Vec<Option<&Tensor>> = node
            .inputs
            .iter()
            .map(|n| graph.initializers.get(n))
            .collect();
        // Refuse early when inference already says the result is too large.
        let facts: Vec<TensorFact> = args
            .iter()
            .map(|t| match t {
                Some(t) => TensorFact::new(t.dtype(), kiln_core::Shape::fixed(t.shape())),
                None => TensorFact::default(),
            })
            .collect();
        let ins: Vec<InferInput<'_>> = facts
            .iter()
            .zip(&args)
            .map(|(fact, value)| InferInput {
                fact,
                value: *value,
            })
            .collect();
        if let Ok(out) = node.op.infer(&ins) {
            let known: usize = out.iter().filter_map(fact_bytes).sum();
            if known > self.max_output_bytes {
                tracing::debug!(node = %node.name, bytes = known, "not folded: too large");
                return None;
            }
        }
        let outputs = match node.op.eval(&args) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(node = %node.name, error = %e, "not folded: eval failed");
                return None;
            }
        };
        let wanted = node.outputs.iter().rposition(|o| !o.is_empty());
        if wanted.is_some_and(|w| w >= outputs.len()) {
            return None;
        }
        let bytes: usize = outputs.iter().map(tensor_bytes).sum();
        if bytes > self.max_output_bytes {
            tracing::debug!(node = %node.name, bytes, "not folded: too large");
            return None;
        }
        Some(outputs)
    }
}

fn fact_bytes(f: &TensorFact) -> Option<usize> {
    let dims = f.shape.as_ref()?.as_fixed()?;
    let n: usize = dims.iter().product();
    Some(n * f.dtype?.size_of().unwrap_or(16))
}

fn tensor_bytes(t: &Tensor) -> usize {
    match t {
        Tensor::String(a) => a.iter().map(|s| s.len() + 16).sum(),
        _ => t.len() * t.dtype().size_of().unwrap_or(1),
    }
}
