//! `kiln bench`: latency and throughput of a model or plan on random inputs.

use crate::model::{self, ModelKind, quote_list};
use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_core::half::{bf16, f16};
use kiln_core::{DataType, Dim, Tensor, ValueInfo, ValueType};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `kiln bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The ONNX model, Caffe .prototxt (with --weights) or plan file to measure.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// Batch size: replaces the first dimension of every input whose first dimension is
    /// symbolic.
    #[arg(short, long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,

    /// Input shapes for symbolic dimensions other than the batch, e.g.
    /// `input_ids:8x128,mask:8x128` (default for such dims: 1).
    #[arg(short, long, value_name = "NAME:DIMS,...")]
    shapes: Vec<String>,

    /// Number of worker threads (default: all cores).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Device to build for and run on: cpu, cuda (GPU 0) or cuda:N. A plan runs on the
    /// device it was built for.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: kiln_engine::Device,

    /// Untimed runs before measuring.
    #[arg(long, value_name = "N", default_value_t = 10)]
    warmup: u32,

    /// Timed runs.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    precision: crate::build::PrecisionArgs,

    /// GPU engines: capture the layers as a CUDA graph once and replay it (static shapes).
    #[arg(long)]
    use_cuda_graph: bool,

    /// Also run the model once in FP32 on the CPU on the same inputs and report the largest
    /// absolute and relative (to the largest reference value) error of each output.
    #[arg(long)]
    check_accuracy: bool,

    #[command(flatten)]
    caffe: model::CaffeArgs,

    #[command(flatten)]
    plugins: model::PluginArgs,
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Fastest run.
    pub min: f64,
    /// Mean of all runs.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Run the subcommand.
pub fn main(args: BenchArgs) -> Result<()> {
    model::init_plugins(&args.plugins)?;
    let user_shapes = model::parse_shapes(&args.shapes)?;
    let threads = args.threads.map(|t| t as usize);
    let batch = args.batch as usize;
    let kind = model::detect(&args.model)?;
    let start = Instant::now();
    // For ONNX models the concrete input shapes are known before building, so the builder
    // can tune for them.
    let (engine, shapes, batch) = match kind {
        ModelKind::Plan => {
            if args.precision.precision() != kiln_engine::cuda::Precision::Fp32
                || !args.precision.fp32_layers.is_empty()
            {
                bail!(
                    "a plan keeps the precision it was built with: give precision flags to `kiln build`"
                );
            }
            let engine = model::load_plan(&args.model, threads)?;
            model::check_shape_names(&user_shapes, engine.inputs())?;
            let (shapes, batch) = concrete_shapes(engine.inputs(), &user_shapes, batch)?;
            (engine, shapes, batch)
        }
        ModelKind::Onnx | ModelKind::Caffe => {
            let graph = model::import_model(&args.model, &args.caffe)?;
            model::check_shape_names(&user_shapes, &graph.inputs)?;
            let (shapes, batch) = concrete_shapes(&graph.inputs, &user_shapes, batch)?;
            let mut config = model::builder_config(threads, shapes.clone(), None);
            config.device = args.device;
            args.precision.apply(&mut config)?;
            let engine = kiln_engine::Builder::new(config)
                .with_plugins(model::plugins().clone())
                .build(graph)
                .with_context(|| format!("cannot build '{}'", args.model.display()))?;
            (engine, shapes, batch)
        }
    };
    tracing::info!(seconds = start.elapsed().as_secs_f64(), "model ready");

    let mut rng = SplitMix(0x5EED_2024);
    let mut inputs = HashMap::new();
    for info in engine.inputs() {
        let dtype = match &info.ty {
            ValueType::Tensor(f) => f.dtype.unwrap_or(DataType::F32),
            other => bail!(
                "input '{}' is a {}: bench can only make random tensors",
                info.name,
                crate::run::describe_type(other)
            ),
        };
        let shape = shapes.get(&info.name).cloned().unwrap_or_default();
        let t = random_tensor(dtype, &shape, &mut rng)
            .with_context(|| format!("input '{}'", info.name))?;
        inputs.insert(info.name.clone(), t);
    }

    let mut ctx = engine.create_context();
    ctx.set_cuda_graph(args.use_cuda_graph);
    let mut gpu_runs: Vec<kiln_engine::cuda::RunTimes> = Vec::new();
    let mut last_out = Vec::new();
    let mut run_once = |gpu_runs: &mut Vec<kiln_engine::cuda::RunTimes>| -> Result<Duration> {
        let t0 = Instant::now();
        last_out = ctx
            .run(inputs.clone())
            .with_context(|| format!("running '{}' failed", args.model.display()))?;
        let took = t0.elapsed();
        if let Some(t) = ctx.gpu_times() {
            gpu_runs.push(t);
        }
        Ok(took)
    };
    for _ in 0..args.warmup {
        run_once(&mut Vec::new())?;
    }
    let mut times = Vec::with_capacity(args.iterations as usize);
    let total = Instant::now();
    for _ in 0..args.iterations {
        times.push(run_once(&mut gpu_runs)?);
    }
    let wall = total.elapsed().as_secs_f64();
    crate::run::report_placement(&ctx);
    let gpu = gpu_summary(&gpu_runs);
    let accuracy = if args.check_accuracy {
        Some(check_accuracy(&args, &shapes, &inputs, &last_out)?)
    } else {
        None
    };
    let lat = latency(&times);
    let throughput = (batch * times.len()) as f64 / wall.max(f64::MIN_POSITIVE);
    let threads_used = engine.threads();

    if args.json {
        let obj = serde_json::json!({
            "model": args.model.display().to_string(),
            "batch": batch,
            "threads": threads_used,
            "device": engine.device_name(),
            "latency_ms": lat,
            "throughput_per_s": throughput,
            "iterations": times.len(),
            "warmup": args.warmup,
            "inputs": shapes,
            "precision": args.precision.precision().as_str(),
            "cuda_graph": gpu.as_ref().map(|g| g.graph),
            "gpu_ms": gpu,
            "accuracy": accuracy,
        });
        println!("{obj}");
    } else {
        println!("model:       {} ({})", args.model.display(), kind.name());
        for info in engine.inputs() {
            if let Some(s) = shapes.get(&info.name) {
                println!("input:       {} {}", info.name, kiln_core::Shape::fixed(s));
            }
        }
        println!("batch:       {batch}");
        println!("threads:     {threads_used}");
        println!("device:      {}", engine.device_name());
        println!(
            "iterations:  {} (after {} warmup)",
            times.len(),
            args.warmup
        );
        println!(
            "latency ms:  min {:.3}  mean {:.3}  median {:.3}  p90 {:.3}  p95 {:.3}  p99 {:.3}",
            lat.min, lat.mean, lat.median, lat.p90, lat.p95, lat.p99
        );
        println!("throughput:  {throughput:.1} samples/s");
        if let Some(g) = &gpu {
            println!(
                "gpu ms:      compute median {:.3} mean {:.3}  H2D median {:.3}  D2H median {:.3}{}",
                g.compute_median,
                g.compute_mean,
                g.h2d_median,
                g.d2h_median,
                if g.graph { "  (CUDA graph)" } else { "" }
            );
            println!(
                "gpu compute throughput: {:.1} samples/s",
                batch as f64 * 1e3 / g.compute_median.max(f64::MIN_POSITIVE)
            );
        }
        if let Some(acc) = &accuracy {
            for a in acc {
                println!(
                    "accuracy:    output '{}' vs CPU FP32: max abs {:.3e}, max rel {:.3e}",
                    a.output, a.max_abs, a.max_rel
                );
            }
        }
    }
    Ok(())
}

/// Device times of the timed GPU runs (medians and means, milliseconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct GpuSummary {
    /// Median compute time (layers only, no copies).
    pub compute_median: f64,
    /// Mean compute time.
    pub compute_mean: f64,
    /// Median host-to-device copy time.
    pub h2d_median: f64,
    /// Median device-to-host copy time.
    pub d2h_median: f64,
    /// True when the runs replayed a CUDA graph.
    pub graph: bool,
}

fn gpu_summary(runs: &[kiln_engine::cuda::RunTimes]) -> Option<GpuSummary> {
    if runs.is_empty() {
        return None;
    }
    let median = |f: &dyn Fn(&kiln_engine::cuda::RunTimes) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Some(GpuSummary {
        compute_median: median(&|t| t.compute_ms),
        compute_mean: runs.iter().map(|t| t.compute_ms).sum::<f64>() / runs.len() as f64,
        h2d_median: median(&|t| t.h2d_ms),
        d2h_median: median(&|t| t.d2h_ms),
        graph: runs.iter().all(|t| t.graph),
    })
}

/// Error of one output against the CPU FP32 result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputError {
    /// Output name.
    pub output: String,
    /// Largest absolute difference.
    pub max_abs: f64,
    /// `max_abs` over the largest absolute reference value.
    pub max_rel: f64,
}

/// Build the model for the CPU in FP32 (no tuning), run it on `inputs` and compare `got`.
fn check_accuracy(
    args: &BenchArgs,
    shapes: &HashMap<String, Vec<usize>>,
    inputs: &HashMap<String, Tensor>,
    got: &[(String, Tensor)],
) -> Result<Vec<OutputError>> {
    let engine = match model::detect(&args.model)? {
        ModelKind::Plan => bail!("--check-accuracy needs the model, not a plan"),
        ModelKind::Onnx | ModelKind::Caffe => {
            let graph = model::import_model(&args.model, &args.caffe)?;
            let mut config =
                model::builder_config(args.threads.map(|t| t as usize), shapes.clone(), None);
            config.tune = false;
            kiln_engine::Builder::new(config)
                .with_plugins(model::plugins().clone())
                .build(graph)
                .with_context(|| format!("cannot build '{}' for the CPU", args.model.display()))?
        }
    };
    let want = engine
        .create_context()
        .run(inputs.clone())
        .context("the CPU reference run failed")?;
    let mut out = Vec::new();
    for ((name, w), (_, g)) in want.iter().zip(got) {
        let (w, g) = (
            w.to_f64_vec().with_context(|| format!("output '{name}'"))?,
            g.to_f64_vec().with_context(|| format!("output '{name}'"))?,
        );
        if w.len() != g.len() {
            bail!(
                "output '{name}': {} values on the CPU, {} on the device",
                w.len(),
                g.len()
            );
        }
        let max_abs = w
            .iter()
            .zip(&g)
            .map(|(a, b)| (a - b).abs())
            .fold(
                0.0f64,
                |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
            );
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        out.push(OutputError {
            output: name.clone(),
            max_abs,
            max_rel: if scale > 0.0 {
                max_abs / scale
            } else {
                max_abs
            },
        });
    }
    Ok(out)
}

/// The concrete shape of every input and the effective batch size. `--shapes` entries win;
/// a symbolic or unknown first dimension becomes `batch` (as does the same symbol anywhere
/// else); other symbolic dimensions become 1.
pub fn concrete_shapes(
    inputs: &[ValueInfo],
    user: &HashMap<String, Vec<usize>>,
    batch: usize,
) -> Result<(HashMap<String, Vec<usize>>, usize)> {
    let mut out = HashMap::new();
    let mut batch_syms = Vec::new();
    let mut batched = false;
    for info in inputs {
        if user.contains_key(&info.name) {
            continue;
        }
        if let Some(first) = info
            .ty
            .tensor()
            .and_then(|f| f.shape.as_ref())
            .and_then(|s| s.0.first())
        {
            match first {
                Dim::Sym(s) => {
                    batch_syms.push(s.clone());
                    batched = true;
                }
                Dim::Unknown => batched = true,
                Dim::Fixed(_) => {}
            }
        }
    }
    let mut need_shapes = Vec::new();
    for info in inputs {
        if let Some(dims) = user.get(&info.name) {
            if let Some(shape) = info
                .ty
                .tensor()
                .and_then(|f| f.shape.as_ref())
                .filter(|s| !s.matches(dims))
            {
                bail!(
                    "--shapes gives input '{}' the shape {dims:?}, which does not fit the \
                     model's {shape}",
                    info.name
                );
            }
            out.insert(info.name.clone(), dims.clone());
            continue;
        }
        let Some(shape) = info.ty.tensor().and_then(|f| f.shape.as_ref()) else {
            need_shapes.push(info.name.as_str());
            continue;
        };
        let dims = shape
            .0
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Fixed(n) => *n,
                Dim::Sym(s) if batch_syms.contains(s) => batch,
                Dim::Unknown if i == 0 => batch,
                _ => 1,
            })
            .collect();
        out.insert(info.name.clone(), dims);
    }
    if !need_shapes.is_empty() {
        bail!(
            "the rank of input(s) {} is unknown: give their shapes with --shapes NAME:DIMS",
            quote_list(need_shapes)
        );
    }
    if !batched && batch != 1 {
        tracing::warn!("no input has a symbolic first dimension: --batch {batch} is ignored");
        return Ok((out, 1));
    }
    Ok((out, batch))
}

/// Min/mean/median/percentiles of run times, in milliseconds.
pub fn latency(times: &[Duration]) -> Latency {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    if n == 0 {
        return Latency {
            min: 0.0,
            mean: 0.0,
            median: 0.0,
            p90: 0.0,
            p95: 0.0,
            p99: 0.0,
        };
    }
    let pct = |p: f64| {
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        ms[rank.clamp(1, n) - 1]
    };
    let median = if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    };
    Latency {
        min: ms[0],
        mean: ms.iter().sum::<f64>() / n as f64,
        median,
        p90: pct(90.0),
        p95: pct(95.0),
        p99: pct(99.0),
    }
}

/// A small deterministic generator (SplitMix64): benchmark inputs need no crypto.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A tensor of random values: floats in [-1, 1), integers in [0, 10), random booleans.
fn random_tensor(dtype: DataType, shape: &[usize], rng: &mut SplitMix) -> Result<Tensor> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .context("shape too large")?;
    macro_rules! fill {
        ($f:expr) => {
            Tensor::from_vec(shape, (0..n).map(|_| $f).collect::<Vec<_>>())?
        };
    }
    Ok(match dtype {
        DataType::F32 => fill!(rng.unit() as f32),
        DataType::F64 => fill!(rng.unit()),
        DataType::F16 => fill!(f16::from_f64(rng.unit())),
        DataType::BF16 => fill!(bf16::from_f64(rng.unit())),
        DataType::I8 => fill!(rng.below(10) as i8),
        DataType::U8 => fill!(rng.below(10) as u8),
        DataType::I16 => fill!(rng.below(10) as i16),
        DataType::U16 => fill!(rng.below(10) as u16),
        DataType::I32 => fill!(rng.below(10) as i32),
        DataType::U32 => fill!(rng.below(10) as u32),
        DataType::I64 => fill!(rng.below(10) as i64),
        DataType::U64 => fill!(rng.below(10)),
        DataType::Bool => fill!(rng.below(2) == 1),
        DataType::String => bail!("bench cannot make random string inputs"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Shape;

    #[test]
    fn percentiles() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = latency(&times);
        assert_eq!(
            (l.min, l.median, l.p90, l.p95, l.p99),
            (1.0, 50.5, 90.0, 95.0, 99.0)
        );
        assert!((l.mean - 50.5).abs() < 1e-9);
        let l = latency(&[Duration::from_millis(3)]);
        assert_eq!((l.min, l.median, l.p99), (3.0, 3.0, 3.0));
    }

    #[test]
    fn shapes_from_batch_and_user() {
        let sym = |s: &str| Dim::Sym(s.to_string());
        let inputs = vec![
            ValueInfo::tensor("ids", DataType::I64, Shape(vec![sym("B"), sym("S")])),
            ValueInfo::tensor(
                "img",
                DataType::F32,
                Shape(vec![Dim::Unknown, Dim::Fixed(3)]),
            ),
            ValueInfo::tensor("scale", DataType::F32, Shape(vec![Dim::Fixed(2), sym("B")])),
        ];
        let (s, b) = concrete_shapes(&inputs, &HashMap::new(), 4).unwrap();
        assert_eq!(b, 4);
        assert_eq!(
            (s["ids"].clone(), s["img"].clone()),
            (vec![4, 1], vec![4, 3])
        );
        assert_eq!(s["scale"], vec![2, 4]);
        let user = HashMap::from([("ids".to_string(), vec![4, 128])]);
        let (s, _) = concrete_shapes(&inputs, &user, 4).unwrap();
        assert_eq!(s["ids"], vec![4, 128]);
        let bad = HashMap::from([("img".to_string(), vec![4, 5])]);
        assert!(concrete_shapes(&inputs, &bad, 4).is_err());
        let fixed = vec![ValueInfo::tensor("x", DataType::F32, Shape::fixed(&[2, 2]))];
        assert_eq!(concrete_shapes(&fixed, &HashMap::new(), 8).unwrap().1, 1);
    }

    #[test]
    fn random_inputs_respect_dtypes() {
        let mut rng = SplitMix(1);
        for dt in DataType::ALL {
            let t = random_tensor(dt, &[2, 3], &mut rng);
            if dt == DataType::String {
                assert!(t.is_err());
            } else {
                let t = t.unwrap();
                assert_eq!((t.dtype(), t.shape()), (dt, &[2usize, 3][..]));
            }
        }
        let t = random_tensor(DataType::F32, &[1000], &mut rng).unwrap();
        assert!(
            t.to_f64_vec()
                .unwrap()
                .iter()
                .all(|x| (-1.0..1.0).contains(x))
        );
    }
}
