//! GELU pattern fusion: the decomposed forms exporters write become one `Gelu` node
//! (opset-20 semantics):
//! - exact: `x * 0.5 * (1 + Erf(x / sqrt(2)))` (also `x * (1/sqrt(2))` inside Erf, and the
//!   three usual orderings of the outer products: `(x * a) * 0.5`, `x * (a * 0.5)`,
//!   `(x * 0.5) * a`; operands of Add/Mul in either order);
//! - tanh approximation: `0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))` with the
//!   cube as `Pow(x, 3)` or `x * x * x` (`approximate = "tanh"`).
//!
//! Every intermediate value must be read only inside the pattern.

use crate::fusion::fused_node;
use crate::util::{
    Names, is_scalar, other_input, producer, replace_nodes, sole_reader, subgraph_reads,
};
use crate::{OptError, Pass, PassReport};
use kiln_core::{Attribute, Attributes, Graph, Node};
use std::collections::HashSet;

/// Fuses decomposed GELUs into `Gelu` nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct GeluFusion;

impl Pass for GeluFusion {
    fn name(&self) -> &'static str {
        "gelu-fusion"
    }

    fn run(&self, graph: &mut Graph) -> Result<PassReport, OptError> {
        let mut report = PassReport {
            pass: self.name().to_string(),
            changes: Vec::new(),
        };
        let mut i = 0;
        while i < graph.nodes.len() {
            let sub = subgraph_reads(graph);
            let found = match graph.nodes[i].op_type() {
                "Erf" => erf_head(graph, i, &sub).map(|h| (h, "none")),
                "Tanh" => tanh_head(graph, i, &sub).map(|h| (h, "tanh")),
                _ => None,
            };
            let Some(((mut parts, x), approx)) = found.filter(|_| graph.nodes[i].domain.is_empty())
            else {
                i += 1;
                continue;
            };
            let Some((tail, y)) = tail(graph, &graph.nodes[i].outputs[0], &x, &sub) else {
                i += 1;
                continue;
            };
            parts.push(i);
            parts.extend(tail);
            parts.sort_unstable();
            let mut names = Names::of(graph);
            let name = names.fresh(&format!("{}_gelu", graph.nodes[i].name));
            let attrs = Attributes::new().with("approximate", Attribute::String(approx.into()));
            let nodes: Vec<&Node> = parts.iter().map(|&p| &graph.nodes[p]).collect();
            let Ok((node, line)) = fused_node(&name, "Gelu", attrs, vec![x], vec![y], &nodes)
            else {
                i += 1;
                continue;
            };
            let at = *parts.last().expect("parts is not empty");
            replace_nodes(graph, &parts, at, vec![node]);
            report.changes.push(line);
        }
        Ok(report)
    }
}

/// A default-domain node of `op` at `i` with one output.
fn is_op(graph: &Graph, i: usize, op: &str) -> bool {
    let n = &graph.nodes[i];
    n.domain.is_empty() && n.op_type() == op && n.outputs.len() == 1
}

/// The node writing `name` when it is `op` and its result is read only by `reader`.
fn feeding(
    graph: &Graph,
    name: &str,
    op: &str,
    reader: usize,
    sub: &HashSet<String>,
) -> Option<usize> {
    let p = producer(graph, name)?;
    (is_op(graph, p, op) && sole_reader(graph, name, sub) == Some(reader)).then_some(p)
}

/// `Erf(x / sqrt2)` or `Erf(x * (1/sqrt2))` at `e`: (nodes before the Erf, x).
fn erf_head(graph: &Graph, e: usize, sub: &HashSet<String>) -> Option<(Vec<usize>, String)> {
    let d = graph.nodes[e].inputs.first()?;
    if let Some(p) = feeding(graph, d, "Div", e, sub) {
        let n = &graph.nodes[p];
        if is_scalar(graph, &n.inputs[1], std::f64::consts::SQRT_2) {
            return Some((vec![p], n.inputs[0].clone()));
        }
    }
    let p = feeding(graph, d, "Mul", e, sub)?;
    let n = &graph.nodes[p];
    let x = n
        .inputs
        .iter()
        .find(|v| !is_scalar(graph, v, std::f64::consts::FRAC_1_SQRT_2))?;
    let c = other_input(n, x)?;
    is_scalar(graph, &c, std::f64::consts::FRAC_1_SQRT_2).then(|| (vec![p], x.clone()))
}

/// The nodes computing `x^3` into `name` for reader `r`, if they do.
fn cube(
    graph: &Graph,
    name: &str,
    r: usize,
    sub: &HashSet<String>,
) -> Option<(Vec<usize>, String)> {
    if let Some(p) = feeding(graph, name, "Pow", r, sub) {
        let n = &graph.nodes[p];
        return is_scalar(graph, &n.inputs[1], 3.0).then(|| (vec![p], n.inputs[0].clone()));
    }
    let p = feeding(graph, name, "Mul", r, sub)?;
    let n = &graph.nodes[p];
    for (a, b) in [(0, 1), (1, 0)] {
        let (x, sq) = (&n.inputs[a], &n.inputs[b]);
        if let Some(s) = feeding(graph, sq, "Mul", p, sub) {
            let m = &graph.nodes[s];
            if m.inputs[0] == *x && m.inputs[1] == *x {
                return Some((vec![s, p], x.clone()));
            }
        }
    }
    None
}

/// `Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))` at `t`: (nodes before the Tanh, x).
fn tanh_head(graph: &Graph, t: usize, sub: &HashSet<String>) -> Option<(Vec<usize>, String)> {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let u = graph.nodes[t].inputs.first()?;
    let m = feeding(graph, u, "Mul", t, sub)?;
    let mn = &graph.nodes[m];
    let s = mn.inputs.iter().find(|v| !is_scalar(graph, v, c))?;
    if !is_scalar(graph, &other_input(mn, s)?, c) {
        return None;
    }
    let a = feeding(graph, s, "Add", m, sub)?;
    let an = &graph.nodes[a];
    for (xi, ki) in [(0, 1), (1, 0)] {
        let (x, k) = (&an.inputs[xi], &an.inputs[ki]);
        let Some(km) = feeding(graph, k, "Mul", a, sub) else {
            continue;
        };
        let kn = &graph.nodes[km];
        let Some(x3) = kn.inputs.iter().find(|v| !is_scalar(graph, v, 0.044715)) else {
            continue;
        };
        if !other_input(kn, x3).is_some_and(|o| is_scalar(graph, &o, 0.044715)) {
            continue;
        }
        if let Some((mut nodes, cx)) = cube(graph, x3, km, sub)
            && cx == *x
        {
            nodes.extend([km, a, m]);
            return Some((nodes, x.clone()));
        }
    }
    None
}

/// `0.5 * x * (1 + f)` after the Erf/Tanh output `f`: (its nodes, the output name).
fn tail(graph: &Graph, f: &str, x: &str, sub: &HashSet<String>) -> Option<(Vec<usize>, String)> {
    let add = sole_reader(graph, f, sub).filter(|&a| is_op(graph, a, "Add"))?;
    let an = &graph.nodes[add];
    if !is_scalar(graph, &other_input(an, f)?, 1.0) {
        return None;
    }
    let a = &an.outputs[0];
    let m1 = sole_reader(graph, a, sub).filter(|&m| is_op(graph, m, "Mul"))?;
    let m1n = &graph.nodes[m1];
    let other = other_input(m1n, a)?;
    let half = |n: &Node, v: &str| other_input(n, v).is_some_and(|o| is_scalar(graph, &o, 0.5));
    if other == x || is_scalar(graph, &other, 0.5) {
        // (x * a) * 0.5  or  (a * 0.5) * x
        let y1 = &m1n.outputs[0];
        let m2 = sole_reader(graph, y1, sub).filter(|&m| is_op(graph, m, "Mul"))?;
        let m2n = &graph.nodes[m2];
        let ok = if other == x {
            half(m2n, y1)
        } else {
            other_input(m2n, y1).is_some_and(|o| o == x)
        };
        return ok.then(|| (vec![add, m1, m2], m2n.outputs[0].clone()));
    }
    // (x * 0.5) * a
    let h = feeding(graph, &other, "Mul", m1, sub)?;
    let hn = &graph.nodes[h];
    (hn.inputs.iter().any(|v| v == x) && half(hn, x))
        .then(|| (vec![h, add, m1], m1n.outputs[0].clone()))
}
