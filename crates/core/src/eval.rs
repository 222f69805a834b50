//! The reference evaluator: runs a graph node by node with each op's reference `eval`.
//! Obviously correct first; the fast paths live in kiln-kernels.

use crate::{Error, EvalContext, Graph, Result, Tensor, Value};
use std::collections::HashMap;

/// Values visible to a (sub)graph: its own, then its parents'.
#[derive(Debug)]
pub struct Scope<'a> {
    values: &'a HashMap<String, Value>,
    parent: Option<&'a Scope<'a>>,
}

impl<'a> Scope<'a> {
    /// A scope over `values`, nested in `parent`.
    pub fn new(values: &'a HashMap<String, Value>, parent: Option<&'a Scope<'a>>) -> Self {
        Scope { values, parent }
    }

    /// Look a value up here, then in the enclosing scopes.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.values
            .get(name)
            .or_else(|| self.parent.and_then(|p| p.get(name)))
    }
}

/// Run `graph` on named inputs and return its outputs in order.
///
/// Inputs backed by an initializer may be omitted (the initializer is the default).
/// `outer` gives subgraphs access to the values of the graphs enclosing them.
pub fn run_graph(
    graph: &Graph,
    inputs: HashMap<String, Value>,
    outer: Option<&Scope<'_>>,
) -> Result<Vec<Value>> {
    let mut env: HashMap<String, Value> = HashMap::with_capacity(graph.nodes.len() * 2);
    for (name, t) in &graph.initializers {
        env.insert(name.clone(), Value::Tensor(t.clone()));
    }
    let mut missing = Vec::new();
    for vi in &graph.inputs {
        if !inputs.contains_key(&vi.name) && !env.contains_key(&vi.name) {
            missing.push(vi.name.clone());
        }
    }
    if !missing.is_empty() {
        return Err(Error::input(format!(
            "missing graph inputs: {}",
            missing.join(", ")
        )));
    }
    env.extend(inputs);

    for node in &graph.nodes {
        let scope = Scope::new(&env, outer);
        let mut args: Vec<Option<&Value>> = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                args.push(None);
            } else {
                let v = scope.get(name).ok_or_else(|| {
                    Error::Graph(format!("value '{name}' is not defined"))
                        .at_node(&node.name, node.op_type())
                })?;
                args.push(Some(v));
            }
        }
        let ctx = EvalContext {
            scope: Some(&scope),
        };
        let results = node
            .op
            .eval_values(&args, &ctx)
            .map_err(|e| e.at_node(&node.name, node.op_type()))?;
        let wanted = node.outputs.iter().filter(|o| !o.is_empty()).count();
        if results.len() < node.outputs.len() && wanted > 0 {
            let last_wanted = node
                .outputs
                .iter()
                .rposition(|o| !o.is_empty())
                .unwrap_or(0);
            if results.len() <= last_wanted {
                return Err(Error::Graph(format!(
                    "produced {} outputs, {} requested",
                    results.len(),
                    node.outputs.len()
                ))
                .at_node(&node.name, node.op_type()));
            }
        }
        for (name, v) in node.outputs.iter().zip(results) {
            if !name.is_empty() {
                env.insert(name.clone(), v);
            }
        }
    }

    graph
        .outputs
        .iter()
        .map(|o| {
            env.remove(&o.name)
                .or_else(|| outer.and_then(|s| s.get(&o.name)).cloned())
                .ok_or_else(|| {
                    Error::Graph(format!("graph output '{}' was never computed", o.name))
                })
        })
        .collect()
}

/// Convenience: run a graph whose inputs and outputs are all tensors.
pub fn run_tensors(graph: &Graph, inputs: HashMap<String, Tensor>) -> Result<Vec<Tensor>> {
    let inputs = inputs
        .into_iter()
        .map(|(k, v)| (k, Value::Tensor(v)))
        .collect();
    run_graph(graph, inputs, None)?
        .into_iter()
        .map(Value::into_tensor)
        .collect()
}
