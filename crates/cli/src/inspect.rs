//! `kiln inspect`: what Kiln knows of an ONNX model (support of every node) or of a plan
//! (target, inputs and outputs, optimizer passes, layers with the original nodes each one
//! fused and why, tactics and precisions, memory plan).

use crate::build::human_bytes;
use crate::model::{self, ModelKind};
use crate::run::describe_type;
use anyhow::{Context, Result};
use clap::Args;
use kiln_core::ValueInfo;
use kiln_engine::{Engine, LayerInfo};
use kiln_onnx::OnnxModel;
use kiln_optimizer::Fusion;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `kiln inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model or plan file to describe.
    #[arg(value_name = "MODEL|PLAN")]
    model: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    caffe: model::CaffeArgs,

    #[command(flatten)]
    plugins: model::PluginArgs,
}

/// Run the subcommand. An unsupported model is reported, not an error: the exit status is 0.
pub fn main(args: InspectArgs) -> Result<()> {
    model::init_plugins(&args.plugins)?;
    let out = match model::detect(&args.model)? {
        ModelKind::Onnx => {
            let mut m = kiln_onnx::load_model(&args.model)
                .with_context(|| format!("cannot load '{}'", args.model.display()))?;
            mark_plugin_nodes(&mut m);
            if args.json {
                model_json(&args.model, &m).to_string()
            } else {
                model_text(&args.model, &m)
            }
        }
        ModelKind::Caffe => model::inspect_caffe(&args.model, &args.caffe, args.json)?,
        ModelKind::Plan => {
            let engine = model::load_plan(&args.model, None)?;
            let size = std::fs::metadata(&args.model).map_or(0, |m| m.len());
            if args.json {
                plan_json(&args.model, size, &engine).to_string()
            } else {
                plan_text(&args.model, size, &engine)
            }
        }
    };
    println!("{out}");
    Ok(())
}

fn values_json(values: &[ValueInfo]) -> Json {
    values
        .iter()
        .map(|v| json!({"name": v.name, "type": describe_type(&v.ty)}))
        .collect()
}

fn values_text(out: &mut String, title: &str, values: &[ValueInfo]) {
    out.push_str(&format!("{title}:\n"));
    if values.is_empty() {
        out.push_str("  (none)\n");
    }
    for v in values {
        out.push_str(&format!("  {}: {}\n", v.name, describe_type(&v.ty)));
    }
}

fn op_label(domain: &str, op: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        op.to_string()
    } else {
        format!("{domain}::{op}")
    }
}

/// Node counts: total, supported, unsupported, and unsupported per op type.
fn counts(m: &OnnxModel) -> (usize, usize, BTreeMap<String, usize>) {
    let supported = m.report.nodes.iter().filter(|n| n.supported).count();
    let mut by_op = BTreeMap::new();
    for n in m.report.nodes.iter().filter(|n| !n.supported) {
        *by_op.entry(op_label(&n.domain, &n.op_type)).or_insert(0) += 1;
    }
    (m.report.nodes.len(), supported, by_op)
}

fn model_text(path: &Path, m: &OnnxModel) -> String {
    let mut out = String::new();
    out.push_str(&format!("ONNX model: {}\n", path.display()));
    out.push_str(&format!(
        "  producer: {}  ir_version: {}  opset: {}  graph: {}\n",
        if m.producer.is_empty() {
            "(unknown)"
        } else {
            &m.producer
        },
        m.ir_version,
        m.opset,
        m.graph.name
    ));
    out.push_str(&format!("  initializers: {}\n", m.graph.initializers.len()));
    values_text(&mut out, "inputs", &m.graph.inputs);
    values_text(&mut out, "outputs", &m.graph.outputs);
    let (total, supported, by_op) = counts(m);
    out.push_str(&format!("nodes ({total}):\n"));
    let width = m
        .report
        .nodes
        .iter()
        .map(|n| n.node_name.len())
        .max()
        .unwrap_or(0)
        .min(40);
    for n in &m.report.nodes {
        let place = if n.graph.contains('/') {
            format!("  [{}]", n.graph)
        } else {
            String::new()
        };
        let op = op_label(&n.domain, &n.op_type);
        if let Some(p) = n.reason.as_deref().filter(|_| n.supported) {
            out.push_str(&format!(
                "  plugin {:width$}  {op}{place}: {p}\n",
                n.node_name
            ));
        } else if n.supported {
            out.push_str(&format!("  ok    {:width$}  {op}{place}\n", n.node_name));
        } else {
            let why = n.reason.as_deref().unwrap_or("not supported");
            out.push_str(&format!(
                "  NO    {:width$}  {op}{place}: {why}\n",
                n.node_name
            ));
        }
    }
    let graph_level: Vec<_> = m
        .report
        .diagnostics
        .iter()
        .filter(|d| {
            !m.report
                .nodes
                .iter()
                .any(|n| n.node_name == d.node_name && !n.supported)
        })
        .collect();
    if !graph_level.is_empty() {
        out.push_str("other problems:\n");
        for d in graph_level {
            out.push_str(&format!("  {d}\n"));
        }
    }
    out.push_str(&format!(
        "summary: {total} nodes, {supported} supported, {} unsupported; {} problem(s)\n",
        total - supported,
        m.report.diagnostics.len()
    ));
    if m.report.is_supported() {
        out.push_str("result: fully supported: `kiln build` and `kiln run` can use this model");
    } else {
        let ops: Vec<String> = by_op.iter().map(|(op, n)| format!("{op} x{n}")).collect();
        out.push_str(&format!(
            "result: NOT SUPPORTED: `kiln build` and `kiln run` will refuse this model \
             (unsupported: {})",
            if ops.is_empty() {
                "see problems above".to_string()
            } else {
                ops.join(", ")
            }
        ));
    }
    out
}

fn model_json(path: &Path, m: &OnnxModel) -> Json {
    let (total, supported, by_op) = counts(m);
    let nodes: Vec<Json> = m
        .report
        .nodes
        .iter()
        .map(|n| {
            json!({
                "graph": n.graph, "name": n.node_name, "op_type": n.op_type,
                "domain": n.domain, "opset": n.opset, "supported": n.supported,
                "reason": n.reason,
            })
        })
        .collect();
    let diagnostics: Vec<Json> = m
        .report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "code": d.code.name(), "node": d.node_name, "op_type": d.op_type,
                "domain": d.domain, "opset": d.opset, "message": d.message,
            })
        })
        .collect();
    json!({
        "kind": "onnx",
        "file": path.display().to_string(),
        "producer": m.producer,
        "ir_version": m.ir_version,
        "opset": m.opset,
        "graph": m.graph.name,
        "inputs": values_json(&m.graph.inputs),
        "outputs": values_json(&m.graph.outputs),
        "initializers": m.graph.initializers.len(),
        "supported": m.report.is_supported(),
        "summary": {
            "nodes": total, "supported": supported, "unsupported": total - supported,
            "problems": m.report.diagnostics.len(), "unsupported_ops": by_op,
        },
        "nodes": nodes,
        "diagnostics": diagnostics,
    })
}

/// `[1,3,32,32]` for each known shape, `?` for unknown ones.
fn shapes_text(shapes: &[Option<kiln_core::Shape>]) -> String {
    let v: Vec<String> = shapes
        .iter()
        .map(|s| s.as_ref().map_or("?".to_string(), |s| s.to_string()))
        .collect();
    v.join(" ")
}

fn layer_text(l: &LayerInfo, fusion: Option<&Fusion>) -> String {
    let fused = match fusion {
        Some(f) => format!(" (fuses {}: {})", f.fusion, f.fused_nodes.join(", ")),
        None if l.fused.len() > 1 || l.fused.first().is_some_and(|f| f != &l.name) => {
            format!(" (fuses {})", l.fused.join(", "))
        }
        None => String::new(),
    };
    let time = l.time_us.map_or(String::new(), |t| format!(", {t:.1} us"));
    format!(
        "{} {}{fused}: {} -> {}  {}  tactic {} ({}{time})",
        l.name,
        l.op_type,
        shapes_text(&l.input_shapes),
        shapes_text(&l.output_shapes),
        l.precision,
        l.tactic,
        l.choice.as_str()
    )
}

/// Nodes a loaded plugin layer provides are supported: marked with the plugin (the reason
/// of a supported node names the plugin), their "unsupported node" problems dropped.
fn mark_plugin_nodes(m: &mut OnnxModel) {
    let plugins = model::plugins();
    let mut provided = BTreeMap::new();
    for n in m.graph.nodes.iter().filter(|n| plugins.provides(n)) {
        let u = n.op.unresolved().expect("provided nodes are placeholders");
        let version = n.attrs.string("plugin_version").ok().flatten();
        let ns = n.attrs.string("plugin_namespace").ok().flatten();
        if let Some(l) = plugins.find_layer(&u.name, &n.domain, version.as_deref(), ns.as_deref()) {
            let what = format!(
                "plugin {} from '{}'",
                l.describe(),
                l.library.path.display()
            );
            provided.insert(n.name.clone(), what);
        }
    }
    for n in &mut m.report.nodes {
        if let Some(p) = provided.get(&n.node_name) {
            n.supported = true;
            n.reason = Some(p.clone());
        }
    }
    m.report.diagnostics.retain(|d| {
        !(d.code == kiln_onnx::DiagnosticCode::UnsupportedNode
            && provided.contains_key(&d.node_name))
    });
}

/// `SwiGLU version 1` when layer `name` of a plan is a plugin layer.
fn plugin_of(e: &Engine, name: &str) -> Option<String> {
    let req = e.required_plugins();
    let node = e.graph().nodes.iter().find(|n| n.name == name)?;
    let version = node.attrs.string("plugin_version").ok().flatten()?;
    req.iter()
        .find(|r| r.name == node.op_type() && r.version == version)
        .map(|r| format!("{} version {}", r.name, r.version))
}

fn plan_text(path: &Path, size: u64, e: &Engine) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Kiln plan: {} ({})\n",
        path.display(),
        human_bytes(size)
    ));
    out.push_str(&format!("  target: {}\n", e.target()));
    out.push_str(&format!("  threads: {}\n", e.threads()));
    values_text(&mut out, "inputs", e.inputs());
    values_text(&mut out, "outputs", e.outputs());
    if !e.profiles().is_empty() {
        out.push_str("optimization profile (min / opt / max):\n");
        for p in e.profiles() {
            out.push_str(&format!(
                "  {}: {} / {} / {}\n",
                p.input,
                dims_text(&p.min),
                dims_text(&p.opt),
                dims_text(&p.max)
            ));
        }
    }
    let passes: Vec<String> = kiln_optimizer::summarize(e.pass_reports())
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    out.push_str(&format!(
        "optimizer passes (changes): {}\n",
        passes.join(", ")
    ));
    let fusions = kiln_optimizer::fusions(e.graph(), e.pass_reports());
    out.push_str(&format!(
        "layers ({}, {} fused):\n",
        e.layers().len(),
        fusions.len()
    ));
    for (i, l) in e.layers().iter().enumerate() {
        let f = fusions.get(&l.name);
        let plugin = plugin_of(e, &l.name).map_or(String::new(), |p| format!("  [plugin {p}]"));
        out.push_str(&format!("  {i:>3}  {}{plugin}\n", layer_text(l, f)));
    }
    let mp = e.memory_plan();
    let saved = if mp.naive_bytes > 0 {
        100.0 * (1.0 - mp.peak_bytes as f64 / mp.naive_bytes as f64)
    } else {
        0.0
    };
    out.push_str(&format!(
        "memory plan: peak {} vs naive {} ({saved:.0}% saved; {} planned buffers)",
        human_bytes(mp.peak_bytes),
        human_bytes(mp.naive_bytes),
        mp.buffers.len()
    ));
    out
}

/// `1x3x224x224`.
fn dims_text(d: &[usize]) -> String {
    d.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn plan_json(path: &Path, size: u64, e: &Engine) -> Json {
    let shapes = |v: &[Option<kiln_core::Shape>]| -> Json {
        v.iter()
            .map(|s| {
                s.as_ref()
                    .map_or(Json::Null, |s| Json::String(s.to_string()))
            })
            .collect()
    };
    let fusions = kiln_optimizer::fusions(e.graph(), e.pass_reports());
    let layers: Vec<Json> = e
        .layers()
        .iter()
        .map(|l| {
            let fusion = fusions.get(&l.name).map_or(
                Json::Null,
                |f| json!({"fusion": f.fusion, "fused_nodes": f.fused_nodes}),
            );
            json!({
                "name": l.name, "op_type": l.op_type, "fused": l.fused, "fusion": fusion,
                "input_shapes": shapes(&l.input_shapes), "output_shapes": shapes(&l.output_shapes),
                "precision": l.precision, "tactic": l.tactic, "choice": l.choice.as_str(),
                "time_us": l.time_us, "plugin": plugin_of(e, &l.name),
            })
        })
        .collect();
    let passes: Vec<Json> = e
        .pass_reports()
        .iter()
        .map(|r| json!({"pass": r.pass, "changes": r.changes.len(), "details": r.changes}))
        .collect();
    let mp = e.memory_plan();
    let buffers: Vec<Json> = mp
        .buffers
        .iter()
        .map(|b| {
            json!({
                "value": b.value, "offset": b.offset, "size": b.size,
                "first_layer": b.first_layer, "last_layer": b.last_layer,
            })
        })
        .collect();
    json!({
        "kind": "plan",
        "file": path.display().to_string(),
        "size_bytes": size,
        "target": e.target().to_string(),
        "threads": e.threads(),
        "inputs": values_json(e.inputs()),
        "outputs": values_json(e.outputs()),
        "passes": passes,
        "profiles": e.profiles().iter().map(|p| json!({
            "input": p.input, "min": p.min, "opt": p.opt, "max": p.max,
        })).collect::<Vec<Json>>(),
        "layers": layers,
        "memory_plan": {
            "peak_bytes": mp.peak_bytes, "naive_bytes": mp.naive_bytes, "buffers": buffers,
        },
    })
}
