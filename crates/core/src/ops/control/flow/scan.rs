//! `Scan` (opset 9+): iterate a body over slices of scan inputs, carrying state values and
//! stacking per-iteration scan outputs.

use crate::ops::control::common::{
    check_attrs, empty_scan_output, index_axis, move_axis, reverse_axis, run_body, stack,
};
use crate::ops::util::normalize_axis;
use crate::{BuildCtx, Error, EvalContext, Graph, Op, Result, Value};
use std::sync::Arc;

/// Scan over `num_scan_inputs` trailing inputs; the leading inputs are initial states.
#[derive(Debug)]
pub struct Scan {
    body: Arc<Graph>,
    num_scan_inputs: usize,
    input_axes: Option<Vec<i64>>,
    input_directions: Option<Vec<i64>>,
    output_axes: Option<Vec<i64>>,
    output_directions: Option<Vec<i64>>,
}

fn check_directions(name: &str, dirs: &Option<Vec<i64>>) -> Result<()> {
    if dirs
        .as_ref()
        .is_some_and(|d| d.iter().any(|&x| x != 0 && x != 1))
    {
        return Err(Error::attr(
            name,
            "directions must be 0 (forward) or 1 (reverse)",
        ));
    }
    Ok(())
}

/// Build from `body`, `num_scan_inputs` and the optional axes/directions lists.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(
        ctx.attrs,
        &[
            "body",
            "num_scan_inputs",
            "scan_input_axes",
            "scan_input_directions",
            "scan_output_axes",
            "scan_output_directions",
        ],
    )?;
    let body = ctx.attrs.graph_req("body")?;
    let n = ctx.attrs.int_req("num_scan_inputs")?;
    if n < 1 || n as usize > ctx.num_inputs {
        return Err(Error::attr(
            "num_scan_inputs",
            format!(
                "must be between 1 and the number of inputs ({}), got {n}",
                ctx.num_inputs
            ),
        ));
    }
    let op = Scan {
        body,
        num_scan_inputs: n as usize,
        input_axes: ctx.attrs.ints("scan_input_axes")?,
        input_directions: ctx.attrs.ints("scan_input_directions")?,
        output_axes: ctx.attrs.ints("scan_output_axes")?,
        output_directions: ctx.attrs.ints("scan_output_directions")?,
    };
    check_directions("scan_input_directions", &op.input_directions)?;
    check_directions("scan_output_directions", &op.output_directions)?;
    for (name, list) in [
        ("scan_input_axes", &op.input_axes),
        ("scan_input_directions", &op.input_directions),
    ] {
        if list.as_ref().is_some_and(|l| l.len() != op.num_scan_inputs) {
            return Err(Error::attr(name, "needs one entry per scan input"));
        }
    }
    Ok(Box::new(op))
}

fn pick(list: &Option<Vec<i64>>, i: usize) -> i64 {
    list.as_ref().and_then(|l| l.get(i).copied()).unwrap_or(0)
}

impl Op for Scan {
    fn op_type(&self) -> &str {
        "Scan"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let values: Vec<&Value> = inputs
            .iter()
            .map(|v| v.ok_or_else(|| Error::input("Scan inputs cannot be omitted")))
            .collect::<Result<_>>()?;
        if values.len() < self.num_scan_inputs {
            return Err(Error::input("fewer inputs than num_scan_inputs"));
        }
        let n_state = values.len() - self.num_scan_inputs;
        let mut scan_inputs = Vec::with_capacity(self.num_scan_inputs);
        let mut len: Option<usize> = None;
        for (i, v) in values[n_state..].iter().enumerate() {
            let t = v.as_tensor()?;
            let axis = normalize_axis(pick(&self.input_axes, i), t.rank())?;
            let l = *t
                .shape()
                .get(axis)
                .ok_or_else(|| Error::shape("a scan input must have rank >= 1"))?;
            if len.is_some_and(|x| x != l) {
                return Err(Error::shape("scan inputs have different sequence lengths"));
            }
            len = Some(l);
            let reverse = pick(&self.input_directions, i) == 1;
            scan_inputs.push((t, axis, reverse));
        }
        let len = len.unwrap_or(0);
        let n_body_out = self.body.outputs.len();
        if n_body_out < n_state {
            return Err(Error::Graph(
                "the Scan body has fewer outputs than states".into(),
            ));
        }
        let n_scan_out = n_body_out - n_state;
        let mut states: Vec<Value> = values[..n_state].iter().map(|v| (*v).clone()).collect();
        let mut acc: Vec<Vec<crate::Tensor>> = vec![Vec::with_capacity(len); n_scan_out];
        for step in 0..len {
            let mut args = states.clone();
            for (t, axis, reverse) in &scan_inputs {
                let idx = if *reverse { len - 1 - step } else { step };
                args.push(Value::Tensor(index_axis(t, *axis, idx)?));
            }
            let mut outs = run_body(&self.body, args, ctx.scope)?.into_iter();
            states = outs.by_ref().take(n_state).collect();
            for (a, v) in acc.iter_mut().zip(outs) {
                a.push(v.into_tensor()?);
            }
        }
        let mut results = states;
        for (k, a) in acc.into_iter().enumerate() {
            if a.is_empty() {
                results.push(empty_scan_output(&self.body.outputs[n_state + k].ty));
                continue;
            }
            let mut t = stack(&a, 0)?;
            if pick(&self.output_directions, k) == 1 {
                t = reverse_axis(&t, 0)?;
            }
            let axis = normalize_axis(pick(&self.output_axes, k), t.rank())?;
            if axis != 0 {
                t = move_axis(&t, 0, axis)?;
            }
            results.push(Value::Tensor(t));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Attribute, Attributes, DataType, Graph, Node, Shape, Tensor, Value, ValueInfo};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Body: acc_out = acc + x; scan_out = acc_out (running sums).
    fn body() -> Arc<Graph> {
        let mut g = Graph::new("body");
        g.inputs
            .push(ValueInfo::tensor("acc", DataType::F32, Shape::fixed(&[2])));
        g.inputs
            .push(ValueInfo::tensor("x", DataType::F32, Shape::fixed(&[2])));
        g.nodes.push(
            Node::builtin(
                "add",
                "Add",
                Attributes::new(),
                vec!["acc".into(), "x".into()],
                vec!["acc_out".into()],
            )
            .unwrap(),
        );
        g.nodes.push(
            Node::builtin(
                "id",
                "Identity",
                Attributes::new(),
                vec!["acc_out".into()],
                vec!["s".into()],
            )
            .unwrap(),
        );
        g.outputs.push(ValueInfo::tensor(
            "acc_out",
            DataType::F32,
            Shape::fixed(&[2]),
        ));
        g.outputs
            .push(ValueInfo::tensor("s", DataType::F32, Shape::fixed(&[2])));
        Arc::new(g)
    }

    #[test]
    fn reverse_input_along_axis_1_and_output_axis_1() {
        let attrs = Attributes::new()
            .with("body", Attribute::Graph(body()))
            .with("num_scan_inputs", Attribute::Int(1))
            .with("scan_input_axes", Attribute::Ints(vec![1]))
            .with("scan_input_directions", Attribute::Ints(vec![1]))
            .with("scan_output_axes", Attribute::Ints(vec![-1]));
        let node = Node::builtin(
            "scan",
            "Scan",
            attrs,
            vec!["init".into(), "xs".into()],
            vec!["final".into(), "sums".into()],
        )
        .unwrap();
        let mut g = Graph::new("g");
        g.nodes.push(node);
        g.outputs.push(ValueInfo::tensor(
            "final",
            DataType::F32,
            Shape::fixed(&[2]),
        ));
        g.outputs.push(ValueInfo::tensor(
            "sums",
            DataType::F32,
            Shape::fixed(&[2, 3]),
        ));
        let mut m = HashMap::new();
        m.insert(
            "init".to_string(),
            Value::Tensor(Tensor::from_vec(&[2], vec![0.0f32, 0.0]).unwrap()),
        );
        // xs is [2, 3]: scanned along axis 1 backwards: columns (3,6), (2,5), (1,4).
        m.insert(
            "xs".to_string(),
            Value::Tensor(
                Tensor::from_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
            ),
        );
        let out = crate::run_graph(&g, m, None).unwrap();
        assert_eq!(
            out[0],
            Value::Tensor(Tensor::from_vec(&[2], vec![6.0f32, 15.0]).unwrap())
        );
        assert_eq!(
            out[1],
            Value::Tensor(
                Tensor::from_vec(&[2, 3], vec![3.0f32, 5.0, 6.0, 6.0, 11.0, 15.0]).unwrap()
            )
        );
    }
}
