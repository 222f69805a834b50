//! Inlining of model-local functions (`ModelProto.functions`).
//!
//! A call node is replaced by the function body: formal inputs/outputs become the call's
//! actual values, every other value name gets the prefix `<call node>/`, and attributes
//! that refer to function attributes (`ref_attr_name`) take the call's value or the
//! function's default (or are dropped when neither exists).

use crate::pb;
use std::collections::HashMap;

struct Renamer<'a> {
    map: HashMap<&'a str, &'a str>,
    prefix: String,
}

impl Renamer<'_> {
    fn name(&self, n: &str) -> String {
        if n.is_empty() {
            return String::new();
        }
        match self.map.get(n) {
            Some(actual) => actual.to_string(),
            None => format!("{}{n}", self.prefix),
        }
    }
}

/// The body of `f` as called by `call` (named `call_name`), ready to import.
pub(crate) fn inline(
    f: &pb::FunctionProto,
    call: &pb::NodeProto,
    call_name: &str,
) -> Vec<pb::NodeProto> {
    let mut map = HashMap::new();
    for (i, formal) in f.input.iter().enumerate() {
        map.insert(
            formal.as_str(),
            call.input.get(i).map_or("", String::as_str),
        );
    }
    for (i, formal) in f.output.iter().enumerate() {
        map.insert(
            formal.as_str(),
            call.output.get(i).map_or("", String::as_str),
        );
    }
    let renamer = Renamer {
        map,
        prefix: format!("{call_name}/"),
    };
    let mut bound: HashMap<&str, &pb::AttributeProto> = HashMap::new();
    for a in &f.attribute_proto {
        bound.insert(a.name(), a);
    }
    for a in &call.attribute {
        bound.insert(a.name(), a);
    }
    f.node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut n = rename_node(n, &renamer, &bound);
            let base = if n.name().is_empty() {
                format!("{}_{i}", n.op_type())
            } else {
                n.name().to_string()
            };
            n.name = Some(format!("{call_name}/{base}"));
            n
        })
        .collect()
}

fn rename_node(
    n: &pb::NodeProto,
    r: &Renamer<'_>,
    bound: &HashMap<&str, &pb::AttributeProto>,
) -> pb::NodeProto {
    let mut n = n.clone();
    n.input = n.input.iter().map(|x| r.name(x)).collect();
    n.output = n.output.iter().map(|x| r.name(x)).collect();
    n.attribute = n
        .attribute
        .iter()
        .filter_map(|a| bind_attr(a, r, bound))
        .collect();
    n
}

/// Resolve `ref_attr_name` and rename values inside graph attributes.
fn bind_attr(
    a: &pb::AttributeProto,
    r: &Renamer<'_>,
    bound: &HashMap<&str, &pb::AttributeProto>,
) -> Option<pb::AttributeProto> {
    let mut a = if a.ref_attr_name().is_empty() {
        a.clone()
    } else {
        let src = bound.get(a.ref_attr_name())?;
        let mut v = (*src).clone();
        v.name = a.name.clone();
        v
    };
    if let Some(g) = &mut a.g {
        rename_graph(g, r, bound);
    }
    for g in &mut a.graphs {
        rename_graph(g, r, bound);
    }
    Some(a)
}

fn rename_graph(
    g: &mut pb::GraphProto,
    r: &Renamer<'_>,
    bound: &HashMap<&str, &pb::AttributeProto>,
) {
    for vi in g
        .input
        .iter_mut()
        .chain(g.output.iter_mut())
        .chain(g.value_info.iter_mut())
    {
        vi.name = Some(r.name(vi.name()));
    }
    for t in &mut g.initializer {
        t.name = Some(r.name(t.name()));
    }
    g.node = g.node.iter().map(|n| rename_node(n, r, bound)).collect();
}
