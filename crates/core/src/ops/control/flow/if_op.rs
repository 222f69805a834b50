//! `If`: run `then_branch` or `else_branch` depending on a boolean condition.

use crate::ops::control::common::{check_attrs, scalar_bool, tensor_in};
use crate::{BuildCtx, EvalContext, Graph, Op, Result, Value};
use std::sync::Arc;

/// Conditional execution of one of two subgraphs; outputs are the chosen branch's outputs.
#[derive(Debug)]
pub struct If {
    then_branch: Arc<Graph>,
    else_branch: Arc<Graph>,
}

/// Build from the `then_branch` and `else_branch` graph attributes.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["then_branch", "else_branch"])?;
    Ok(Box::new(If {
        then_branch: ctx.attrs.graph_req("then_branch")?,
        else_branch: ctx.attrs.graph_req("else_branch")?,
    }))
}

impl Op for If {
    fn op_type(&self) -> &str {
        "If"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let cond = scalar_bool(tensor_in(inputs, 0)?, "If condition")?;
        let branch = if cond {
            &self.then_branch
        } else {
            &self.else_branch
        };
        crate::run_graph(branch, Default::default(), ctx.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, Attributes, DataType, Node, Shape, Tensor, ValueInfo};
    use std::collections::HashMap;

    fn branch(name: &str, out: &str, src: &str) -> Arc<Graph> {
        let mut g = Graph::new(name);
        g.nodes.push(
            Node::builtin(
                "id",
                "Identity",
                Attributes::new(),
                vec![src.into()],
                vec![out.into()],
            )
            .unwrap(),
        );
        g.outputs
            .push(ValueInfo::tensor(out, DataType::F32, Shape::fixed(&[1])));
        Arc::new(g)
    }

    #[test]
    fn picks_branch_and_reads_outer_scope() {
        let attrs = Attributes::new()
            .with("then_branch", Attribute::Graph(branch("t", "y1", "a")))
            .with("else_branch", Attribute::Graph(branch("e", "y2", "b")));
        let node = Node::builtin("if", "If", attrs, vec!["c".into()], vec!["y".into()]).unwrap();
        let mut g = Graph::new("g");
        for n in ["c", "a", "b"] {
            g.inputs
                .push(ValueInfo::tensor(n, DataType::F32, Shape::fixed(&[1])));
        }
        g.outputs
            .push(ValueInfo::tensor("y", DataType::F32, Shape::fixed(&[1])));
        g.nodes.push(node);
        for (c, want) in [(true, 1.0f32), (false, 2.0)] {
            let mut m = HashMap::new();
            m.insert("c".to_string(), Value::Tensor(Tensor::scalar(c)));
            m.insert(
                "a".to_string(),
                Value::Tensor(Tensor::from_vec(&[1], vec![1.0f32]).unwrap()),
            );
            m.insert(
                "b".to_string(),
                Value::Tensor(Tensor::from_vec(&[1], vec![2.0f32]).unwrap()),
            );
            let out = crate::run_graph(&g, m, None).unwrap();
            assert_eq!(
                out[0],
                Value::Tensor(Tensor::from_vec(&[1], vec![want]).unwrap())
            );
        }
    }

    #[test]
    fn rejects_unknown_attribute() {
        let attrs = Attributes::new()
            .with("then_branch", Attribute::Graph(branch("t", "y1", "a")))
            .with("else_branch", Attribute::Graph(branch("e", "y2", "b")))
            .with("foo", Attribute::Int(1));
        assert!(Node::builtin("if", "If", attrs, vec!["c".into()], vec!["y".into()]).is_err());
    }
}
