//! Starting and stopping the server: load the repository, serve HTTP, gRPC and metrics,
//! poll the repository in poll mode, shut down gracefully.

use crate::core::{ControlMode, Core};
use crate::error::{Result, ServerError};
use crate::grpc::GrpcService;
use crate::http::{HttpState, router};
use crate::loader::LoadOptions;
use crate::manager::ModelManager;
use crate::proto::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest gRPC message and default largest HTTP body (bytes).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// Settings of a server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The model repository directory.
    pub repository: PathBuf,
    /// HTTP address (`None`: no HTTP endpoint).
    pub http_addr: Option<SocketAddr>,
    /// gRPC address (`None`: no gRPC endpoint).
    pub grpc_addr: Option<SocketAddr>,
    /// Metrics address (`None`: no metrics endpoint).
    pub metrics_addr: Option<SocketAddr>,
    /// Model control mode.
    pub mode: ControlMode,
    /// Repository rescan interval in poll mode.
    pub poll_interval: Duration,
    /// Models to load at startup in explicit mode (`*`: all).
    pub load_models: Vec<String>,
    /// Worker threads per engine (`None`: all cores).
    pub threads: Option<usize>,
    /// Largest HTTP request body and gRPC message, in bytes.
    pub max_message: usize,
}

impl ServerOptions {
    /// Defaults: ports 8000/8001/8002 on `host`, mode none, poll every 15 s.
    pub fn new(repository: impl Into<PathBuf>, host: std::net::IpAddr) -> ServerOptions {
        ServerOptions {
            repository: repository.into(),
            http_addr: Some(SocketAddr::new(host, 8000)),
            grpc_addr: Some(SocketAddr::new(host, 8001)),
            metrics_addr: Some(SocketAddr::new(host, 8002)),
            mode: ControlMode::None,
            poll_interval: Duration::from_secs(15),
            load_models: Vec::new(),
            threads: None,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A running server.
pub struct Server {
    core: Arc<Core>,
    http_addr: Option<SocketAddr>,
    grpc_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> Result<Option<TcpListener>> {
    match addr {
        None => Ok(None),
        Some(a) => TcpListener::bind(a)
            .await
            .map(Some)
            .map_err(|e| ServerError::Unavailable(format!("cannot listen for {what} on {a}: {e}"))),
    }
}

impl Server {
    /// Load the repository (per the control mode) and start the endpoints.
    pub async fn start(opts: ServerOptions) -> Result<Server> {
        Server::start_with_plugins(opts, LoadOptions::default()).await
    }

    /// [`Server::start`] with plugin libraries (`--plugin`) and a custom backend directory
    /// (`--backend-directory`) in `load` (its `threads` is replaced by `opts.threads`).
    pub async fn start_with_plugins(opts: ServerOptions, load: LoadOptions) -> Result<Server> {
        if !opts.repository.is_dir() {
            return Err(ServerError::InvalidArg(format!(
                "the model repository '{}' is not a directory",
                opts.repository.display()
            )));
        }
        let http = bind(opts.http_addr, "HTTP").await?;
        let grpc = bind(opts.grpc_addr, "gRPC").await?;
        let metrics = bind(opts.metrics_addr, "metrics").await?;
        let manager = ModelManager::new(
            &opts.repository,
            LoadOptions {
                threads: opts.threads,
                ..load
            },
        );
        let core = Arc::new(Core::new(manager, opts.mode));
        let startup = startup_models(&opts)?;
        let c = core.clone();
        tokio::task::spawn_blocking(move || {
            for name in startup {
                // A model that fails is UNAVAILABLE with its reason; the others serve.
                let _ = c.manager.load(&name, None);
            }
        })
        .await
        .map_err(|e| ServerError::Internal(format!("startup loading failed: {e}")))?;
        core.set_ready(true);

        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let (http_addr, grpc_addr, metrics_addr) = (local(&http), local(&grpc), local(&metrics));
        if let Some(l) = http {
            let app = router(HttpState {
                core: core.clone(),
                max_body: opts.max_message,
            });
            let mut rx = stop_rx.clone();
            let l = axum::serve::ListenerExt::tap_io(l, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tasks.push(tokio::spawn(async move {
                let r = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            }));
        }
        if let Some(l) = grpc {
            let svc = GrpcInferenceServiceServer::new(GrpcService::new(core.clone()))
                .max_decoding_message_size(opts.max_message)
                .max_encoding_message_size(opts.max_message);
            let incoming = tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true));
            let mut rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let r = tonic::transport::Server::builder()
                    .add_service(crate::grpc::SizeLimitStatus(svc))
                    .serve_with_incoming_shutdown(incoming, async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "gRPC server failed");
                }
            }));
        }
        if let Some(l) = metrics {
            let app = crate::metrics::router(core.clone());
            let mut rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            }));
        }
        if opts.mode == ControlMode::Poll {
            tasks.push(tokio::spawn(poll_loop(
                core.clone(),
                opts.poll_interval,
                stop_rx.clone(),
            )));
        }
        tracing::info!(?http_addr, ?grpc_addr, ?metrics_addr, "kiln server started");
        Ok(Server {
            core,
            http_addr,
            grpc_addr,
            metrics_addr,
            stop,
            tasks,
        })
    }

    /// The core (models, statistics).
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Where HTTP listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Where gRPC listens.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// Where metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stop accepting, let requests in flight finish, then unload the models.
    pub async fn shutdown(self) {
        self.core.set_ready(false);
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.core.manager.unload_all();
        tracing::info!("kiln server stopped");
    }
}

/// The models to load at startup.
fn startup_models(opts: &ServerOptions) -> Result<Vec<String>> {
    let all = crate::source::model_names(&opts.repository)?;
    if opts.mode != ControlMode::Explicit || opts.load_models.iter().any(|m| m == "*") {
        return Ok(all);
    }
    Ok(opts.load_models.clone())
}

/// Poll mode: reload models whose files changed, load new ones, unload removed ones.
async fn poll_loop(core: Arc<Core>, every: Duration, mut stop: watch::Receiver<bool>) {
    let repo = core.manager.repository().to_path_buf();
    let mut seen: HashMap<String, u64> = HashMap::new();
    if let Ok(names) = crate::source::model_names(&repo) {
        for n in names {
            seen.insert(n.clone(), crate::repository::fingerprint(&repo.join(&n)));
        }
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let c = core.clone();
        let before = seen.clone();
        let r = tokio::task::spawn_blocking(move || {
            let repo = c.manager.repository().to_path_buf();
            let names = crate::source::model_names(&repo).unwrap_or_default();
            let mut now = HashMap::new();
            for n in &names {
                let fp = crate::repository::fingerprint(&repo.join(n));
                if before.get(n) != Some(&fp) {
                    tracing::info!(model = %n, "repository change: (re)loading");
                    let _ = c.manager.load(n, None);
                }
                now.insert(n.clone(), fp);
            }
            for gone in before.keys().filter(|n| !now.contains_key(*n)) {
                tracing::info!(model = %gone, "removed from the repository: unloading");
                let _ = c.manager.unload(gone);
            }
            now
        })
        .await;
        if let Ok(now) = r {
            seen = now;
        }
    }
}
