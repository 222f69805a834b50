//! The op trait, the registry of builtin ops, and placeholders for ops resolved later (plugins).

use crate::{Attributes, Error, Result, Scope, Tensor, TensorFact, Value};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::OnceLock;

/// What shape inference knows of one input of a node.
#[derive(Clone, Copy, Debug)]
pub struct InferInput<'a> {
    /// Type and shape, each possibly unknown.
    pub fact: &'a TensorFact,
    /// The value, when it is a constant known before running (initializers, Constant outputs).
    pub value: Option<&'a Tensor>,
}

/// Context of an evaluation: the values of enclosing graphs, for ops with subgraphs.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalContext<'a> {
    /// The scope a subgraph body may read outer values from.
    pub scope: Option<&'a Scope<'a>>,
}

/// An operator: its typed attributes live in the implementing struct.
///
/// Implementations are small: `op_type`, `eval`, and where it helps, `infer`.
pub trait Op: Send + Sync + Debug {
    /// The op type name (ONNX spelling, e.g. `Conv`).
    fn op_type(&self) -> &str;

    /// Output types and shapes from the inputs' facts. An empty vector means "unknown".
    fn infer(&self, _inputs: &[InferInput<'_>]) -> Result<Vec<TensorFact>> {
        Ok(Vec::new())
    }

    /// Reference evaluation on tensors. `None` marks an omitted optional input.
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(Error::unsupported(format!(
            "{} has no tensor evaluator",
            self.op_type()
        )))
    }

    /// Evaluation on run-time values (sequences, optionals, subgraphs). The default unwraps
    /// tensors and calls [`Op::eval`].
    fn eval_values(&self, inputs: &[Option<&Value>], _ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let tensors = inputs
            .iter()
            .map(|v| v.map(Value::as_tensor).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok(self
            .eval(&tensors)?
            .into_iter()
            .map(Value::Tensor)
            .collect())
    }

    /// For an op that is not a builtin (a plugin reference or an unsupported op): what it is.
    fn unresolved(&self) -> Option<&UnresolvedOp> {
        None
    }
}

/// What a builder gets to make an op instance.
#[derive(Clone, Copy, Debug)]
pub struct BuildCtx<'a> {
    /// The node's attributes.
    pub attrs: &'a Attributes,
    /// Number of inputs the node has (including omitted optional ones).
    pub num_inputs: usize,
    /// Number of outputs the node has.
    pub num_outputs: usize,
}

/// Makes an op instance from its attributes (validating them).
pub type OpBuilder = fn(&BuildCtx<'_>) -> Result<Box<dyn Op>>;

/// Op builders by op type.
#[derive(Default)]
pub struct OpRegistry {
    builders: HashMap<&'static str, OpBuilder>,
}

impl OpRegistry {
    /// Register one op. Registering the same name twice is a programming error.
    pub fn add(&mut self, op_type: &'static str, builder: OpBuilder) {
        let old = self.builders.insert(op_type, builder);
        assert!(old.is_none(), "op {op_type} registered twice");
    }

    /// The builder of an op type.
    pub fn get(&self, op_type: &str) -> Option<OpBuilder> {
        self.builders.get(op_type).copied()
    }

    /// True when the op type is registered.
    pub fn contains(&self, op_type: &str) -> bool {
        self.builders.contains_key(op_type)
    }

    /// Build an op instance.
    pub fn build(&self, op_type: &str, ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
        let b = self
            .get(op_type)
            .ok_or_else(|| Error::unsupported(format!("no builtin op named {op_type}")))?;
        b(ctx)
    }

    /// All registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.builders.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// The registry of Kiln's builtin ops.
pub fn builtin_ops() -> &'static OpRegistry {
    static REG: OnceLock<OpRegistry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = OpRegistry::default();
        crate::ops::register_all(&mut r);
        r
    })
}

/// An op the builtin set does not have: resolved later by name + version + namespace
/// (a plugin layer), or reported as unsupported. Keeps the whole graph loadable so every
/// unsupported node can be reported at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvedOp {
    /// Op type / plugin name.
    pub name: String,
    /// Domain or plugin namespace (empty for the default).
    pub namespace: String,
    /// Op set version or plugin version.
    pub version: String,
    /// Why the op could not be built as a builtin.
    pub reason: String,
}

impl Op for UnresolvedOp {
    fn op_type(&self) -> &str {
        &self.name
    }

    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(Error::unsupported(format!(
            "op {} (namespace '{}', version {}) is not supported: {}",
            self.name, self.namespace, self.version, self.reason
        )))
    }

    fn unresolved(&self) -> Option<&UnresolvedOp> {
        Some(self)
    }
}
