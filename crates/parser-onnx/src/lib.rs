//! # kiln-onnx
//!
//! Reads ONNX models (protobuf, decoded with prost) into a [`kiln_core::Graph`].
//!
//! - Every node goes through an op-importer table (opset-aware: older forms are converted
//!   to the latest ONNX semantics, e.g. Squeeze's `axes` attribute becomes an input).
//! - The whole model is checked before failing: every unsupported node, attribute or data
//!   type is collected into a [`SupportReport`]; unsupported nodes become
//!   [`kiln_core::UnresolvedOp`] placeholders so the graph still loads.
//! - Model-local functions are inlined; If/Loop/Scan bodies are imported recursively.
//! - Tensors come from raw data, typed fields, or external data files next to the model.
//!
//! ```no_run
//! let model = kiln_onnx::load_model(std::path::Path::new("model.onnx"))?;
//! for d in &model.report.diagnostics {
//!     eprintln!("{d}");
//! }
//! # Ok::<(), kiln_onnx::OnnxError>(())
//! ```

#![warn(missing_docs)]

mod attr;
mod diag;
mod dtype;
mod error;
mod function;
mod import;
pub mod importers;
pub mod pb;
mod tensor;
mod types;
mod value;

pub use diag::{Diagnostic, DiagnosticCode, NodeSupport, SupportReport};
pub use dtype::{dtype_from_onnx, dtype_to_onnx, onnx_dtype_name};
pub use error::OnnxError;
pub use tensor::{sparse_from_proto, tensor_from_proto};
pub use types::{shape_from_proto, type_from_proto, value_info_from_proto};
pub use value::{tensor_from_pb, value_from_pb};

use prost::Message;
use std::path::Path;

/// A model read from ONNX: the graph (unsupported nodes as placeholders) and what the
/// importer found.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The imported main graph, sorted topologically.
    pub graph: kiln_core::Graph,
    /// Every problem found, and the support status of every node.
    pub report: SupportReport,
    /// The opset version of the default ONNX domain.
    pub opset: i64,
    /// The model's IR version.
    pub ir_version: i64,
    /// The producer's name (and version, when given).
    pub producer: String,
}

/// Read an ONNX model file. External data files are looked up next to it.
pub fn load_model(path: &Path) -> Result<OnnxModel, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    parse_with_name(&bytes, dir, &path.display().to_string())
}

/// Parse an ONNX model from bytes. `base_dir` is where external data files live (`None`:
/// external data is refused).
pub fn parse_model(bytes: &[u8], base_dir: Option<&Path>) -> Result<OnnxModel, OnnxError> {
    parse_with_name(bytes, base_dir, "<memory>")
}

fn parse_with_name(
    bytes: &[u8],
    base_dir: Option<&Path>,
    file: &str,
) -> Result<OnnxModel, OnnxError> {
    let model =
        pb::ModelProto::decode(bytes).map_err(|e| OnnxError::decode(file, "ModelProto", e))?;
    let Some(g) = &model.graph else {
        return Err(OnnxError::Decode {
            file: file.to_string(),
            what: "ModelProto",
            message: "the model has no graph".to_string(),
        });
    };
    let opsets = import::opset_map(&model.opset_import);
    let opset = opsets.get("").copied().unwrap_or(0);
    let mut importer = import::ModelImporter::new(&model, base_dir);
    let graph = importer.import_main(g, opsets);
    let producer = match (model.producer_name(), model.producer_version()) {
        (n, "") => n.to_string(),
        (n, v) => format!("{n} {v}"),
    };
    tracing::debug!(
        nodes = graph.nodes.len(),
        problems = importer.report.diagnostics.len(),
        "imported ONNX model {file}"
    );
    Ok(OnnxModel {
        graph,
        report: importer.report,
        opset,
        ir_version: model.ir_version(),
        producer,
    })
}

/// Load a model and require full support: any problem gives [`OnnxError::Unsupported`]
/// listing all of them.
pub fn import_model(path: &Path) -> Result<kiln_core::Graph, OnnxError> {
    let model = load_model(path)?;
    if model.report.is_supported() {
        Ok(model.graph)
    } else {
        Err(OnnxError::Unsupported(model.report))
    }
}
