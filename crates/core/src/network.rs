//! The Network Definition API: build a [`Graph`] in code, layer by layer (the job of
//! TensorRT's `INetworkDefinition`).
//!
//! Every `add_*` method validates its operands (they must belong to this network; shapes that
//! are known must fit) and returns a [`LayerHandle`] whose outputs feed later layers. Layer
//! and tensor names are generated and unique. Weights given as [`Tensor`]s become
//! initializers. [`NetworkDefinition::finish`] sorts the graph, infers every type and shape
//! it can, and returns the [`Graph`], ready for [`crate::run_tensors`] or an engine builder.
//!
//! ```
//! use kiln_core::{DataType, NetworkDefinition, ActivationType, Shape, Tensor, run_tensors};
//! use std::collections::HashMap;
//!
//! let mut net = NetworkDefinition::new("tiny");
//! let x = net.add_input("x", DataType::F32, Shape::fixed(&[1, 4]))?;
//! let w = Tensor::from_vec(&[2, 4], vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])?;
//! let fc = net.add_fully_connected(&x, 2, w, None)?;
//! let act = net.add_activation(&fc.out(), ActivationType::Relu)?;
//! net.mark_output(&act.out(), "y")?;
//! let graph = net.finish()?;
//! let x = Tensor::from_vec(&[1, 4], vec![3.0f32, -2.0, 5.0, 7.0])?;
//! let y = run_tensors(&graph, HashMap::from([("x".to_string(), x)]))?;
//! assert_eq!(y[0].to_f64_vec()?, vec![3.0, 0.0]);
//! # Ok::<(), kiln_core::Error>(())
//! ```

mod kinds;
mod layers;

pub use kinds::{
    ActivationType, ElementWiseOp, GemmOptions, PoolingType, ReduceOp, Shuffle, UnaryOp,
};

use crate::{
    Attribute, Attributes, DataType, Error, Graph, Node, Result, Shape, Tensor, TensorFact,
    UnresolvedOp, ValueInfo, ValueType, infer_facts,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A tensor of a network under construction (a graph input, a constant or a layer output).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorRef(String);

impl TensorRef {
    /// The value name in the graph.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A layer added to a network: its node and its outputs.
#[derive(Clone, Debug)]
pub struct LayerHandle {
    name: String,
    outputs: Vec<TensorRef>,
}

impl LayerHandle {
    /// The layer (node) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first output (every layer has at least one).
    pub fn out(&self) -> TensorRef {
        self.outputs[0].clone()
    }

    /// Output `i`, if the layer has it.
    pub fn output(&self, i: usize) -> Option<&TensorRef> {
        self.outputs.get(i)
    }

    /// All outputs.
    pub fn outputs(&self) -> &[TensorRef] {
        &self.outputs
    }
}

/// A network being defined in code. See the [module documentation](self) for an example.
#[derive(Debug, Default)]
pub struct NetworkDefinition {
    graph: Graph,
    used: HashSet<String>,
    defined: HashSet<String>,
    counters: HashMap<String, usize>,
}

impl NetworkDefinition {
    /// An empty network.
    pub fn new(name: impl Into<String>) -> Self {
        NetworkDefinition {
            graph: Graph::new(name),
            ..Self::default()
        }
    }

    /// The graph built so far (unsorted outputs, no inferred value info yet).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Number of layers (nodes) added so far.
    pub fn num_layers(&self) -> usize {
        self.graph.nodes.len()
    }

    /// A fresh unique name starting with `stem`.
    fn fresh(&mut self, stem: &str) -> String {
        loop {
            let n = self.counters.entry(stem.to_string()).or_insert(0);
            let name = format!("{stem}_{n}");
            *n += 1;
            if !self.used.contains(&name) {
                self.used.insert(name.clone());
                return name;
            }
        }
    }

    /// `base` itself when unused, else a fresh name starting with it.
    fn fresh_exact(&mut self, base: &str) -> String {
        if self.used.insert(base.to_string()) {
            base.to_string()
        } else {
            self.fresh(base)
        }
    }

    fn claim(&mut self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::input("names must not be empty"));
        }
        if !self.used.insert(name.to_string()) {
            return Err(Error::input(format!("name '{name}' is already used")));
        }
        Ok(())
    }

    /// Check that `t` is a tensor of this network.
    pub fn check(&self, t: &TensorRef) -> Result<()> {
        if self.defined.contains(&t.0) {
            Ok(())
        } else {
            Err(Error::input(format!(
                "tensor '{}' does not belong to network '{}'",
                t.0, self.graph.name
            )))
        }
    }

    /// What is known of a tensor's type and shape (from shape inference over the network).
    pub fn tensor_fact(&self, t: &TensorRef) -> Result<TensorFact> {
        self.check(t)?;
        Ok(infer_facts(&self.graph)?.remove(&t.0).unwrap_or_default())
    }

    /// The known rank of `t`.
    pub(crate) fn rank(&self, t: &TensorRef) -> Result<Option<usize>> {
        Ok(self.tensor_fact(t)?.shape.map(|s| s.rank()))
    }

    /// Add a graph input the caller provides at run time.
    pub fn add_input(&mut self, name: &str, dtype: DataType, shape: Shape) -> Result<TensorRef> {
        self.claim(name)?;
        self.graph
            .inputs
            .push(ValueInfo::tensor(name, dtype, shape));
        self.defined.insert(name.to_string());
        Ok(TensorRef(name.to_string()))
    }

    /// Add a constant (an initializer). An empty `name` gets a generated one.
    pub fn add_constant(&mut self, name: &str, value: Tensor) -> Result<TensorRef> {
        let name = if name.is_empty() {
            self.fresh("const")
        } else {
            self.claim(name)?;
            name.to_string()
        };
        self.graph.initializers.insert(name.clone(), value);
        self.defined.insert(name.clone());
        Ok(TensorRef(name))
    }

    /// A constant named after a layer (`<layer>_<what>`).
    pub(crate) fn layer_constant(
        &mut self,
        layer: &str,
        what: &str,
        value: Tensor,
    ) -> Result<String> {
        let name = self.fresh_exact(&format!("{layer}_{what}"));
        self.graph.initializers.insert(name.clone(), value);
        self.defined.insert(name.clone());
        Ok(name)
    }

    /// Run shape inference; on error, undo the last node.
    fn validate_last(&mut self) -> Result<()> {
        if let Err(e) = infer_facts(&self.graph) {
            if let Some(node) = self.graph.nodes.pop() {
                for o in &node.outputs {
                    self.defined.remove(o);
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Add a node of any builtin op type. `stem` prefixes the generated layer name; `inputs`
    /// may name tensors of this network or constants made by the caller.
    pub(crate) fn push_node(
        &mut self,
        stem: &str,
        op_type: &str,
        attrs: Attributes,
        inputs: Vec<String>,
        num_outputs: usize,
    ) -> Result<LayerHandle> {
        let name = self.fresh(stem);
        self.push_named(name, op_type, attrs, inputs, num_outputs)
    }

    /// Add a node with a name from [`Self::fresh`].
    pub(crate) fn push_named(
        &mut self,
        name: String,
        op_type: &str,
        attrs: Attributes,
        inputs: Vec<String>,
        num_outputs: usize,
    ) -> Result<LayerHandle> {
        let outputs: Vec<String> = (0..num_outputs.max(1))
            .map(|i| self.fresh_exact(&format!("{name}_out{i}")))
            .collect();
        let node = Node::builtin(name.clone(), op_type, attrs, inputs, outputs.clone())?;
        self.graph.nodes.push(node);
        self.defined.extend(outputs.iter().cloned());
        self.validate_last()?;
        Ok(LayerHandle {
            name,
            outputs: outputs.into_iter().map(TensorRef).collect(),
        })
    }

    /// Add a layer of any builtin op type by name (the escape hatch for ops without a
    /// dedicated method), e.g. `add_op("HardSwish", &[&x], Attributes::new(), 1)`.
    pub fn add_op(
        &mut self,
        op_type: &str,
        inputs: &[&TensorRef],
        attrs: Attributes,
        num_outputs: usize,
    ) -> Result<LayerHandle> {
        for t in inputs {
            self.check(t)?;
        }
        let stem = op_type.to_ascii_lowercase();
        let ins = inputs.iter().map(|t| t.0.clone()).collect();
        self.push_node(&stem, op_type, attrs, ins, num_outputs)
    }

    /// Add a plugin layer: an [`UnresolvedOp`] node resolved later by name, version and
    /// namespace (a plugin registry of the engine), with the given attributes.
    pub fn add_plugin(
        &mut self,
        name: &str,
        version: &str,
        namespace: &str,
        inputs: &[&TensorRef],
        attrs: Attributes,
        num_outputs: usize,
    ) -> Result<LayerHandle> {
        if name.is_empty() || num_outputs == 0 {
            return Err(Error::input(
                "a plugin needs a name and at least one output",
            ));
        }
        for t in inputs {
            self.check(t)?;
        }
        let layer = self.fresh(&format!("plugin_{}", name.to_ascii_lowercase()));
        let outputs: Vec<String> = (0..num_outputs)
            .map(|i| self.fresh_exact(&format!("{layer}_out{i}")))
            .collect();
        let op = UnresolvedOp {
            name: name.to_string(),
            namespace: namespace.to_string(),
            version: version.to_string(),
            reason: "plugin layer, resolved when the engine is built".to_string(),
        };
        // The engine's plugin resolution matches these (as in ONNX models).
        let mut attrs = attrs;
        if !version.is_empty() {
            attrs.set("plugin_version", Attribute::String(version.to_string()));
        }
        attrs.set("plugin_namespace", Attribute::String(namespace.to_string()));
        self.graph.nodes.push(Node {
            name: layer.clone(),
            domain: namespace.to_string(),
            op: Arc::new(op),
            attrs,
            inputs: inputs.iter().map(|t| t.0.clone()).collect(),
            outputs: outputs.clone(),
        });
        self.defined.extend(outputs.iter().cloned());
        Ok(LayerHandle {
            name: layer,
            outputs: outputs.into_iter().map(TensorRef).collect(),
        })
    }

    /// Set (or replace) an attribute of a layer and rebuild it; shapes are checked again and
    /// the layer is left unchanged on error.
    pub fn set_attribute(
        &mut self,
        layer: &LayerHandle,
        name: &str,
        value: Attribute,
    ) -> Result<()> {
        let idx = self
            .graph
            .nodes
            .iter()
            .position(|n| n.name == layer.name)
            .ok_or_else(|| {
                Error::input(format!("layer '{}' is not in this network", layer.name))
            })?;
        let old = self.graph.nodes[idx].clone();
        if old.op.unresolved().is_some() {
            let node = &mut self.graph.nodes[idx];
            node.attrs.set(name, value);
            return Ok(());
        }
        let mut attrs = old.attrs.clone();
        attrs.set(name, value);
        let node = Node::builtin(
            old.name.clone(),
            old.op_type(),
            attrs,
            old.inputs.clone(),
            old.outputs.clone(),
        )?;
        self.graph.nodes[idx] = node;
        if let Err(e) = infer_facts(&self.graph) {
            self.graph.nodes[idx] = old;
            return Err(e);
        }
        Ok(())
    }

    /// The attributes a layer was built with.
    pub fn layer_attributes(&self, layer: &LayerHandle) -> Option<&Attributes> {
        self.graph
            .nodes
            .iter()
            .find(|n| n.name == layer.name)
            .map(|n| &n.attrs)
    }

    /// Convolution / pooling strides, one per spatial axis.
    pub fn set_stride(&mut self, layer: &LayerHandle, stride: &[usize]) -> Result<()> {
        self.set_attribute(layer, "strides", ints(stride))
    }

    /// Symmetric convolution / pooling padding, one value per spatial axis.
    pub fn set_padding(&mut self, layer: &LayerHandle, padding: &[usize]) -> Result<()> {
        let mut p = padding.to_vec();
        p.extend_from_slice(padding);
        self.set_attribute(layer, "pads", ints(&p))
    }

    /// Asymmetric padding: `pre` before and `post` after each spatial axis.
    pub fn set_padding_pre_post(
        &mut self,
        layer: &LayerHandle,
        pre: &[usize],
        post: &[usize],
    ) -> Result<()> {
        if pre.len() != post.len() {
            return Err(Error::attr(
                "pads",
                "pre and post padding need the same length",
            ));
        }
        let mut p = pre.to_vec();
        p.extend_from_slice(post);
        self.set_attribute(layer, "pads", ints(&p))
    }

    /// Convolution dilations, one per spatial axis.
    pub fn set_dilation(&mut self, layer: &LayerHandle, dilation: &[usize]) -> Result<()> {
        self.set_attribute(layer, "dilations", ints(dilation))
    }

    /// Number of convolution groups.
    pub fn set_groups(&mut self, layer: &LayerHandle, groups: usize) -> Result<()> {
        self.set_attribute(layer, "group", Attribute::Int(groups as i64))
    }

    /// Mark `t` as a network output called `name` (an empty name keeps the tensor's name;
    /// another name adds an Identity layer producing it).
    pub fn mark_output(&mut self, t: &TensorRef, name: &str) -> Result<TensorRef> {
        self.check(t)?;
        let out = if name.is_empty() || name == t.0 {
            t.0.clone()
        } else {
            self.claim(name)?;
            let layer = self.fresh("output");
            let node = Node::builtin(
                layer,
                "Identity",
                Attributes::new(),
                vec![t.0.clone()],
                vec![name.to_string()],
            )?;
            self.graph.nodes.push(node);
            self.defined.insert(name.to_string());
            name.to_string()
        };
        if self.graph.outputs.iter().any(|o| o.name == out) {
            return Err(Error::input(format!("'{out}' is already an output")));
        }
        self.graph.outputs.push(ValueInfo {
            name: out.clone(),
            ty: ValueType::default(),
        });
        Ok(TensorRef(out))
    }

    /// Finish the network: sort it, infer types and shapes, check convolution channels, and
    /// return the graph.
    pub fn finish(mut self) -> Result<Graph> {
        if self.graph.outputs.is_empty() {
            return Err(Error::Graph(
                "the network has no outputs (call mark_output)".into(),
            ));
        }
        self.graph.sort(&HashSet::new())?;
        let facts = infer_facts(&self.graph)?;
        layers::check_convolutions(&self.graph, &facts)?;
        for o in &mut self.graph.outputs {
            if let Some(f) = facts.get(&o.name) {
                o.ty = ValueType::Tensor(f.clone());
            }
        }
        let outputs: HashSet<&str> = self.graph.outputs.iter().map(|o| o.name.as_str()).collect();
        let mut info = Vec::new();
        for n in &self.graph.nodes {
            for o in &n.outputs {
                if let (false, Some(f)) = (outputs.contains(o.as_str()), facts.get(o)) {
                    info.push(ValueInfo {
                        name: o.clone(),
                        ty: ValueType::Tensor(f.clone()),
                    });
                }
            }
        }
        for vi in info {
            self.graph.value_info.insert(vi.name.clone(), vi);
        }
        tracing::debug!(
            network = %self.graph.name,
            layers = self.graph.nodes.len(),
            "network definition finished"
        );
        Ok(self.graph)
    }
}

/// An `ints` attribute from sizes.
pub(crate) fn ints(v: &[usize]) -> Attribute {
    Attribute::Ints(v.iter().map(|&x| x as i64).collect())
}
