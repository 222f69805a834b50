//! Memory planning: liveness of intermediate values over the layer order, and a greedy
//! assignment of offsets in one arena so values that are never alive together share bytes.

use crate::reads::node_reads;
use kiln_core::{Graph, TensorFact};
use std::collections::{HashMap, HashSet};

/// Alignment of every buffer in the arena.
pub const BUFFER_ALIGN: u64 = 64;

/// One value's place in the arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// The value name.
    pub value: String,
    /// Byte offset in the arena (multiple of [`BUFFER_ALIGN`]).
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Index of the layer producing it.
    pub first_layer: usize,
    /// Index of the last layer reading it (the layer count for graph outputs).
    pub last_layer: usize,
}

/// The memory plan of an engine, for the build-time shapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Arena size: bytes needed with reuse.
    pub peak_bytes: u64,
    /// Bytes needed if every value had its own buffer.
    pub naive_bytes: u64,
    /// Placement of every value of known size.
    pub buffers: Vec<Buffer>,
}

fn align(n: u64) -> u64 {
    n.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN
}

/// Plan the intermediate values of `graph` (nodes in execution order) whose type and shape
/// `facts` know. Values of unknown size (symbolic dims, strings, sequences) are left to
/// run-time allocation and not in the plan.
pub fn plan_memory(graph: &Graph, facts: &HashMap<String, TensorFact>) -> MemoryPlan {
    let outputs: HashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut last_use: HashMap<String, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for name in node_reads(node) {
            last_use.insert(name, i);
        }
    }
    let end = graph.nodes.len();
    let mut items: Vec<Buffer> = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for out in node.outputs.iter().filter(|o| !o.is_empty()) {
            let Some(size) = facts.get(out).and_then(fact_bytes) else {
                continue;
            };
            let last = if outputs.contains(out.as_str()) {
                end
            } else {
                last_use.get(out).copied().unwrap_or(i).max(i)
            };
            items.push(Buffer {
                value: out.clone(),
                offset: 0,
                size,
                first_layer: i,
                last_layer: last,
            });
        }
    }
    let naive_bytes = items.iter().map(|b| align(b.size)).sum();
    // Greedy by size: biggest first, each at the lowest offset free over its lifetime.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .size
            .cmp(&items[a].size)
            .then(items[a].first_layer.cmp(&items[b].first_layer))
    });
    let mut placed: Vec<usize> = Vec::new();
    let mut peak = 0u64;
    for idx in order {
        let (first, last, size) = (
            items[idx].first_layer,
            items[idx].last_layer,
            items[idx].size,
        );
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .map(|&p| &items[p])
            .filter(|b| b.first_layer <= last && first <= b.last_layer)
            .map(|b| (b.offset, b.offset + align(b.size)))
            .collect();
        busy.sort_unstable();
        let mut offset = 0u64;
        for (start, stop) in busy {
            if offset + align(size) <= start {
                break;
            }
            offset = offset.max(stop);
        }
        items[idx].offset = offset;
        peak = peak.max(offset + align(size));
        placed.push(idx);
    }
    MemoryPlan {
        peak_bytes: peak,
        naive_bytes,
        buffers: items,
    }
}

/// Bytes of a tensor fact with a fixed shape and a fixed-size type.
pub(crate) fn fact_bytes(f: &TensorFact) -> Option<u64> {
    let dims = f.shape.as_ref()?.as_fixed()?;
    let n = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))?;
    n.checked_mul(f.dtype?.size_of()? as u64)
}
