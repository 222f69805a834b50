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
    #[arg(value_name = "MODEL", required_unless_present = "from_plan")]
    model: Option<PathBuf>,

    /// Re-tune an existing plan for this machine (or `--device`) instead of building from a
    /// model: the plan's optimized graph and weights are kept, tactics are chosen again.
    #[arg(long, value_name = "PLAN", conflicts_with = "model")]
    from_plan: Option<PathBuf>,

    /// Where to write the plan.
    #[arg(short, long, value_name = "PLAN")]
    output: PathBuf,

    /// Build-time shapes of inputs with symbolic dimensions, e.g. `input:1x3x224x224,mask:1x128`.
    #[arg(short, long, value_name = "NAME:DIMS,...")]
    shapes: Vec<String>,

    /// Optimization profile: smallest accepted shapes of inputs with symbolic dimensions,
    /// e.g. `input:1x3x224x224` (with --opt-shapes and --max-shapes for the same inputs).
    #[arg(long, value_name = "NAME:DIMS,...")]
    min_shapes: Vec<String>,

    /// Optimization profile: the shapes to tune for (used as --shapes for these inputs).
    #[arg(long, value_name = "NAME:DIMS,...")]
    opt_shapes: Vec<String>,

    /// Optimization profile: largest accepted shapes; runs outside min..max are refused.
    #[arg(long, value_name = "NAME:DIMS,...")]
    max_shapes: Vec<String>,

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
    precision: PrecisionArgs,

    #[command(flatten)]
    caffe: model::CaffeArgs,

    #[command(flatten)]
    plugins: model::PluginArgs,
}

/// What `kiln build` starts from.
enum Input {
    /// An imported model.
    Model(kiln_core::Graph),
    /// The bytes of a plan to re-tune.
    Plan(Vec<u8>),
}

/// Run the subcommand.
pub fn main(args: BuildArgs) -> Result<()> {
    model::init_plugins(&args.plugins)?;
    let source = match (&args.model, &args.from_plan) {
        (_, Some(plan)) => plan.clone(),
        (Some(m), None) => m.clone(),
        (None, None) => bail!("give a MODEL to build, or --from-plan PLAN to re-tune"),
    };
    let kind = model::detect(&source)?;
    if args.from_plan.is_some() && kind != ModelKind::Plan {
        bail!(
            "'{}' is not a Kiln plan; --from-plan re-tunes a plan (build a model without it)",
            source.display()
        );
    }
    if args.from_plan.is_none() && kind == ModelKind::Plan {
        bail!(
            "'{}' is already a plan; `kiln build` takes an ONNX model (or use --from-plan to \
             re-tune the plan for this machine)",
            source.display()
        );
    }
    let shapes = model::parse_shapes(&args.shapes)?;
    let start = Instant::now();
    let input = if args.from_plan.is_some() {
        let bytes = std::fs::read(&source)
            .with_context(|| format!("cannot read plan '{}'", source.display()))?;
        Input::Plan(bytes)
    } else {
        let graph = model::import_model(&source, &args.caffe)?;
        model::check_shape_names(&shapes, &graph.inputs)?;
        Input::Model(graph)
    };
    let nodes = match &input {
        Input::Model(g) => Some(g.nodes.len()),
        Input::Plan(_) => None,
    };
    let mut config = model::builder_config(
        args.threads.map(|t| t as usize),
        shapes,
        args.timing_cache.as_deref(),
    );
    config.device = args.device;
    args.precision.apply(&mut config)?;
    config.profiles = kiln_engine::profiles_from_shapes(
        &model::parse_shapes(&args.min_shapes)?,
        &model::parse_shapes(&args.opt_shapes)?,
        &model::parse_shapes(&args.max_shapes)?,
    )?;

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
    let builder = Builder::new(config).with_plugins(model::plugins().clone());
    let mut retuned_from = None;
    let engine = match input {
        Input::Model(graph) => builder.build_with_progress(graph, &on_event),
        Input::Plan(bytes) => builder.build_from_plan(&bytes, &on_event).map(|(e, from)| {
            retuned_from = Some(from);
            e
        }),
    }
    .with_context(|| format!("cannot build '{}'", source.display()));
    bar.finish_and_clear();
    let engine = engine?;
    engine
        .save(&args.output)
        .with_context(|| format!("cannot write plan '{}'", args.output.display()))?;
    let elapsed = start.elapsed();
    let size = std::fs::metadata(&args.output)
        .with_context(|| format!("cannot stat '{}'", args.output.display()))?
        .len();
    println!("built {} -> {}", source.display(), args.output.display());
    match (nodes, &retuned_from) {
        (Some(nodes), _) => println!("  nodes:      {nodes} (model)"),
        (None, Some(from)) => println!("  re-tuned:   plan tuned for {from}"),
        (None, None) => {}
    }
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

/// Precision flags of GPU builds and the CPU conv layout (`kiln build`, `run`, `bench`).
#[derive(Debug, Clone, Default, Args)]
pub struct PrecisionArgs {
    /// GPU builds: FP32 GEMMs and convolutions may use TF32 tensor cores.
    #[arg(long, conflicts_with_all = ["fp16", "bf16"])]
    pub tf32: bool,

    /// GPU builds: FP16 activations and weights between GPU layers (FP32 accumulation;
    /// inputs and outputs stay FP32).
    #[arg(long, conflicts_with = "bf16")]
    pub fp16: bool,

    /// GPU builds: BF16 activations and weights between GPU layers (FP32 accumulation).
    #[arg(long)]
    pub bf16: bool,

    /// Keep matching layers in FP32 in --fp16/--bf16 builds: a layer name, an original node
    /// name or an op type, `*` as wildcard (e.g. `Softmax`, `*LayerNorm*`). Repeatable.
    #[arg(long = "fp32-layer", value_name = "PATTERN")]
    pub fp32_layers: Vec<String>,

    /// CPU builds: layout of 2-D convolutions and the pools between them: `nhwc`
    /// (channels-last where the kernels support it; the default) or `nchw`.
    #[arg(long, value_name = "LAYOUT", value_parser = ["nhwc", "nchw"])]
    pub conv_layout: Option<String>,
}

impl PrecisionArgs {
    /// The build precision the flags ask for.
    pub fn precision(&self) -> kiln_engine::cuda::Precision {
        use kiln_engine::cuda::Precision;
        if self.fp16 {
            Precision::Fp16
        } else if self.bf16 {
            Precision::Bf16
        } else if self.tf32 {
            Precision::Tf32
        } else {
            Precision::Fp32
        }
    }

    /// Set the precision fields of `config` (after its device): reduced precision needs a
    /// GPU build.
    pub fn apply(&self, config: &mut kiln_engine::BuilderConfig) -> Result<()> {
        let p = self.precision();
        if config.device == kiln_engine::Device::Cpu {
            if p != kiln_engine::cuda::Precision::Fp32 {
                bail!("--{p} needs a GPU build (--device cuda); CPU engines run FP32");
            }
            if !self.fp32_layers.is_empty() {
                bail!("--fp32-layer needs a GPU build with --fp16 or --bf16");
            }
        }
        config.precision = p;
        config.fp32_layers = self.fp32_layers.clone();
        config.nhwc = self.conv_layout.as_deref() != Some("nchw");
        Ok(())
    }
}
