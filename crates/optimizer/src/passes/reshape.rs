//! Reshape chains: `Reshape(Reshape(x, s1), s2)` reads `x` directly when `s2` is a constant
//! that does not copy dims from its input (no `0` entries unless `allowzero` is set). The
//! inner Reshape is left to dead-node elimination when nothing else reads it.

use crate::util::{constant, op_at, producer};
use crate::{OptError, Pass, PassReport};
use kiln_core::Graph;

/// Collapses chains of Reshapes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReshapeChains;

impl Pass for ReshapeChains {
    fn name(&self) -> &'static str {
        "reshape-chains"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        for i in 0..graph.nodes.len() {
            let Some(outer) = op_at(graph, i, "Reshape") else {
                continue;
            };
            let (Some(x), Some(s2)) = (outer.inputs.first(), outer.inputs.get(1)) else {
                continue;
            };
            let Some(shape) = constant(graph, s2).and_then(|t| t.to_i64_vec().ok()) else {
                continue;
            };
            let allowzero = outer.attrs.int_or("allowzero", 0).unwrap_or(0) != 0;
            if shape.contains(&0) && !allowzero {
                continue;
            }
            let Some(p) = producer(graph, x) else {
                continue;
            };
            let Some(inner) = op_at(graph, p, "Reshape") else {
                continue;
            };
            let Some(src) = inner.inputs.first().cloned() else {
                continue;
            };
            let line = format!(
                "Reshape '{}' reads '{src}' directly, skipping Reshape '{}'",
                outer.name, inner.name
            );
            graph.nodes[i].inputs[0] = src;
            report.changes.push(line);
        }
        Ok(report)
    }
}
