//! Diagnostics: every problem found while importing a network, collected before failing.

use std::fmt;

/// What kind of problem a [`Diagnostic`] reports (TensorRT-style error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticCode {
    /// No importer for the layer type (and no plugin of that name).
    UnsupportedLayer,
    /// The layer type is known but a parameter value is not supported.
    UnsupportedParameter,
    /// A bottom blob is not produced by any input or earlier layer.
    MissingBlob,
    /// The weights of a layer are missing or have the wrong shape.
    BadWeights,
    /// The layer is malformed: wrong bottom/top counts, bad parameter values, shapes that do
    /// not fit.
    InvalidLayer,
    /// The network is malformed: no inputs, bad input shapes, unknown `--output` names.
    InvalidNetwork,
}

impl DiagnosticCode {
    /// The code's name, as printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            DiagnosticCode::UnsupportedLayer => "UnsupportedLayer",
            DiagnosticCode::UnsupportedParameter => "UnsupportedParameter",
            DiagnosticCode::MissingBlob => "MissingBlob",
            DiagnosticCode::BadWeights => "BadWeights",
            DiagnosticCode::InvalidLayer => "InvalidLayer",
            DiagnosticCode::InvalidNetwork => "InvalidNetwork",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem, with the layer it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The kind of problem.
    pub code: DiagnosticCode,
    /// Layer name (generated `<type>_<index>` when the prototxt gave none); for network-level
    /// problems the blob or network name.
    pub layer_name: String,
    /// The layer type (empty for network-level problems).
    pub layer_type: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.layer_type.is_empty() {
            write!(f, "'{}': {}: {}", self.layer_name, self.code, self.message)
        } else {
            write!(
                f,
                "layer '{}' ({}): {}: {}",
                self.layer_name, self.layer_type, self.code, self.message
            )
        }
    }
}

/// Whether one layer of the network is supported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSupport {
    /// Layer name.
    pub layer_name: String,
    /// Layer type.
    pub layer_type: String,
    /// True when the layer imported into builtin ops.
    pub supported: bool,
    /// Why not, when it is not supported.
    pub reason: Option<String>,
}

/// Everything the import found: problems, and the support status of every layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SupportReport {
    /// Every problem, in network order.
    pub diagnostics: Vec<Diagnostic>,
    /// Every layer that takes part in the TEST phase.
    pub layers: Vec<LayerSupport>,
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
