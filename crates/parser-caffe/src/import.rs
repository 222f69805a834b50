//! The network importer: inputs, blob-to-value resolution (in-place layers renamed SSA
//! style), the importer table, shape tracking, outputs, and the support report.

use crate::layer::{Layer, collect};
use crate::layers::{LayerCtx, LayerError, registry};
use crate::text::UnknownField;
use crate::weights::Weights;
use crate::{Diagnostic, DiagnosticCode, LayerSupport, SupportReport, pb};
use kiln_core::{
    DataType, Graph, InferInput, Node, Shape, Tensor, TensorFact, UnresolvedOp, ValueInfo,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Inputs and outputs of shape evaluation fallbacks above this many elements are skipped.
const EVAL_FALLBACK_LIMIT: usize = 1 << 20;

pub(crate) struct Importer {
    pub graph: Graph,
    pub report: SupportReport,
    shapes: HashMap<String, Vec<usize>>,
    poisoned: HashSet<String>,
    taken: HashSet<String>,
}

impl Importer {
    fn diag(&mut self, code: DiagnosticCode, layer: &str, ty: &str, msg: impl Into<String>) {
        let message = msg.into();
        tracing::debug!(code = code.name(), layer, ty, "{message}");
        self.report.diagnostics.push(Diagnostic {
            code,
            layer_name: layer.to_string(),
            layer_type: ty.to_string(),
            message,
        });
    }

    fn add_input(&mut self, name: &str, dims: &[i64], what: &str) {
        let dims: Result<Vec<usize>, _> = dims.iter().map(|&d| usize::try_from(d)).collect();
        match dims {
            Ok(d) if !d.is_empty() => {
                self.shapes.insert(name.to_string(), d.clone());
                self.graph
                    .inputs
                    .push(ValueInfo::tensor(name, DataType::F32, Shape::fixed(&d)));
            }
            _ => {
                self.diag(
                    DiagnosticCode::InvalidNetwork,
                    name,
                    "",
                    format!("{what} gives input '{name}' no valid shape"),
                );
                self.graph
                    .inputs
                    .push(ValueInfo::tensor(name, DataType::F32, Shape(Vec::new())));
                self.poisoned.insert(name.to_string());
            }
        }
        self.taken.insert(name.to_string());
    }

    /// Network-level inputs: `input` + `input_shape` or legacy `input_dim`.
    fn net_inputs(&mut self, net: &pb::NetParameter) {
        for (i, name) in net.input.iter().enumerate() {
            if let Some(s) = net.input_shape.get(i) {
                self.add_input(name, &s.dim, "input_shape");
            } else if net.input_dim.len() >= 4 * (i + 1) {
                let d: Vec<i64> = net.input_dim[4 * i..4 * i + 4]
                    .iter()
                    .map(|&x| x.into())
                    .collect();
                self.add_input(name, &d, "input_dim");
            } else {
                self.add_input(name, &[], "the network");
            }
        }
    }

    fn input_layer(&mut self, l: &Layer) {
        let shapes = l
            .param
            .input_param
            .as_ref()
            .map(|p| p.shape.clone())
            .unwrap_or_default();
        for (i, top) in l.param.top.iter().enumerate() {
            let dims = shapes
                .get(i)
                .or(if shapes.len() == 1 {
                    shapes.first()
                } else {
                    None
                })
                .map(|s| s.dim.clone())
                .unwrap_or_default();
            self.add_input(top, &dims, &format!("Input layer '{}'", l.name));
        }
    }

    /// Shapes of a node's outputs, from the op's inference (or, for small tensors, by
    /// evaluating it on zeros).
    fn infer(&mut self, node: &Node) {
        let facts: Vec<TensorFact> = node
            .inputs
            .iter()
            .map(|n| {
                if let Some(t) = self.graph.initializers.get(n) {
                    TensorFact::new(t.dtype(), Shape::fixed(t.shape()))
                } else if let Some(s) = self.shapes.get(n) {
                    TensorFact::new(DataType::F32, Shape::fixed(s))
                } else {
                    TensorFact::default()
                }
            })
            .collect();
        let ins: Vec<InferInput<'_>> = node
            .inputs
            .iter()
            .zip(&facts)
            .map(|(n, f)| InferInput {
                fact: f,
                value: self.graph.initializers.get(n),
            })
            .collect();
        let mut found = 0;
        if let Ok(out) = node.op.infer(&ins) {
            for (name, f) in node.outputs.iter().zip(out) {
                if let Some(s) = f.shape.and_then(|s| s.as_fixed()) {
                    self.shapes.insert(name.clone(), s);
                    found += 1;
                }
            }
        }
        if found == node.outputs.len() {
            return;
        }
        // Fallback: evaluate on zeros when the inputs are small.
        let mut args = Vec::new();
        for (n, f) in node.inputs.iter().zip(&facts) {
            if let Some(t) = self.graph.initializers.get(n) {
                args.push(t.clone());
                continue;
            }
            let Some(s) = f.shape.as_ref().and_then(Shape::as_fixed) else {
                return;
            };
            if s.iter().product::<usize>() > EVAL_FALLBACK_LIMIT {
                return;
            }
            args.push(Tensor::zeros(DataType::F32, &s));
        }
        let refs: Vec<Option<&Tensor>> = args.iter().map(Some).collect();
        if let Ok(out) = node.op.eval(&refs) {
            for (name, t) in node.outputs.iter().zip(out) {
                self.shapes.insert(name.clone(), t.shape().to_vec());
            }
        }
    }
}

/// Unknown prototxt fields of one layer, as a message.
fn unknown_fields(unknown: &[UnknownField], l: &Layer) -> Option<String> {
    let list: Vec<String> = unknown
        .iter()
        .filter(|u| u.layer == Some((l.legacy, l.index)))
        .map(|u| format!("'{}' (line {})", u.path, u.line))
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// Import a parsed network.
pub(crate) fn import(
    net: &pb::NetParameter,
    unknown: &[UnknownField],
    weights: Option<&Weights>,
    wanted_outputs: &[String],
) -> (Graph, SupportReport) {
    let mut im = Importer {
        graph: Graph::new(net.name()),
        report: SupportReport::default(),
        shapes: HashMap::new(),
        poisoned: HashSet::new(),
        taken: HashSet::new(),
    };
    for u in unknown.iter().filter(|u| u.layer.is_none()) {
        im.diag(
            DiagnosticCode::InvalidNetwork,
            net.name(),
            "",
            format!(
                "field '{}' (line {}) is not part of caffe.NetParameter",
                u.path, u.line
            ),
        );
    }
    im.net_inputs(net);
    let layers = collect(net);

    // How many times each blob is produced, so the last version keeps the blob's name.
    let inputs: HashSet<String> = net
        .input
        .iter()
        .cloned()
        .chain(
            layers
                .iter()
                .filter(|l| l.ty == "Input")
                .flat_map(|l| l.param.top.clone()),
        )
        .collect();
    let mut productions: HashMap<&str, usize> = HashMap::new();
    for l in layers.iter().filter(|l| l.ty != "Input") {
        for t in &l.param.top {
            *productions.entry(t.as_str()).or_default() += 1;
        }
    }
    for l in &layers {
        im.taken.insert(l.name.clone());
        for t in &l.param.top {
            im.taken.insert(t.clone());
        }
    }
    let mut produced: HashMap<String, usize> = HashMap::new();
    let mut current: HashMap<String, String> =
        inputs.iter().map(|b| (b.clone(), b.clone())).collect();
    // Blobs not consumed yet, in order of (last) production; network inputs count too.
    let mut open: Vec<String> = net.input.clone();
    let mut layer_names: HashSet<String> = HashSet::new();

    for l in &layers {
        let mut name = l.name.clone();
        let mut k = 1;
        while layer_names.contains(&name) {
            name = format!("{}_{k}", l.name);
            k += 1;
        }
        layer_names.insert(name.clone());
        if l.ty == "Input" {
            im.input_layer(l);
            for t in &l.param.top {
                open.retain(|o| o != t);
                open.push(t.clone());
            }
            im.report.layers.push(LayerSupport {
                layer_name: name,
                layer_type: l.ty.clone(),
                supported: true,
                reason: None,
            });
            continue;
        }
        let mut problems: Vec<LayerError> = Vec::new();
        let mut bottoms = Vec::new();
        for b in &l.param.bottom {
            match current.get(b) {
                Some(v) => bottoms.push(v.clone()),
                None => {
                    problems.push(LayerError::new(
                        DiagnosticCode::MissingBlob,
                        format!("bottom blob '{b}' is not produced by any input or earlier layer"),
                    ));
                    bottoms.push(b.clone());
                }
            }
            open.retain(|o| o != b);
        }
        let mut tops = Vec::new();
        for t in &l.param.top {
            let k = produced.entry(t.clone()).or_default();
            *k += 1;
            let last = productions.get(t.as_str()).copied().unwrap_or(0);
            let value = if *k == last && !inputs.contains(t) {
                t.clone()
            } else {
                let mut v = format!("{t}#{k}");
                let mut j = 1;
                while im.taken.contains(&v) {
                    v = format!("{t}#{k}_{j}");
                    j += 1;
                }
                im.taken.insert(v.clone());
                v
            };
            tops.push(value);
        }
        let unknown_msg = unknown_fields(unknown, l);
        let blobs: &[pb::BlobProto] = match weights.and_then(|w| w.get(&l.name)) {
            Some(b) if !b.is_empty() => b,
            _ => &l.param.blobs,
        };
        let importer = registry().get(&l.ty);
        match importer {
            None => {
                let mut m = format!("no importer for layer type '{}'", l.ty);
                if let Some(u) = &unknown_msg {
                    m.push_str(&format!(" (its fields {u} are not known either)"));
                }
                problems.push(LayerError::new(DiagnosticCode::UnsupportedLayer, m));
            }
            Some(_) if !problems.is_empty() => {}
            Some(f) => {
                if let Some(u) = &unknown_msg {
                    problems.push(LayerError::param(format!(
                        "field(s) {u} are not part of Kiln's caffe.proto"
                    )));
                }
                let mut ctx = LayerCtx {
                    name: &name,
                    ty: &l.ty,
                    param: &l.param,
                    blobs,
                    inputs: bottoms.clone(),
                    outputs: tops.clone(),
                    shapes: &im.shapes,
                    poisoned: &im.poisoned,
                    initializers: &mut im.graph.initializers,
                    taken: &mut im.taken,
                    nodes: Vec::new(),
                    added: Vec::new(),
                    weight_errors: Vec::new(),
                };
                let result = f(&mut ctx);
                let nodes = std::mem::take(&mut ctx.nodes);
                let added = std::mem::take(&mut ctx.added);
                let weight_errors = std::mem::take(&mut ctx.weight_errors);
                if result.is_ok() && !(weight_errors.is_empty() && problems.is_empty()) {
                    // Shapes from the layer as built (on zeros for bad blobs), so the layers
                    // after it are still checked; the nodes themselves are dropped.
                    for n in &nodes {
                        im.infer(n);
                    }
                }
                problems.extend(weight_errors);
                if result.is_err() || !problems.is_empty() {
                    for name in &added {
                        im.graph.initializers.remove(name);
                    }
                }
                match result {
                    Ok(()) if problems.is_empty() => {
                        for n in nodes {
                            im.infer(&n);
                            im.graph.nodes.push(n);
                        }
                        // Shapes stay unknown downstream of a failed layer: say so, so later
                        // layers are not reported for it again.
                        if bottoms.iter().any(|b| im.poisoned.contains(b)) {
                            for t in tops.iter().filter(|t| !im.shapes.contains_key(*t)) {
                                im.poisoned.insert(t.clone());
                            }
                        }
                    }
                    Ok(()) => {}
                    Err(e) => problems.push(e),
                }
            }
        }
        let downstream_only = !problems.is_empty() && problems.iter().all(|p| p.downstream);
        let reason = (!problems.is_empty()).then(|| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.code, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        });
        for p in problems.iter().filter(|p| !p.downstream) {
            im.diag(p.code, &name, &l.ty, p.message.clone());
        }
        if let Some(r) = &reason {
            // A placeholder keeps the graph whole (plugins resolve these by type name).
            im.poisoned.extend(tops.iter().cloned());
            im.graph.nodes.push(Node {
                name: name.clone(),
                domain: String::new(),
                op: Arc::new(UnresolvedOp {
                    name: l.ty.clone(),
                    namespace: "caffe".into(),
                    version: "1".into(),
                    reason: r.clone(),
                }),
                attrs: Default::default(),
                inputs: bottoms,
                outputs: tops.clone(),
            });
        }
        if downstream_only {
            tracing::debug!(layer = %name, "skipped: depends on a layer that failed");
        }
        for (t, v) in l.param.top.iter().zip(&tops) {
            current.insert(t.clone(), v.clone());
            open.retain(|o| o != t);
            open.push(t.clone());
        }
        im.report.layers.push(LayerSupport {
            layer_name: name,
            layer_type: l.ty.clone(),
            supported: reason.is_none(),
            reason,
        });
    }

    let outputs: Vec<String> = if wanted_outputs.is_empty() {
        open
    } else {
        wanted_outputs.to_vec()
    };
    for o in &outputs {
        let Some(v) = current.get(o) else {
            let known: Vec<&str> = current.keys().map(String::as_str).collect();
            let mut known = known;
            known.sort_unstable();
            im.diag(
                DiagnosticCode::InvalidNetwork,
                o,
                "",
                format!(
                    "output '{o}' is not a blob of the network (blobs: {})",
                    known.join(", ")
                ),
            );
            continue;
        };
        let shape = im
            .shapes
            .get(v)
            .map(|s| Shape::fixed(s))
            .unwrap_or(Shape(Vec::new()));
        let fact = if im.shapes.contains_key(v) {
            TensorFact::new(DataType::F32, shape)
        } else {
            TensorFact::dtype_only(DataType::F32)
        };
        im.graph.outputs.push(ValueInfo {
            name: v.clone(),
            ty: kiln_core::ValueType::Tensor(fact),
        });
    }
    if im.graph.outputs.is_empty() && im.report.diagnostics.is_empty() {
        im.diag(
            DiagnosticCode::InvalidNetwork,
            net.name(),
            "",
            "the network has no output blob",
        );
    }
    if im.graph.inputs.is_empty() {
        im.diag(
            DiagnosticCode::InvalidNetwork,
            net.name(),
            "",
            "the network declares no input (neither `input:` nor an Input layer)",
        );
    }
    let outer: HashSet<String> = im
        .report
        .diagnostics
        .iter()
        .filter(|d| d.code == DiagnosticCode::MissingBlob)
        .flat_map(|_| im.graph.nodes.iter().flat_map(|n| n.inputs.clone()))
        .collect();
    if let Err(e) = im.graph.sort(&outer) {
        let name = net.name().to_string();
        im.diag(DiagnosticCode::InvalidNetwork, &name, "", e.to_string());
    }
    (im.graph, im.report)
}
