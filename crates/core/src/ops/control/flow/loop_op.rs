//! `Loop`: run a body graph while a trip count and/or a condition allow, carrying values
//! from one iteration to the next and concatenating per-iteration scan outputs.

use crate::ops::control::common::{
    check_attrs, empty_scan_output, opt_tensor_in, run_body, scalar_bool, scalar_i64, stack,
};
use crate::{BuildCtx, Error, EvalContext, Graph, Op, Result, Tensor, Value};
use std::sync::Arc;

/// Generic loop. Inputs: `M` (optional trip count), `cond` (optional), loop-carried initial
/// values. Body inputs: iteration number, condition, carried values; body outputs: condition,
/// carried values, scan outputs.
#[derive(Debug)]
pub struct Loop {
    body: Arc<Graph>,
}

/// Build from the `body` graph attribute.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["body"])?;
    let body = ctx.attrs.graph_req("body")?;
    if body.inputs.len() < 2 {
        return Err(Error::attr(
            "body",
            "the loop body needs at least the iteration number and condition inputs",
        ));
    }
    if body.outputs.is_empty() {
        return Err(Error::attr(
            "body",
            "the loop body needs a condition output",
        ));
    }
    Ok(Box::new(Loop { body }))
}

impl Op for Loop {
    fn op_type(&self) -> &str {
        "Loop"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let max_trips = opt_tensor_in(inputs, 0)?
            .map(|t| scalar_i64(t, "Loop trip count M"))
            .transpose()?;
        let cond_in = opt_tensor_in(inputs, 1)?
            .map(|t| scalar_bool(t, "Loop condition"))
            .transpose()?;
        let mut carried: Vec<Value> = inputs
            .iter()
            .skip(2)
            .map(|v| {
                v.cloned()
                    .ok_or_else(|| Error::input("loop-carried inputs cannot be omitted"))
            })
            .collect::<Result<_>>()?;
        let n_carried = carried.len();
        if self.body.inputs.len() != n_carried + 2 {
            return Err(Error::Graph(format!(
                "the loop body declares {} inputs, expected {} (2 + {} carried)",
                self.body.inputs.len(),
                n_carried + 2,
                n_carried
            )));
        }
        let n_out = self.body.outputs.len();
        if n_out < 1 + n_carried {
            return Err(Error::Graph(format!(
                "the loop body has {n_out} outputs, expected at least {}",
                1 + n_carried
            )));
        }
        let n_scan = n_out - 1 - n_carried;
        let mut scans: Vec<Vec<Value>> = vec![Vec::new(); n_scan];
        let mut cond = cond_in.unwrap_or(true);
        let mut i: i64 = 0;
        while cond && max_trips.is_none_or(|m| i < m) {
            let mut args = Vec::with_capacity(n_carried + 2);
            args.push(Value::Tensor(Tensor::scalar(i)));
            args.push(Value::Tensor(Tensor::scalar(cond)));
            args.extend(carried.iter().cloned());
            let mut outs = run_body(&self.body, args, ctx.scope)?.into_iter();
            let c = outs
                .next()
                .ok_or_else(|| Error::Graph("the loop body produced no condition".into()))?;
            if cond_in.is_some() {
                cond = scalar_bool(c.as_tensor()?, "loop body condition")?;
            }
            carried = outs.by_ref().take(n_carried).collect();
            for (acc, v) in scans.iter_mut().zip(outs) {
                acc.push(v);
            }
            i += 1;
        }
        let mut results = carried;
        for (k, acc) in scans.into_iter().enumerate() {
            if acc.is_empty() {
                results.push(empty_scan_output(&self.body.outputs[1 + n_carried + k].ty));
                continue;
            }
            let tensors = acc
                .into_iter()
                .map(Value::into_tensor)
                .collect::<Result<Vec<_>>>()?;
            results.push(Value::Tensor(stack(&tensors, 0).map_err(|e| {
                Error::shape(format!(
                    "scan output {k} changes shape across iterations: {e}"
                ))
            })?));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, Value, ValueInfo};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Body: cond_out = cond_in; x_out = Identity(x_in); scan = Identity(x_in).
    fn body() -> Arc<Graph> {
        let mut g = Graph::new("body");
        g.inputs
            .push(ValueInfo::tensor("i", DataType::I64, Shape::fixed(&[])));
        g.inputs
            .push(ValueInfo::tensor("c", DataType::Bool, Shape::fixed(&[])));
        g.inputs
            .push(ValueInfo::tensor("x", DataType::F32, Shape::fixed(&[2])));
        for (src, dst) in [("c", "c_out"), ("x", "x_out"), ("i", "scan")] {
            g.nodes.push(
                Node::builtin(
                    dst,
                    "Identity",
                    Attributes::new(),
                    vec![src.into()],
                    vec![dst.into()],
                )
                .unwrap(),
            );
        }
        g.outputs.push(ValueInfo::tensor(
            "c_out",
            DataType::Bool,
            Shape::fixed(&[]),
        ));
        g.outputs.push(ValueInfo::tensor(
            "x_out",
            DataType::F32,
            Shape::fixed(&[2]),
        ));
        g.outputs
            .push(ValueInfo::tensor("scan", DataType::I64, Shape::fixed(&[])));
        Arc::new(g)
    }

    fn run(m: Option<i64>) -> Vec<Value> {
        let attrs = Attributes::new().with("body", Attribute::Graph(body()));
        let ins = vec![
            if m.is_some() {
                "M".into()
            } else {
                String::new()
            },
            "c".into(),
            "x".into(),
        ];
        let node = Node::builtin("l", "Loop", attrs, ins, vec!["xf".into(), "s".into()]).unwrap();
        let mut g = Graph::new("g");
        g.nodes.push(node);
        g.outputs
            .push(ValueInfo::tensor("xf", DataType::F32, Shape::fixed(&[2])));
        g.outputs
            .push(ValueInfo::tensor("s", DataType::I64, Shape::fixed(&[3])));
        let mut inputs = HashMap::new();
        if let Some(m) = m {
            inputs.insert("M".to_string(), Value::Tensor(Tensor::scalar(m)));
        }
        inputs.insert("c".to_string(), Value::Tensor(Tensor::scalar(true)));
        inputs.insert(
            "x".to_string(),
            Value::Tensor(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap()),
        );
        crate::run_graph(&g, inputs, None).unwrap()
    }

    #[test]
    fn trip_count_limits_and_scan_outputs_stack() {
        let out = run(Some(3));
        assert_eq!(
            out[1],
            Value::Tensor(Tensor::from_vec(&[3], vec![0i64, 1, 2]).unwrap())
        );
        let out = run(Some(0));
        assert_eq!(
            out[1],
            Value::Tensor(Tensor::from_vec(&[0], Vec::<i64>::new()).unwrap())
        );
        assert_eq!(
            out[0],
            Value::Tensor(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap())
        );
    }
}
