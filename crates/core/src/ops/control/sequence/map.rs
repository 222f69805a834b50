//! `SequenceMap`: apply a body graph to each element of one or more sequences.

use crate::ops::control::common::{check_attrs, run_body, seq_in, value_in};
use crate::{BuildCtx, Error, EvalContext, Graph, Op, Result, Value};
use std::sync::Arc;

/// Runs `body` once per position; sequence inputs contribute their element at that
/// position, tensor inputs are passed whole. Each body output becomes an output sequence.
#[derive(Debug)]
pub struct SequenceMap {
    body: Arc<Graph>,
}

/// Build from the `body` graph attribute.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Box<dyn Op>> {
    check_attrs(ctx.attrs, &["body"])?;
    Ok(Box::new(SequenceMap {
        body: ctx.attrs.graph_req("body")?,
    }))
}

impl Op for SequenceMap {
    fn op_type(&self) -> &str {
        "SequenceMap"
    }

    fn eval_values(&self, inputs: &[Option<&Value>], ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
        let len = seq_in(inputs, 0)?.len();
        let args = (0..inputs.len())
            .map(|i| value_in(inputs, i))
            .collect::<Result<Vec<_>>>()?;
        for a in &args {
            match a {
                Value::Sequence(s) if s.len() != len => {
                    return Err(Error::input(format!(
                        "sequence inputs have different lengths ({} and {len})",
                        s.len()
                    )));
                }
                _ => {}
            }
        }
        let mut outs: Vec<Vec<crate::Tensor>> =
            vec![Vec::with_capacity(len); self.body.outputs.len()];
        for i in 0..len {
            let bound = args
                .iter()
                .map(|a| match a {
                    Value::Sequence(s) => Value::Tensor(s[i].clone()),
                    other => (*other).clone(),
                })
                .collect();
            let results = run_body(&self.body, bound, ctx.scope)?;
            for (acc, v) in outs.iter_mut().zip(results) {
                acc.push(v.into_tensor()?);
            }
        }
        Ok(outs.into_iter().map(Value::Sequence).collect())
    }
}
