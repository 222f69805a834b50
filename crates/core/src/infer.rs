//! Shape and type inference over a whole graph, driven by each op's `infer`.

use crate::{Graph, InferInput, Result, Tensor, TensorFact, ValueType};
use std::collections::HashMap;

/// Infer the type and shape of every value of `graph` that can be inferred.
///
/// Graph inputs and `value_info` seed the facts; initializers are known constants; op outputs
/// come from [`crate::Op::infer`]. Values nobody could infer are absent from the result.
/// Errors (shapes that cannot fit) name the node.
pub fn infer_facts(graph: &Graph) -> Result<HashMap<String, TensorFact>> {
    let mut facts: HashMap<String, TensorFact> = HashMap::new();
    let mut consts: HashMap<String, Tensor> = HashMap::new();
    for vi in graph.inputs.iter().chain(graph.value_info.values()) {
        if let ValueType::Tensor(t) = &vi.ty {
            facts.insert(vi.name.clone(), t.clone());
        }
    }
    for (name, t) in &graph.initializers {
        facts.insert(
            name.clone(),
            TensorFact::new(t.dtype(), crate::Shape::fixed(t.shape())),
        );
        consts.insert(name.clone(), t.clone());
    }
    let unknown = TensorFact::default();
    for node in &graph.nodes {
        let ins: Vec<InferInput<'_>> = node
            .inputs
            .iter()
            .map(|n| InferInput {
                fact: facts.get(n).unwrap_or(&unknown),
                value: consts.get(n),
            })
            .collect();
        let outs = node
            .op
            .infer(&ins)
            .map_err(|e| e.at_node(&node.name, node.op_type()))?;
        // Constant-producing nodes with all inputs known can be evaluated for later inference.
        let all_const = node
            .inputs
            .iter()
            .all(|n| n.is_empty() || consts.contains_key(n));
        let mut produced = Vec::new();
        if all_const
            && node.op.unresolved().is_none()
            && node
                .attrs
                .0
                .values()
                .all(|a| !matches!(a, crate::Attribute::Graph(_)))
        {
            let args: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|n| if n.is_empty() { None } else { consts.get(n) })
                .collect();
            let small = args.iter().flatten().all(|t| t.len() <= 4096);
            if small {
                if let Ok(v) = node.op.eval(&args) {
                    produced = v;
                }
            }
        }
        for (i, name) in node.outputs.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            if let Some(t) = produced.get(i) {
                facts.insert(
                    name.clone(),
                    TensorFact::new(t.dtype(), crate::Shape::fixed(t.shape())),
                );
                if t.len() <= 4096 {
                    consts.insert(name.clone(), t.clone());
                }
            } else if let Some(f) = outs.get(i) {
                facts.insert(name.clone(), f.clone());
            }
        }
    }
    Ok(facts)
}
