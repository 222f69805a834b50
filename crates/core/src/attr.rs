//! Node attributes: typed values by name, with getters that report the attribute on error.

use crate::{Error, Graph, Result, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One attribute value.
#[derive(Clone, Debug)]
pub enum Attribute {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A string.
    String(String),
    /// A tensor.
    Tensor(Tensor),
    /// A subgraph (If/Loop/Scan bodies).
    Graph(Arc<Graph>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of strings.
    Strings(Vec<String>),
    /// A list of tensors.
    Tensors(Vec<Tensor>),
    /// A list of subgraphs.
    Graphs(Vec<Arc<Graph>>),
}

impl Attribute {
    /// The kind of the attribute, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attribute::Float(_) => "float",
            Attribute::Int(_) => "int",
            Attribute::String(_) => "string",
            Attribute::Tensor(_) => "tensor",
            Attribute::Graph(_) => "graph",
            Attribute::Floats(_) => "floats",
            Attribute::Ints(_) => "ints",
            Attribute::Strings(_) => "strings",
            Attribute::Tensors(_) => "tensors",
            Attribute::Graphs(_) => "graphs",
        }
    }
}

/// The attributes of a node, by name.
#[derive(Clone, Debug, Default)]
pub struct Attributes(pub BTreeMap<String, Attribute>);

macro_rules! getter {
    ($opt:ident, $or:ident, $req:ident, $variant:ident, $t:ty, $kind:literal) => {
        #[doc = concat!("The ", $kind, " attribute `name`, if present; an error if it has another kind.")]
        pub fn $opt(&self, name: &str) -> Result<Option<$t>> {
            match self.0.get(name) {
                None => Ok(None),
                Some(Attribute::$variant(v)) => Ok(Some(v.clone())),
                Some(other) => Err(Error::attr(
                    name,
                    format!("expected {}, got {}", $kind, other.kind()),
                )),
            }
        }
        #[doc = concat!("The ", $kind, " attribute `name`, or `default` when absent.")]
        pub fn $or(&self, name: &str, default: $t) -> Result<$t> {
            Ok(self.$opt(name)?.unwrap_or(default))
        }
        #[doc = concat!("The ", $kind, " attribute `name`; an error when absent.")]
        pub fn $req(&self, name: &str) -> Result<$t> {
            self.$opt(name)?.ok_or_else(|| Error::attr(name, "required attribute is missing"))
        }
    };
}

/// Attributes the optimizer writes on the nodes it creates by fusion (`fusion`: the pattern,
/// `fused_nodes`: the original node names); any op accepts them.
pub const PROVENANCE_ATTRS: &[&str] = &["fusion", "fused_nodes"];

impl Attributes {
    /// An empty attribute set.
    pub fn new() -> Self {
        Attributes::default()
    }

    /// Add or replace an attribute (builder style).
    pub fn with(mut self, name: &str, value: Attribute) -> Self {
        self.0.insert(name.to_string(), value);
        self
    }

    /// Add or replace an attribute.
    pub fn set(&mut self, name: &str, value: Attribute) {
        self.0.insert(name.to_string(), value);
    }

    /// The raw attribute, if present.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.0.get(name)
    }

    /// True if present.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Names of attributes not in `known`, for "unsupported attribute" diagnostics.
    ///
    /// The optimizer's provenance attributes ([`PROVENANCE_ATTRS`]: which original nodes a
    /// fused node replaced) are metadata that every op accepts, so they never count.
    pub fn unknown<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.0
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k) && !PROVENANCE_ATTRS.contains(k))
            .collect()
    }

    getter!(float, float_or, float_req, Float, f32, "float");
    getter!(int, int_or, int_req, Int, i64, "int");
    getter!(string, string_or, string_req, String, String, "string");
    getter!(tensor, tensor_or, tensor_req, Tensor, Tensor, "tensor");
    getter!(graph, graph_or, graph_req, Graph, Arc<Graph>, "graph");
    getter!(floats, floats_or, floats_req, Floats, Vec<f32>, "floats");
    getter!(ints, ints_or, ints_req, Ints, Vec<i64>, "ints");
    getter!(
        strings,
        strings_or,
        strings_req,
        Strings,
        Vec<String>,
        "strings"
    );
    getter!(
        tensors,
        tensors_or,
        tensors_req,
        Tensors,
        Vec<Tensor>,
        "tensors"
    );
    getter!(
        graphs,
        graphs_or,
        graphs_req,
        Graphs,
        Vec<Arc<Graph>>,
        "graphs"
    );
}
