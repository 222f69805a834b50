//! The graph importer: walks the whole model (subgraphs included), converts every node
//! through the importer table, and collects every problem into a [`SupportReport`].

use crate::attr::unsupported_dtype_attr;
use crate::importers::{ImportCtx, Lookup, OnnxNode, registry};
use crate::tensor::{sparse_from_proto, tensor_from_proto};
use crate::types::value_info_from_proto;
use crate::{Diagnostic, DiagnosticCode, NodeSupport, OnnxError, SupportReport, pb};
use kiln_core::{
    Attribute, Attributes, Error, Graph, Node, Tensor, TensorFact, UnresolvedOp, ValueInfo,
    ValueType, builtin_ops,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// Opset version per domain (the default domain is `""`).
pub(crate) type OpsetMap = HashMap<String, i64>;

/// Subgraphs nested deeper than this are refused.
const MAX_DEPTH: usize = 64;

/// The default domain has two spellings.
pub(crate) fn normalize_domain(d: &str) -> &str {
    if d == "ai.onnx" { "" } else { d }
}

/// Opset versions from `opset_import` entries.
pub(crate) fn opset_map(entries: &[pb::OperatorSetIdProto]) -> OpsetMap {
    entries
        .iter()
        .map(|o| (normalize_domain(o.domain()).to_string(), o.version()))
        .collect()
}

/// Where a graph sits: its path for messages, the opsets of its nodes, and the names its
/// subgraphs may read from enclosing graphs.
pub(crate) struct GraphScope<'a> {
    /// `main`, `main/If_0.then_branch`, ...
    pub path: String,
    /// Opset versions that apply to the nodes being imported.
    pub opsets: Rc<OpsetMap>,
    /// Every name visible here (enclosing graphs' values and this graph's values).
    pub visible: &'a HashSet<String>,
}

/// Imports one model, accumulating its report.
pub(crate) struct ModelImporter<'m> {
    pub base_dir: Option<&'m Path>,
    functions: HashMap<(String, String), &'m pb::FunctionProto>,
    pub report: SupportReport,
    depth: usize,
}

/// The core-error kind as a diagnostic code, and the innermost message.
fn classify(e: &Error) -> (DiagnosticCode, String) {
    match e {
        Error::Node { source, .. } => classify(source),
        Error::Attribute { .. } => (DiagnosticCode::UnsupportedAttribute, e.to_string()),
        Error::Unsupported(m) => (DiagnosticCode::UnsupportedNode, m.clone()),
        Error::Type(m) => (DiagnosticCode::UnsupportedDataType, m.clone()),
        other => (DiagnosticCode::InvalidNode, other.to_string()),
    }
}

/// The diagnostic code of a tensor / type conversion error.
fn code_of(e: &OnnxError) -> DiagnosticCode {
    match e {
        OnnxError::UnsupportedDataType { .. } | OnnxError::Type(_) => {
            DiagnosticCode::UnsupportedDataType
        }
        _ => DiagnosticCode::InvalidGraph,
    }
}

impl<'m> ModelImporter<'m> {
    pub(crate) fn new(model: &'m pb::ModelProto, base_dir: Option<&'m Path>) -> Self {
        let functions = model
            .functions
            .iter()
            .map(|f| ((f.domain().to_string(), f.name().to_string()), f))
            .collect();
        ModelImporter {
            base_dir,
            functions,
            report: SupportReport::default(),
            depth: 0,
        }
    }

    fn diag(
        &mut self,
        code: DiagnosticCode,
        node: &str,
        op: &str,
        domain: &str,
        opset: i64,
        msg: String,
    ) {
        tracing::debug!(code = code.name(), node, op, "{msg}");
        self.report.diagnostics.push(Diagnostic {
            code,
            node_name: node.to_string(),
            op_type: op.to_string(),
            domain: domain.to_string(),
            opset,
            message: msg,
        });
    }

    /// Import the model's main graph.
    pub(crate) fn import_main(&mut self, g: &pb::GraphProto, opsets: OpsetMap) -> Graph {
        let empty = HashSet::new();
        let root = GraphScope {
            path: String::new(),
            opsets: Rc::new(opsets),
            visible: &empty,
        };
        let name = if g.name().is_empty() {
            "main"
        } else {
            g.name()
        };
        self.import_graph(g, name, &root)
    }

    /// Import a graph nested in `parent` (the root scope for the main graph).
    pub(crate) fn import_graph(
        &mut self,
        g: &pb::GraphProto,
        path: &str,
        parent: &GraphScope<'_>,
    ) -> Graph {
        let path = path.trim_start_matches('/').to_string();
        let mut graph = Graph::new(g.name());
        if self.depth >= MAX_DEPTH {
            self.diag(
                DiagnosticCode::InvalidGraph,
                &path,
                "",
                "",
                0,
                format!("subgraphs nested deeper than {MAX_DEPTH}"),
            );
            return graph;
        }
        self.depth += 1;
        let default_opset = parent.opsets.get("").copied().unwrap_or(0);
        let mut facts: HashMap<String, TensorFact> = HashMap::new();
        // Values that exist but could not be converted: defined, so not reported twice.
        let mut bad: HashSet<String> = HashSet::new();

        for t in &g.initializer {
            match tensor_from_proto(t, self.base_dir) {
                Ok(x) => {
                    graph.initializers.insert(t.name().to_string(), x);
                }
                Err(e) => {
                    self.diag(
                        code_of(&e),
                        t.name(),
                        "",
                        "",
                        default_opset,
                        format!("initializer in graph '{path}': {e}"),
                    );
                    bad.insert(t.name().to_string());
                }
            }
        }
        for s in &g.sparse_initializer {
            let name = s
                .values
                .as_ref()
                .map(|v| v.name())
                .unwrap_or("")
                .to_string();
            match sparse_from_proto(s, self.base_dir) {
                Ok(x) => {
                    graph.initializers.insert(name, x);
                }
                Err(e) => {
                    self.diag(
                        code_of(&e),
                        &name,
                        "",
                        "",
                        default_opset,
                        format!("sparse initializer in graph '{path}': {e}"),
                    );
                    bad.insert(name);
                }
            }
        }
        let mut convert = |this: &mut Self, vi: &pb::ValueInfoProto, what: &str| -> ValueInfo {
            match value_info_from_proto(vi) {
                Ok(v) => {
                    if let ValueType::Tensor(f) = &v.ty {
                        facts.insert(v.name.clone(), f.clone());
                    }
                    v
                }
                Err(e) => {
                    this.diag(
                        code_of(&e),
                        vi.name(),
                        "",
                        "",
                        default_opset,
                        format!("{what} of graph '{path}': {e}"),
                    );
                    ValueInfo {
                        name: vi.name().to_string(),
                        ty: ValueType::default(),
                    }
                }
            }
        };
        graph.inputs = g
            .input
            .iter()
            .map(|vi| convert(self, vi, "input"))
            .collect();
        graph.outputs = g
            .output
            .iter()
            .map(|vi| convert(self, vi, "output"))
            .collect();
        for vi in &g.value_info {
            let v = convert(self, vi, "value_info");
            graph.value_info.insert(v.name.clone(), v);
        }

        let nodes = self.expand_functions(&g.node, &parent.opsets, 0);

        // Every name defined in this graph or visible from outside.
        let mut visible: HashSet<String> = parent.visible.clone();
        visible.extend(graph.inputs.iter().map(|v| v.name.clone()));
        visible.extend(graph.initializers.keys().cloned());
        visible.extend(bad.iter().cloned());
        for (n, _) in &nodes {
            visible.extend(n.output.iter().filter(|o| !o.is_empty()).cloned());
        }
        let mut taken = visible.clone();
        let mut node_names: HashSet<String> = HashSet::new();
        let mut undefined: HashSet<String> = HashSet::new();

        for (i, (np, opsets)) in nodes.iter().enumerate() {
            let mut name = if np.name().is_empty() {
                format!("{}_{i}", np.op_type())
            } else {
                np.name().to_string()
            };
            if node_names.contains(&name) {
                let mut k = 1;
                while node_names.contains(&format!("{name}_{k}")) {
                    k += 1;
                }
                name = format!("{name}_{k}");
            }
            node_names.insert(name.clone());
            let scope = GraphScope {
                path: path.clone(),
                opsets: opsets.clone(),
                visible: &visible,
            };
            for x in np.input.iter().filter(|x| !x.is_empty()) {
                if !visible.contains(x) {
                    let opset = opsets
                        .get(normalize_domain(np.domain()))
                        .copied()
                        .unwrap_or(0);
                    self.diag(
                        DiagnosticCode::InvalidNode,
                        &name,
                        np.op_type(),
                        np.domain(),
                        opset,
                        format!("input '{x}' is not defined by any input, initializer or node"),
                    );
                    undefined.insert(x.clone());
                }
            }
            self.import_node(np, name, &scope, &mut graph, &mut taken, &facts);
        }

        for o in &g.output {
            if !visible.contains(o.name()) {
                self.diag(
                    DiagnosticCode::InvalidGraph,
                    o.name(),
                    "",
                    "",
                    default_opset,
                    format!("output '{}' of graph '{path}' is never computed", o.name()),
                );
            }
        }
        let mut sort_outer = parent.visible.clone();
        sort_outer.extend(undefined);
        sort_outer.extend(bad);
        if let Err(e) = graph.sort(&sort_outer) {
            self.diag(
                DiagnosticCode::InvalidGraph,
                &path,
                "",
                "",
                default_opset,
                e.to_string(),
            );
        }
        self.depth -= 1;
        graph
    }

    /// Import one node into `graph`: a Constant becomes an initializer; anything that fails
    /// becomes an [`UnresolvedOp`] placeholder with a diagnostic.
    fn import_node(
        &mut self,
        np: &pb::NodeProto,
        name: String,
        scope: &GraphScope<'_>,
        graph: &mut Graph,
        taken: &mut HashSet<String>,
        facts: &HashMap<String, TensorFact>,
    ) {
        let op_type = np.op_type().to_string();
        let domain = normalize_domain(np.domain()).to_string();
        let opset = scope
            .opsets
            .get(&domain)
            .copied()
            .unwrap_or(if domain.is_empty() { 0 } else { 1 });
        let mut problems: Vec<(DiagnosticCode, String)> = Vec::new();

        let mut attrs = Attributes::new();
        for a in &np.attribute {
            if op_type == "Optional" && a.name() == "type" {
                // Kiln's optional values carry no static type: the attribute is not needed.
                continue;
            }
            if let Some(dt) = unsupported_dtype_attr(&op_type, a) {
                problems.push((
                    DiagnosticCode::UnsupportedDataType,
                    format!(
                        "attribute '{}' names data type {dt}, which Kiln does not support",
                        a.name()
                    ),
                ));
            }
            match self.convert_attr(a, &name, scope) {
                Ok(v) => attrs.set(a.name(), v),
                Err(p) => problems.push(p),
            }
        }
        if domain.is_empty() && opset == 0 {
            problems.push((
                DiagnosticCode::InvalidNode,
                "the model imports no version of the default ONNX domain".into(),
            ));
        }

        if problems.is_empty() && domain.is_empty() && op_type == "Constant" {
            match constant_value(&attrs) {
                Ok(t) => {
                    if let Some(out) = np.output.first() {
                        graph.initializers.insert(out.clone(), t);
                    }
                    self.report.nodes.push(NodeSupport {
                        graph: scope.path.clone(),
                        node_name: name,
                        op_type,
                        domain: np.domain().to_string(),
                        opset,
                        supported: true,
                        reason: None,
                    });
                    return;
                }
                Err(e) => problems.push(classify(&e)),
            }
        }

        let onnx_node = OnnxNode {
            name: name.clone(),
            op_type: op_type.clone(),
            domain: domain.clone(),
            opset,
            attrs: attrs.clone(),
            inputs: np.input.clone(),
            outputs: np.output.clone(),
        };
        if problems.is_empty() {
            let lookup = if domain.is_empty() {
                registry().lookup(&op_type, opset)
            } else if builtin_ops().contains(&op_type) {
                Lookup::Found(crate::importers::direct)
            } else {
                Lookup::Missing
            };
            match lookup {
                Lookup::Found(f) => {
                    let mut ctx = ImportCtx { initializers: &mut graph.initializers, taken, facts, added: Vec::new() };
                    let result = f(&mut ctx, onnx_node);
                    if result.is_err() {
                        ctx.rollback();
                    }
                    match result {
                        Ok(nodes) => {
                            for mut n in nodes {
                                n.domain = domain.clone();
                                graph.nodes.push(n);
                            }
                        }
                        Err(e) => problems.push(classify(&e)),
                    }
                }
                Lookup::TooOld { since } => problems.push((DiagnosticCode::InvalidNode,
                    format!("{op_type} does not exist in opset {opset} (it first appears in opset {since})"))),
                Lookup::Missing if domain.is_empty() => problems.push((DiagnosticCode::UnsupportedNode,
                    format!("no importer or builtin op for {op_type}"))),
                Lookup::Missing => problems.push((DiagnosticCode::UnsupportedNode,
                    format!("op {op_type} of domain '{domain}' (version {opset}) is not supported"))),
            }
        }

        let supported = problems.is_empty();
        let reason = (!supported).then(|| {
            problems
                .iter()
                .map(|(c, m)| format!("{c}: {m}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        for (code, msg) in problems {
            self.diag(code, &name, &op_type, np.domain(), opset, msg);
        }
        if let Some(r) = &reason {
            graph.nodes.push(Node {
                name: name.clone(),
                domain: domain.clone(),
                op: Arc::new(UnresolvedOp {
                    name: op_type.clone(),
                    namespace: domain.clone(),
                    version: opset.to_string(),
                    reason: r.clone(),
                }),
                attrs,
                inputs: np.input.clone(),
                outputs: np.output.clone(),
            });
        }
        self.report.nodes.push(NodeSupport {
            graph: scope.path.clone(),
            node_name: name,
            op_type,
            domain: np.domain().to_string(),
            opset,
            supported,
            reason,
        });
    }

    /// Replace calls of model-local functions by their bodies (recursively), pairing each
    /// node with the opsets that apply to it.
    fn expand_functions<'n>(
        &self,
        nodes: &'n [pb::NodeProto],
        opsets: &Rc<OpsetMap>,
        depth: usize,
    ) -> Vec<(Cow<'n, pb::NodeProto>, Rc<OpsetMap>)> {
        let mut out = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            match self.function_of(n).filter(|_| depth < MAX_DEPTH) {
                None => out.push((Cow::Borrowed(n), opsets.clone())),
                Some(f) => {
                    let call = if n.name().is_empty() {
                        format!("{}_{i}", n.op_type())
                    } else {
                        n.name().to_string()
                    };
                    let body = crate::function::inline(f, n, &call);
                    let mut fopsets = (**opsets).clone();
                    fopsets.extend(opset_map(&f.opset_import));
                    let fopsets = Rc::new(fopsets);
                    for (node, ops) in self.expand_functions(&body, &fopsets, depth + 1) {
                        out.push((Cow::Owned(node.into_owned()), ops));
                    }
                }
            }
        }
        out
    }

    /// The model-local function a node calls, if any. Functions in the default domain do
    /// not shadow ops of the importer table.
    fn function_of(&self, n: &pb::NodeProto) -> Option<&'m pb::FunctionProto> {
        let f = self
            .functions
            .get(&(n.domain().to_string(), n.op_type().to_string()))?;
        let domain = normalize_domain(n.domain());
        if domain.is_empty()
            && (registry().lists(n.op_type()) || builtin_ops().contains(n.op_type()))
        {
            return None;
        }
        Some(f)
    }
}

/// The tensor of a Constant node, from whichever value attribute it has.
fn constant_value(attrs: &Attributes) -> Result<Tensor, Error> {
    let mut found: Vec<Tensor> = Vec::new();
    for (k, v) in &attrs.0 {
        let t = match (k.as_str(), v) {
            ("value" | "sparse_value", Attribute::Tensor(t)) => t.clone(),
            ("value_float", Attribute::Float(f)) => Tensor::scalar(*f),
            ("value_floats", Attribute::Floats(f)) => Tensor::from_vec(&[f.len()], f.clone())?,
            ("value_int", Attribute::Int(i)) => Tensor::scalar(*i),
            ("value_ints", Attribute::Ints(i)) => Tensor::from_vec(&[i.len()], i.clone())?,
            ("value_string", Attribute::String(s)) => Tensor::scalar(s.clone()),
            ("value_strings", Attribute::Strings(s)) => Tensor::from_vec(&[s.len()], s.clone())?,
            _ => {
                return Err(Error::attr(
                    k,
                    format!("unsupported attribute of kind {}", v.kind()),
                ));
            }
        };
        found.push(t);
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::attr(
            "value",
            "a Constant needs exactly one value attribute, got none",
        )),
        n => Err(Error::attr(
            "value",
            format!("a Constant needs exactly one value attribute, got {n}"),
        )),
    }
}
