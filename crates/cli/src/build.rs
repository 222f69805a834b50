//! `kiln build`: optimize an ONNX model for this machine and write a plan.

use crate::model::{self, ModelKind};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_engine::{BuildEvent, Builder};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Show the progress bar only for builds that take longer than this.
const QUIET_FOR: Duration = Duration::from_millis(400);

/// Arguments of `kiln build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The ONNX model or Caffe .prototxt (with --weights) to build.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// Where to write the plan.
    #[arg(short, long, value_name = "PLAN")]
    output: PathBuf,

    /// Build-time shapes of inputs with symbolic dimensions, e.g. `input:1x3x224x224,mask:1x128`.
    #[arg(short, long, value_name = "NAME:DIMS,...")]
    shapes: Vec<String>,

    /// Timing cache file: tactic timings are read from it and new ones written back.
    #[arg(long, value_name = "FILE")]
    timing_cache: Option<PathBuf>,

    /// Number of worker threads to tune and run with (default: all cores).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Device to build for and run on: cpu, cuda (GPU 0) or cuda:N. A plan runs on the
    /// device it was built for.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: kiln_engine::Device,

    #[command(flatten)]
    caffe: model::CaffeArgs,

    #[command(flatten)]
    plugins: model::PluginArgs,
}

/// Run the subcommand.
pub fn main(args: BuildArgs) -> Result<()> {
    model::init_plugins(&args.plugins)?;
    if model::detect(&args.model)? == ModelKind::Plan {
        bail!(
            "'{}' is already a plan; `kiln build` takes an ONNX model",
            args.model.display()
        );
    }
    let shapes = model::parse_shapes(&args.shapes)?;
    let start = Instant::now();
    let graph = model::import_model(&args.model, &args.caffe)?;
    model::check_shape_names(&shapes, &graph.inputs)?;
    let nodes = graph.nodes.len();
    let mut config = model::builder_config(
        args.threads.map(|t| t as usize),
        shapes,
        args.timing_cache.as_deref(),
    );
    config.device = args.device;

    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<40!} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let shown = Cell::new(false);
    let tuned = Cell::new(None);
    let on_event = |event: BuildEvent| {
        if let BuildEvent::Finished {
            measured, cached, ..
        } = &event
        {
            tuned.set(Some((*measured, *cached)));
        }
        if !shown.get() && start.elapsed() >= QUIET_FOR {
            // indicatif draws nothing when stderr is not a terminal.
            bar.set_draw_target(ProgressDrawTarget::stderr());
            shown.set(true);
        }
        apply_event(&bar, event);
    };
    let engine = Builder::new(config)
        .with_plugins(model::plugins().clone())
        .build_with_progress(graph, &on_event)
        .with_context(|| format!("cannot build '{}'", args.model.display()));
    bar.finish_and_clear();
    let engine = engine?;
    engine
        .save(&args.output)
        .with_context(|| format!("cannot write plan '{}'", args.output.display()))?;
    let elapsed = start.elapsed();
    let size = std::fs::metadata(&args.output)
        .with_context(|| format!("cannot stat '{}'", args.output.display()))?
        .len();
    println!(
        "built {} -> {}",
        args.model.display(),
        args.output.display()
    );
    println!("  nodes:      {nodes} (ONNX)");
    match tuned.get() {
        Some((measured, cached)) => println!(
            "  layers:     {} ({measured} timed, {cached} from the timing cache)",
            engine.layers().len()
        ),
        None => println!("  layers:     {}", engine.layers().len()),
    }
    println!("  plan size:  {} ({size} bytes)", human_bytes(size));
    println!("  build time: {:.2} s", elapsed.as_secs_f64());
    println!("  target:     {}", engine.target());
    Ok(())
}

/// Move the bar for one builder event (and log it for `-v`).
fn apply_event(bar: &ProgressBar, event: BuildEvent) {
    match event {
        BuildEvent::Optimized { reports } => {
            for r in &reports {
                tracing::info!(pass = %r.pass, changes = r.changes.len(), "optimizer pass");
                for c in &r.changes {
                    tracing::debug!(pass = %r.pass, "{c}");
                }
            }
            bar.set_message("optimized; choosing tactics");
        }
        BuildEvent::LayerStarted {
            index,
            total,
            name,
            op_type,
        } => {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(format!("{name} ({op_type})"));
        }
        BuildEvent::LayerDone {
            index,
            total,
            layer,
        } => {
            tracing::debug!(
                layer = %layer.name, op = %layer.op_type, tactic = %layer.tactic,
                choice = layer.choice.as_str(), "layer {}/{total}", index + 1
            );
            bar.set_length(total as u64);
            bar.set_position(index as u64 + 1);
        }
        BuildEvent::Finished {
            layers,
            measured,
            cached,
        } => {
            tracing::info!(layers, measured, cached, "build finished");
            bar.set_position(layers as u64);
        }
    }
}

/// `1.5 MiB` style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
