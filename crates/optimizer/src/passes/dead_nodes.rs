//! Dead-node elimination: nodes none of whose outputs are used (by a graph output, a live
//! node, or a subgraph), removed recursively; then initializers nothing reads.

use crate::util::subgraph_reads;
use crate::{OptError, Pass, PassReport};
use kiln_core::Graph;
use std::collections::HashSet;

/// Removes nodes whose results nobody uses, and unused initializers.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeadNodeElimination;

impl Pass for DeadNodeElimination {
    fn name(&self) -> &'static str {
        "dead-node-elimination"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        // Names used by something live; grown while walking nodes backwards. Iterate to a
        // fixed point so the result does not depend on node order.
        let mut used: HashSet<String> = graph.outputs.iter().map(|o| o.name.clone()).collect();
        used.extend(subgraph_reads(graph));
        let mut live = vec![false; graph.nodes.len()];
        loop {
            let mut changed = false;
            for (i, node) in graph.nodes.iter().enumerate().rev() {
                if live[i]
                    || !node
                        .outputs
                        .iter()
                        .any(|o| !o.is_empty() && used.contains(o))
                {
                    continue;
                }
                live[i] = true;
                changed = true;
                used.extend(node.inputs.iter().filter(|n| !n.is_empty()).cloned());
            }
            if !changed {
                break;
            }
        }
        let nodes = std::mem::take(&mut graph.nodes);
        for (node, keep) in nodes.into_iter().zip(live) {
            if keep {
                graph.nodes.push(node);
            } else {
                report.changes.push(format!(
                    "removed dead {} node '{}'",
                    node.op_type(),
                    node.name
                ));
            }
        }
        let inputs: HashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let dead_inits: Vec<String> = graph
            .initializers
            .keys()
            .filter(|k| !used.contains(*k) && !inputs.contains(k.as_str()))
            .cloned()
            .collect();
        for k in dead_inits {
            graph.initializers.remove(&k);
            report
                .changes
                .push(format!("removed unused initializer '{k}'"));
        }
        Ok(report)
    }
}
