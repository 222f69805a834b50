//! The layer-importer table: Caffe layer type -> importer function.
//!
//! An importer turns one Caffe layer (bottoms already resolved to graph values, tops given
//! fresh value names) into builtin Kiln nodes, adding its weights as initializers. One file
//! per layer family; each family's `register` function has one line per layer type.

mod activation;
mod conv;
mod eltwise;
mod inner_product;
mod math;
mod norm;
mod pool;
mod reduce;
mod scale;
mod shape;

use crate::DiagnosticCode;
use crate::blob::blob_tensor;
use crate::pb;
use kiln_core::{Attribute, Attributes, Node, Tensor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

/// Why a layer could not be imported.
#[derive(Clone, Debug)]
pub struct LayerError {
    /// The kind of problem.
    pub code: DiagnosticCode,
    /// What is wrong.
    pub message: String,
    /// True when the cause is an earlier layer that failed (not reported again).
    pub(crate) downstream: bool,
}

impl LayerError {
    /// A problem of `code`.
    pub fn new(code: DiagnosticCode, message: impl Into<String>) -> LayerError {
        LayerError {
            code,
            message: message.into(),
            downstream: false,
        }
    }

    /// An unsupported parameter value.
    pub fn param(message: impl Into<String>) -> LayerError {
        LayerError::new(DiagnosticCode::UnsupportedParameter, message)
    }

    /// A malformed layer.
    pub fn invalid(message: impl Into<String>) -> LayerError {
        LayerError::new(DiagnosticCode::InvalidLayer, message)
    }
}

impl From<kiln_core::Error> for LayerError {
    fn from(e: kiln_core::Error) -> LayerError {
        let code = match &e {
            kiln_core::Error::Unsupported(_) => DiagnosticCode::UnsupportedParameter,
            _ => DiagnosticCode::InvalidLayer,
        };
        LayerError::new(code, e.to_string())
    }
}

/// Result of an importer.
pub type LayerResult<T = ()> = std::result::Result<T, LayerError>;

/// What an importer sees and may do.
pub struct LayerCtx<'a> {
    /// Layer name.
    pub name: &'a str,
    /// Layer type.
    pub ty: &'a str,
    /// The layer's parameters.
    pub param: &'a pb::LayerParameter,
    /// The layer's blobs (from the caffemodel, or the prototxt when it carries them).
    pub(crate) blobs: &'a [pb::BlobProto],
    /// Graph values of the bottoms.
    pub inputs: Vec<String>,
    /// Graph values to produce for the tops.
    pub outputs: Vec<String>,
    pub(crate) shapes: &'a HashMap<String, Vec<usize>>,
    pub(crate) poisoned: &'a HashSet<String>,
    pub(crate) initializers: &'a mut BTreeMap<String, Tensor>,
    pub(crate) taken: &'a mut HashSet<String>,
    pub(crate) nodes: Vec<Node>,
    /// Constants this layer added (removed again if the layer fails).
    pub(crate) added: Vec<String>,
    /// Missing or misshapen blobs: the layer goes on with zeros so that its output shapes,
    /// and the layers after it, can still be checked.
    pub(crate) weight_errors: Vec<LayerError>,
}

impl LayerCtx<'_> {
    /// Require between `min` and `max` bottoms and exactly `tops` tops (`None`: any number).
    pub fn arity(&self, min: usize, max: usize, tops: Option<usize>) -> LayerResult {
        let n = self.inputs.len();
        if n < min || n > max {
            let want = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(LayerError::invalid(format!(
                "takes {want} bottom blob(s), got {n}"
            )));
        }
        if let Some(t) = tops
            && self.outputs.len() != t
        {
            return Err(LayerError::invalid(format!(
                "produces {t} top blob(s), got {}",
                self.outputs.len()
            )));
        }
        if self.outputs.is_empty() {
            return Err(LayerError::invalid("has no top blob"));
        }
        Ok(())
    }

    /// The shape of bottom `i`.
    pub fn in_shape(&self, i: usize) -> LayerResult<Vec<usize>> {
        let v = self
            .inputs
            .get(i)
            .ok_or_else(|| LayerError::invalid(format!("has no bottom {i}")))?;
        match self.shapes.get(v) {
            Some(s) => Ok(s.clone()),
            None if self.poisoned.contains(v) => Err(LayerError {
                code: DiagnosticCode::InvalidLayer,
                message: format!("bottom '{v}' comes from a layer that failed"),
                downstream: true,
            }),
            None => Err(LayerError::invalid(format!(
                "the shape of bottom '{v}' is unknown"
            ))),
        }
    }

    /// Number of blobs the layer has.
    pub fn num_blobs(&self) -> usize {
        self.blobs.len()
    }

    /// Blob `i` (`role` names it in messages) as a tensor of shape `expected`. A missing or
    /// misshapen blob is recorded as a problem of the layer and replaced by zeros, so the
    /// import goes on to check the rest of the network.
    pub fn blob(&mut self, i: usize, role: &str, expected: &[usize]) -> LayerResult<Tensor> {
        let found = match self.blobs.get(i) {
            None => Err(format!(
                "blob {i} ({role}) is missing: the layer has {} blob(s) (is the caffemodel \
                 given and does it have a layer of this name?)",
                self.blobs.len()
            )),
            Some(b) => blob_tensor(b, expected).map_err(|m| format!("blob {i} ({role}) {m}")),
        };
        match found {
            Ok(t) => Ok(t),
            Err(m) => {
                self.weight_errors
                    .push(LayerError::new(DiagnosticCode::BadWeights, m));
                Ok(Tensor::zeros(kiln_core::DataType::F32, expected))
            }
        }
    }

    /// A value name nobody uses yet, from `hint`.
    pub fn temp(&mut self, hint: &str) -> String {
        let base = format!("{}/{hint}", self.name);
        let mut name = base.clone();
        let mut k = 1;
        while self.taken.contains(&name) || self.initializers.contains_key(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Add a constant; returns its value name.
    pub fn constant(&mut self, hint: &str, t: Tensor) -> String {
        let name = self.temp(hint);
        self.initializers.insert(name.clone(), t);
        self.added.push(name.clone());
        name
    }

    /// An f32 constant of `shape`.
    pub fn const_f32(&mut self, hint: &str, shape: &[usize], v: Vec<f32>) -> LayerResult<String> {
        let t = Tensor::from_vec(shape, v)?;
        Ok(self.constant(hint, t))
    }

    /// An i64 vector constant.
    pub fn const_i64(&mut self, hint: &str, v: Vec<i64>) -> LayerResult<String> {
        let t = Tensor::from_vec(&[v.len()], v)?;
        Ok(self.constant(hint, t))
    }

    /// Add a builtin node. The first node of a layer takes the layer's name.
    pub fn node(
        &mut self,
        op: &str,
        attrs: Attributes,
        inputs: Vec<String>,
        outputs: Vec<String>,
    ) -> LayerResult {
        let name = if self.nodes.is_empty() {
            self.name.to_string()
        } else {
            format!("{}/{op}_{}", self.name, self.nodes.len())
        };
        let n = Node::builtin(name, op, attrs, inputs, outputs)?;
        self.nodes.push(n);
        Ok(())
    }

    /// A node with one input and one output.
    pub fn unary(&mut self, op: &str, attrs: Attributes, x: String, y: String) -> LayerResult {
        self.node(op, attrs, vec![x], vec![y])
    }

    /// The first input and output (single-bottom, single-top layers).
    pub fn io(&self) -> (String, String) {
        (self.inputs[0].clone(), self.outputs[0].clone())
    }
}

/// Shorthand for building attributes.
pub fn attrs(list: &[(&str, Attribute)]) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in list {
        a.set(k, v.clone());
    }
    a
}

/// Normalize a possibly negative axis for rank `rank`.
pub fn axis(axis: i64, rank: usize, what: &str) -> LayerResult<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(LayerError::invalid(format!(
            "{what} {axis} is out of range for a rank-{rank} bottom"
        )));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Shape `[1, .., c, 1, ..]` of rank `rank` with `dims` placed at `at` (for broadcasting
/// per-channel parameters).
pub fn broadcast_shape(dims: &[usize], at: usize, rank: usize) -> Vec<usize> {
    let mut s = vec![1usize; rank];
    s[at..at + dims.len()].copy_from_slice(dims);
    s
}

/// An importer: one layer in, nodes added through the context.
pub type LayerFn = fn(&mut LayerCtx<'_>) -> LayerResult;

/// Importers by Caffe layer type.
#[derive(Default)]
pub struct LayerRegistry {
    map: HashMap<&'static str, LayerFn>,
}

impl LayerRegistry {
    /// Register one layer type. Registering a type twice is a programming error.
    pub fn add(&mut self, ty: &'static str, f: LayerFn) {
        let old = self.map.insert(ty, f);
        assert!(old.is_none(), "layer type {ty} registered twice");
    }

    /// The importer of a layer type.
    pub fn get(&self, ty: &str) -> Option<LayerFn> {
        self.map.get(ty).copied()
    }

    /// All supported layer types, sorted.
    pub fn types(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.map.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// The table of every supported layer type.
pub fn registry() -> &'static LayerRegistry {
    static REG: OnceLock<LayerRegistry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = LayerRegistry::default();
        activation::register(&mut r);
        conv::register(&mut r);
        eltwise::register(&mut r);
        inner_product::register(&mut r);
        math::register(&mut r);
        norm::register(&mut r);
        pool::register(&mut r);
        reduce::register(&mut r);
        scale::register(&mut r);
        shape::register(&mut r);
        r
    })
}
