//! The `kiln` command: build, run, inspect and benchmark ONNX models and Kiln plans.
//!
//! Every failure prints one `error: ...` message (with its context chain: file, node,
//! input name) to stderr and exits with status 1; usage errors exit with status 2.

mod bench;
mod build;
mod inspect;
mod model;
mod npy;
mod perf;
mod run;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Kiln: an inference optimizer and runtime.
///
/// Reads ONNX models, optimizes them into plans for this machine, and runs models and plans.
/// A MODEL argument may be an ONNX file or a plan written by `kiln build`: plans are
/// recognized by their magic number, whatever their file name.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Log progress to stderr (-v: info, -vv: debug, -vvv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a model or plan once on inputs from .npy or ONNX TensorProto .pb files.
    ///
    /// Prints a summary of every output (name, dtype, shape, first values) and, with
    /// --output-dir, writes each output to DIR/<name>.npy ('/' and ':' in names become '_').
    ///
    /// Example: kiln run model.onnx --input input=image.npy --output-dir out/
    Run(run::RunArgs),
    /// Optimize an ONNX model for this machine and write a plan file.
    ///
    /// Example: kiln build model.onnx -o model.plan --shapes input:1x3x224x224
    Build(build::BuildArgs),
    /// Show what Kiln knows of a model (support of every node) or a plan (layers, tactics,
    /// memory plan, target).
    ///
    /// Example: kiln inspect model.plan --json
    Inspect(inspect::InspectArgs),
    /// Measure latency and throughput of a model or plan on random inputs.
    ///
    /// Example: kiln bench model.onnx --batch 8 --iterations 200 --json
    Bench(bench::BenchArgs),
    /// Serve a Triton-layout model repository over HTTP and gRPC (KServe v2) with metrics.
    ///
    /// Example: kiln serve --model-repository examples/model_repository
    Serve(serve::ServeArgs),
    /// Load-test a KServe v2 server (Kiln or Triton) over HTTP or gRPC: throughput and
    /// p50/p90/p95/p99 latency per concurrency level.
    ///
    /// Example: kiln perf -m simple --concurrency-range 1,8,64 -i grpc -u localhost:8001
    Perf(perf::PerfArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    install_panic_hook();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Build(args) => build::main(args),
        Command::Inspect(args) => inspect::main(args),
        Command::Bench(args) => bench::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Perf(args) => perf::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .try_init();
}

/// A bug somewhere below must not end in a backtrace: report it like any other error.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error (a bug in kiln, please report it): {msg}{place}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
