//! Diagnostics: every problem found while importing a model, collected before failing.

use std::fmt;

/// What kind of problem a [`Diagnostic`] reports (TensorRT-style error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticCode {
    /// No importer / builtin op for the node's op type (or its domain or opset).
    UnsupportedNode,
    /// The op exists but an attribute or attribute value is not supported.
    UnsupportedAttribute,
    /// An initializer, input, output or cast target has a data type Kiln lacks.
    UnsupportedDataType,
    /// The node is malformed: undefined inputs, wrong input count, bad attribute data.
    InvalidNode,
    /// The graph is malformed: cycles, undefined outputs, bad initializers.
    InvalidGraph,
}

impl DiagnosticCode {
    /// The code's name, as printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            DiagnosticCode::UnsupportedNode => "UnsupportedNode",
            DiagnosticCode::UnsupportedAttribute => "UnsupportedAttribute",
            DiagnosticCode::UnsupportedDataType => "UnsupportedDataType",
            DiagnosticCode::InvalidNode => "InvalidNode",
            DiagnosticCode::InvalidGraph => "InvalidGraph",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem, with the node (or value) it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The kind of problem.
    pub code: DiagnosticCode,
    /// Node name (generated `<op_type>_<index>` when the model gave none); for graph-level
    /// problems the value or graph name.
    pub node_name: String,
    /// The node's op type (empty for graph-level problems).
    pub op_type: String,
    /// The node's domain (empty for the default ONNX domain).
    pub domain: String,
    /// The opset version of the node's domain.
    pub opset: i64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op_type.is_empty() {
            // Graph-level problems (initializers, inputs, outputs, whole graphs).
            return write!(
                f,
                "value '{}' (opset {}): {}: {}",
                self.node_name, self.opset, self.code, self.message
            );
        }
        let domain = if self.domain.is_empty() {
            String::new()
        } else {
            format!("{}::", self.domain)
        };
        write!(
            f,
            "node '{}' ({domain}{}, opset {}): {}: {}",
            self.node_name, self.op_type, self.opset, self.code, self.message
        )
    }
}

/// Whether one node of the model is supported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSupport {
    /// Where the node is: the graph name, with subgraphs as `main/If_0.then_branch`.
    pub graph: String,
    /// Node name (generated when the model gave none).
    pub node_name: String,
    /// Op type.
    pub op_type: String,
    /// Domain (empty for the default ONNX domain).
    pub domain: String,
    /// Opset version of the node's domain.
    pub opset: i64,
    /// True when the node imported as a builtin op.
    pub supported: bool,
    /// Why not, when it is not supported.
    pub reason: Option<String>,
}

/// Everything the import found: problems, and the support status of every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SupportReport {
    /// Every problem, in model order.
    pub diagnostics: Vec<Diagnostic>,
    /// Every node (including subgraph nodes and Constants folded into initializers).
    pub nodes: Vec<NodeSupport>,
}

impl SupportReport {
    /// True when nothing was reported.
    pub fn is_supported(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Number of diagnostics of one code.
    pub fn count(&self, code: DiagnosticCode) -> usize {
        self.diagnostics.iter().filter(|d| d.code == code).count()
    }
}

impl fmt::Display for SupportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
