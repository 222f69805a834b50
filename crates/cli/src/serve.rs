//! `kiln serve`: serve a Triton-layout model repository over HTTP and gRPC (KServe v2),
//! with Prometheus metrics, until SIGINT or SIGTERM.

use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_server::{ControlMode, Server, ServerOptions};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `kiln serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model repository: <DIR>/<model>/config.pbtxt, <DIR>/<model>/<version>/model.*.
    #[arg(long, value_name = "DIR")]
    pub model_repository: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// HTTP/REST port (0: any free port).
    #[arg(long, default_value_t = 8000)]
    pub http_port: u16,
    /// gRPC port (0: any free port).
    #[arg(long, default_value_t = 8001)]
    pub grpc_port: u16,
    /// Prometheus metrics port (0: any free port).
    #[arg(long, default_value_t = 8002)]
    pub metrics_port: u16,
    /// Disable the HTTP endpoint.
    #[arg(long)]
    pub no_http: bool,
    /// Disable the gRPC endpoint.
    #[arg(long)]
    pub no_grpc: bool,
    /// Disable the metrics endpoint.
    #[arg(long)]
    pub no_metrics: bool,
    /// How models are loaded: none (all at startup), poll (all, then rescan the repository),
    /// explicit (only --load-model, then through the repository API).
    #[arg(long, default_value = "none", value_parser = ["none", "poll", "explicit"])]
    pub model_control_mode: String,
    /// Seconds between repository rescans in poll mode.
    #[arg(long, default_value_t = 15)]
    pub repository_poll_secs: u64,
    /// Model to load at startup in explicit mode (repeatable; `*` loads all).
    #[arg(long, value_name = "NAME")]
    pub load_model: Vec<String>,
    /// Worker threads per model engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Largest HTTP request body and gRPC message in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_message_mib: usize,
    /// Where custom backends (`backend: "<name>"` -> `libkiln_<name>.so`) are searched after
    /// the model's version directory and the model directory.
    #[arg(long, value_name = "DIR")]
    pub backend_directory: Option<PathBuf>,
    #[command(flatten)]
    pub plugins: crate::model::PluginArgs,
}

/// Run the server until a shutdown signal.
pub fn main(args: ServeArgs) -> Result<()> {
    let mode = ControlMode::parse(&args.model_control_mode)
        .with_context(|| format!("unknown model control mode '{}'", args.model_control_mode))?;
    if !args.load_model.is_empty() && mode != ControlMode::Explicit {
        bail!("--load-model needs --model-control-mode explicit");
    }
    let addr = |port: u16, off: bool| (!off).then_some(SocketAddr::new(args.host, port));
    let opts = ServerOptions {
        repository: args.model_repository.clone(),
        http_addr: addr(args.http_port, args.no_http),
        grpc_addr: addr(args.grpc_port, args.no_grpc),
        metrics_addr: addr(args.metrics_port, args.no_metrics),
        mode,
        poll_interval: Duration::from_secs(args.repository_poll_secs.max(1)),
        load_models: args.load_model.clone(),
        threads: args.threads,
        max_message: args.max_message_mib.saturating_mul(1 << 20),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let load = kiln_server::loader::LoadOptions {
            plugins: crate::model::init_plugins(&args.plugins)
                .map_err(|e| kiln_server::ServerError::InvalidArg(format!("{e:#}")))?
                .clone(),
            backend_directory: args.backend_directory.clone(),
            ..Default::default()
        };
        let server = Server::start_with_plugins(opts, load).await?;
        for rec in server.core().manager.records() {
            let state = rec.state();
            if state.reason().is_empty() {
                eprintln!("model '{}': {}", rec.name, state.name());
            } else {
                eprintln!(
                    "model '{}': {} ({})",
                    rec.name,
                    state.name(),
                    state.reason()
                );
            }
        }
        let show = |what: &str, a: Option<SocketAddr>| {
            if let Some(a) = a {
                eprintln!("{what} listening on {a}");
            }
        };
        show("HTTP", server.http_addr());
        show("gRPC", server.grpc_addr());
        show("metrics", server.metrics_addr());
        wait_for_signal().await;
        eprintln!("shutting down: finishing requests in flight");
        server.shutdown().await;
        Ok::<(), kiln_server::ServerError>(())
    })?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
