//! The op-importer table: ONNX op type + opset version -> importer function.
//!
//! An importer turns one ONNX node (attributes already converted) into Kiln nodes of the
//! latest op semantics. Most ops need only [`direct`]; older opset forms are converted by the
//! importers of the family files (moving attributes to constant inputs, renaming ops).
//! `r.add("Squeeze", 1, shape::squeeze_v1)` then `r.add("Squeeze", 13, direct)` means
//! "opsets 1..12 use squeeze_v1, 13 and later import directly".

mod control;
mod elementwise;
mod legacy;
mod nn;
mod reduce;
mod shape;

use kiln_core::{Attribute, Attributes, DataType, Error, Node, Result, Tensor, TensorFact};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

/// One ONNX node, ready for an importer: names resolved, attributes converted.
#[derive(Clone, Debug)]
pub struct OnnxNode {
    /// Node name (generated when the model gave none).
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// Domain (empty for the default domain).
    pub domain: String,
    /// Opset version of the node's domain.
    pub opset: i64,
    /// Converted attributes.
    pub attrs: Attributes,
    /// Input names (empty = omitted optional input).
    pub inputs: Vec<String>,
    /// Output names.
    pub outputs: Vec<String>,
}

impl OnnxNode {
    /// Build the node as the builtin op `op_type` with its current attributes and values.
    pub fn build(self, op_type: &str) -> Result<Node> {
        Node::builtin(self.name, op_type, self.attrs, self.inputs, self.outputs)
    }

    /// Remove and return an attribute.
    pub fn take_attr(&mut self, name: &str) -> Option<Attribute> {
        self.attrs.0.remove(name)
    }

    /// Set input `index` (padding with omitted inputs as needed).
    pub fn set_input(&mut self, index: usize, value: String) {
        if self.inputs.len() <= index {
            self.inputs.resize(index + 1, String::new());
        }
        if let Some(slot) = self.inputs.get_mut(index) {
            *slot = value;
        }
    }

    /// The input name at `index`, if present and not omitted.
    pub fn input(&self, index: usize) -> Option<&str> {
        self.inputs
            .get(index)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// What an importer may do to the graph besides returning nodes: add constants, make names,
/// look up known types of values.
pub struct ImportCtx<'a> {
    pub(crate) initializers: &'a mut BTreeMap<String, Tensor>,
    pub(crate) taken: &'a mut HashSet<String>,
    pub(crate) facts: &'a HashMap<String, TensorFact>,
    /// Initializers added by the current importer (removed again if it fails).
    pub(crate) added: Vec<String>,
}

impl ImportCtx<'_> {
    /// Undo the constants this importer added (it failed).
    pub(crate) fn rollback(&mut self) {
        for name in self.added.drain(..) {
            self.initializers.remove(&name);
        }
    }

    /// A value name not used anywhere in the graph yet, based on `hint`.
    pub fn unique_name(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut i = 1;
        while self.taken.contains(&name) || self.initializers.contains_key(&name) {
            name = format!("{hint}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Add a constant tensor to the graph's initializers; returns its (new, unique) name.
    pub fn add_const(&mut self, hint: &str, value: Tensor) -> String {
        let name = self.unique_name(hint);
        self.initializers.insert(name.clone(), value);
        self.added.push(name.clone());
        name
    }

    /// What is known about a value's type (graph inputs, value_info, initializers).
    pub fn fact(&self, name: &str) -> Option<&TensorFact> {
        self.facts.get(name)
    }

    /// The element type of a value, if known.
    pub fn dtype_of(&self, name: &str) -> Option<DataType> {
        self.initializers
            .get(name)
            .map(Tensor::dtype)
            .or_else(|| self.facts.get(name).and_then(|f| f.dtype))
    }

    /// The rank of a value, if known.
    pub fn rank_of(&self, name: &str) -> Option<usize> {
        self.initializers.get(name).map(Tensor::rank).or_else(|| {
            self.facts
                .get(name)
                .and_then(|f| f.shape.as_ref().map(|s| s.rank()))
        })
    }
}

/// An importer: one ONNX node in, Kiln nodes out (usually exactly one).
pub type ImportFn = fn(&mut ImportCtx<'_>, OnnxNode) -> Result<Vec<Node>>;

/// The result of looking up an importer.
#[derive(Clone, Copy, Debug)]
pub enum Lookup {
    /// The importer to use.
    Found(ImportFn),
    /// The op is known, but only from a later opset than the model's.
    TooOld {
        /// The first opset the table knows the op in.
        since: i64,
    },
    /// No importer and no builtin op of that name.
    Missing,
}

/// Importers by op type, each a list of (first opset, importer).
#[derive(Default)]
pub struct ImporterRegistry {
    map: HashMap<&'static str, Vec<(i64, ImportFn)>>,
}

impl ImporterRegistry {
    /// Register `f` for `op_type` from opset `since` on (until the next registered version).
    pub fn add(&mut self, op_type: &'static str, since: i64, f: ImportFn) {
        let list = self.map.entry(op_type).or_default();
        list.push((since, f));
        list.sort_by_key(|(v, _)| *v);
    }

    /// The importer of `op_type` at `opset`. Ops the table does not list but the builtin op
    /// set has import directly.
    pub fn lookup(&self, op_type: &str, opset: i64) -> Lookup {
        match self.map.get(op_type) {
            Some(list) => match list.iter().rev().find(|(v, _)| *v <= opset) {
                Some((_, f)) => Lookup::Found(*f),
                None => Lookup::TooOld {
                    since: list.first().map_or(0, |(v, _)| *v),
                },
            },
            None if kiln_core::builtin_ops().contains(op_type) => Lookup::Found(direct),
            None => Lookup::Missing,
        }
    }

    /// True when the table lists `op_type` explicitly.
    pub fn lists(&self, op_type: &str) -> bool {
        self.map.contains_key(op_type)
    }

    /// All op types listed, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.map.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// The importer table of the default ONNX domain.
pub fn registry() -> &'static ImporterRegistry {
    static REG: OnceLock<ImporterRegistry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = ImporterRegistry::default();
        elementwise::register(&mut r);
        reduce::register(&mut r);
        shape::register(&mut r);
        nn::register(&mut r);
        control::register(&mut r);
        legacy::register(&mut r);
        r
    })
}

/// Import the node as the builtin op of the same name, unchanged.
pub fn direct(_ctx: &mut ImportCtx<'_>, node: OnnxNode) -> Result<Vec<Node>> {
    let op = node.op_type.clone();
    Ok(vec![node.build(&op)?])
}

/// Drop `consumed_inputs` (opset 1 bookkeeping without meaning for inference), then import
/// directly.
pub fn drop_consumed_inputs(ctx: &mut ImportCtx<'_>, mut node: OnnxNode) -> Result<Vec<Node>> {
    node.take_attr("consumed_inputs");
    direct(ctx, node)
}

/// Move an integer-list attribute to a constant i64 input at `index` (when present).
pub(crate) fn ints_attr_to_input(
    ctx: &mut ImportCtx<'_>,
    node: &mut OnnxNode,
    attr: &str,
    index: usize,
) -> Result<()> {
    match node.take_attr(attr) {
        None => Ok(()),
        Some(Attribute::Ints(v)) => {
            let n = v.len();
            let t = Tensor::from_vec(&[n], v)?;
            let name = ctx.add_const(&format!("{}_{attr}", node.name), t);
            node.set_input(index, name);
            Ok(())
        }
        Some(Attribute::Int(v)) => {
            let name = ctx.add_const(
                &format!("{}_{attr}", node.name),
                Tensor::from_vec(&[1], vec![v])?,
            );
            node.set_input(index, name);
            Ok(())
        }
        Some(other) => Err(Error::attr(
            attr,
            format!("expected ints, got {}", other.kind()),
        )),
    }
}

/// A scalar constant of `dtype` holding `v` (for attributes that became inputs of the
/// input's type).
pub(crate) fn scalar_of(dtype: DataType, v: f64) -> Result<Tensor> {
    use kiln_core::half::{bf16, f16};
    Ok(match dtype {
        DataType::F32 => Tensor::scalar(v as f32),
        DataType::F64 => Tensor::scalar(v),
        DataType::F16 => Tensor::scalar(f16::from_f64(v)),
        DataType::BF16 => Tensor::scalar(bf16::from_f64(v)),
        DataType::I8 => Tensor::scalar(v as i8),
        DataType::U8 => Tensor::scalar(v as u8),
        DataType::I16 => Tensor::scalar(v as i16),
        DataType::U16 => Tensor::scalar(v as u16),
        DataType::I32 => Tensor::scalar(v as i32),
        DataType::U32 => Tensor::scalar(v as u32),
        DataType::I64 => Tensor::scalar(v as i64),
        DataType::U64 => Tensor::scalar(v as u64),
        DataType::Bool => Tensor::scalar(v != 0.0),
        DataType::String => return Err(Error::dtype("string values have no numeric scalar")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_op_has_an_importer() {
        let r = registry();
        for name in kiln_core::builtin_ops().names() {
            assert!(
                matches!(r.lookup(name, 1000), Lookup::Found(_)),
                "no importer for builtin op {name}"
            );
        }
    }

    #[test]
    fn lookup_picks_the_latest_version_not_after_the_opset() {
        let r = registry();
        assert!(
            matches!(r.lookup("Squeeze", 11), Lookup::Found(f) if !std::ptr::fn_addr_eq(f, direct as ImportFn))
        );
        assert!(
            matches!(r.lookup("Squeeze", 13), Lookup::Found(f) if std::ptr::fn_addr_eq(f, direct as ImportFn))
        );
        assert!(matches!(r.lookup("Gelu", 19), Lookup::TooOld { since: 20 }));
        assert!(matches!(r.lookup("NoSuchOp", 19), Lookup::Missing));
    }
}
