//! # kiln-caffe
//!
//! Reads a Caffe network description (`deploy.prototxt`, protobuf text format) and its
//! trained weights (`.caffemodel`, binary protobuf) into a [`kiln_core::Graph`].
//!
//! - Both the current `layer { type: "Convolution" }` form and the legacy
//!   `layers { type: CONVOLUTION }` form; inputs as `input:` + `input_shape` / `input_dim`
//!   or as `Input` layers; blob shapes as `shape` or legacy num/channels/height/width;
//!   `double_data` as well as `data`.
//! - Every layer goes through a layer-importer table ([`layers::registry`]). In-place layers
//!   (`top` equal to `bottom`) are renamed SSA style: the last version of a blob keeps its
//!   name, earlier versions become `blob#k`.
//! - The whole network is checked before failing: every unsupported layer, missing blob or
//!   bad weight blob is collected into a [`SupportReport`]; unsupported layers become
//!   [`kiln_core::UnresolvedOp`] placeholders (namespace `caffe`, name = layer type).
//! - Outputs: the blobs no layer consumes, or the blobs named in `outputs` (TensorRT's
//!   `markOutput`).
//!
//! ```no_run
//! use std::path::Path;
//! let model = kiln_caffe::load(
//!     Path::new("deploy.prototxt"),
//!     Some(Path::new("net.caffemodel")),
//!     &[],
//! )?;
//! for d in &model.report.diagnostics {
//!     eprintln!("{d}");
//! }
//! # Ok::<(), kiln_caffe::CaffeError>(())
//! ```

#![warn(missing_docs)]

mod blob;
mod diag;
mod error;
mod import;
mod layer;
pub mod layers;
pub mod pb;
mod text;
mod weights;

pub use diag::{Diagnostic, DiagnosticCode, LayerSupport, SupportReport};
pub use error::CaffeError;

use std::path::Path;

/// A network read from Caffe files: the graph (unsupported layers as placeholders) and what
/// the importer found.
#[derive(Clone, Debug)]
pub struct CaffeModel {
    /// The imported graph, sorted topologically.
    pub graph: kiln_core::Graph,
    /// Every problem found, and the support status of every layer.
    pub report: SupportReport,
    /// The network's name.
    pub name: String,
    /// True when the prototxt uses the legacy `layers` form.
    pub legacy: bool,
}

fn read(path: &Path) -> Result<Vec<u8>, CaffeError> {
    std::fs::read(path).map_err(|source| CaffeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Read a prototxt and (optionally) its caffemodel. `outputs` names the blobs to make
/// graph outputs; empty: every blob that no layer consumes.
pub fn load(
    prototxt: &Path,
    weights: Option<&Path>,
    outputs: &[String],
) -> Result<CaffeModel, CaffeError> {
    let text = read(prototxt)?;
    let text = String::from_utf8(text).map_err(|e| CaffeError::Text {
        file: prototxt.display().to_string(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    let bytes = weights.map(read).transpose()?;
    parse_named(
        &text,
        &prototxt.display().to_string(),
        bytes.as_deref(),
        &weights.map(|w| w.display().to_string()).unwrap_or_default(),
        outputs,
    )
}

/// Parse a prototxt (text) and optional caffemodel (bytes) from memory.
pub fn parse(
    prototxt: &str,
    weights: Option<&[u8]>,
    outputs: &[String],
) -> Result<CaffeModel, CaffeError> {
    parse_named(prototxt, "<memory>", weights, "<memory>", outputs)
}

fn parse_named(
    text: &str,
    text_file: &str,
    weights: Option<&[u8]>,
    weights_file: &str,
    outputs: &[String],
) -> Result<CaffeModel, CaffeError> {
    let parsed = text::parse_net(text).map_err(|message| CaffeError::Text {
        file: text_file.to_string(),
        message,
    })?;
    let w = weights
        .map(weights::decode)
        .transpose()
        .map_err(|message| CaffeError::Decode {
            file: weights_file.to_string(),
            message,
        })?;
    let (graph, report) = import::import(&parsed.net, &parsed.unknown, w.as_ref(), outputs);
    tracing::debug!(
        nodes = graph.nodes.len(),
        problems = report.diagnostics.len(),
        "imported Caffe network {text_file}"
    );
    Ok(CaffeModel {
        graph,
        report,
        name: parsed.net.name().to_string(),
        legacy: !parsed.net.layers.is_empty(),
    })
}

/// Load and require full support: any problem gives [`CaffeError::Unsupported`] listing all
/// of them.
pub fn import(
    prototxt: &Path,
    weights: Option<&Path>,
    outputs: &[String],
) -> Result<kiln_core::Graph, CaffeError> {
    let model = load(prototxt, weights, outputs)?;
    if model.report.is_supported() {
        Ok(model.graph)
    } else {
        Err(CaffeError::Unsupported(model.report))
    }
}

/// The layer types Kiln imports, sorted.
pub fn supported_layer_types() -> Vec<&'static str> {
    let mut v = layers::registry().types();
    v.push("Input");
    v.sort_unstable();
    v
}
