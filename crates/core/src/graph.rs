//! The graph: nodes connected by named values, with initializers and typed inputs/outputs.

use crate::{Attributes, BuildCtx, Error, Op, Result, Tensor, ValueInfo, builtin_ops};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One node: an op instance applied to named inputs, producing named outputs.
#[derive(Clone, Debug)]
pub struct Node {
    /// Node name, unique in its graph.
    pub name: String,
    /// Domain of the op (empty for the default op set).
    pub domain: String,
    /// The op instance (typed attributes inside).
    pub op: Arc<dyn Op>,
    /// The attributes the op was built from (kept for serialization and reports).
    pub attrs: Attributes,
    /// Input value names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names; an empty string is an output nobody wants.
    pub outputs: Vec<String>,
}

impl Node {
    /// Build a node of a builtin op type, validating its attributes.
    pub fn builtin(
        name: impl Into<String>,
        op_type: &str,
        attrs: Attributes,
        inputs: Vec<String>,
        outputs: Vec<String>,
    ) -> Result<Node> {
        let name = name.into();
        let ctx = BuildCtx {
            attrs: &attrs,
            num_inputs: inputs.len(),
            num_outputs: outputs.len(),
        };
        let op = builtin_ops()
            .build(op_type, &ctx)
            .map_err(|e| e.at_node(&name, op_type))?;
        Ok(Node {
            name,
            domain: String::new(),
            op: Arc::from(op),
            attrs,
            inputs,
            outputs,
        })
    }

    /// The op type name.
    pub fn op_type(&self) -> &str {
        self.op.op_type()
    }
}

/// A computation graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Graph name.
    pub name: String,
    /// Inputs the caller provides (initializer-backed inputs are optional).
    pub inputs: Vec<ValueInfo>,
    /// Outputs, in order.
    pub outputs: Vec<ValueInfo>,
    /// Constant tensors (weights) by value name.
    pub initializers: BTreeMap<String, Tensor>,
    /// Nodes, in topological order once [`Graph::sort`] has run.
    pub nodes: Vec<Node>,
    /// Known types of intermediate values.
    pub value_info: BTreeMap<String, ValueInfo>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    /// The nodes whose ops are not builtins (plugin references or unsupported ops).
    pub fn unresolved_nodes(&self) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.op.unresolved().is_some())
            .collect()
    }

    /// Reorder nodes topologically. Values may come from inputs, initializers, other nodes,
    /// or (for subgraphs) from `outer` names. Errors on cycles or undefined values.
    pub fn sort(&mut self, outer: &HashSet<String>) -> Result<()> {
        let mut defined: HashSet<String> = outer.clone();
        defined.extend(self.inputs.iter().map(|v| v.name.clone()));
        defined.extend(self.initializers.keys().cloned());
        let producer: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                n.outputs
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(move |o| (o.as_str(), i))
            })
            .collect();
        let mut done = vec![false; self.nodes.len()];
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut progress = true;
        while progress && order.len() < self.nodes.len() {
            progress = false;
            for (i, n) in self.nodes.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let ready = n.inputs.iter().all(|x| x.is_empty() || defined.contains(x));
                if ready {
                    done[i] = true;
                    progress = true;
                    order.push(i);
                    defined.extend(n.outputs.iter().filter(|o| !o.is_empty()).cloned());
                }
            }
        }
        if order.len() < self.nodes.len() {
            let producer = &producer;
            let stuck: Vec<String> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| !done[*i])
                .flat_map(|(_, n)| {
                    n.inputs
                        .iter()
                        .filter(|x| !x.is_empty() && !defined.contains(*x))
                        .map(move |x| {
                            if producer.contains_key(x.as_str()) {
                                format!("'{x}' (node '{}', part of a cycle)", n.name)
                            } else {
                                format!("'{x}' (read by node '{}', never defined)", n.name)
                            }
                        })
                })
                .collect();
            return Err(Error::Graph(format!(
                "values cannot be computed: {}",
                stuck.join(", ")
            )));
        }
        let mut nodes: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order
            .into_iter()
            .map(|i| nodes[i].take().expect("each index once"))
            .collect();
        Ok(())
    }
}
