//! Shared helpers of the server integration tests: start a server in-process on loopback
//! ephemeral ports over a copy of the example repository.

#![allow(dead_code)]

use kiln_server::{ControlMode, Server, ServerOptions};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The example model repository of the workspace.
pub fn example_repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/model_repository")
}

/// Copy the named models of the example repository into a fresh temporary repository.
pub fn temp_repository(models: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for m in models {
        copy_dir(&example_repository().join(m), &dir.path().join(m));
    }
    dir
}

/// Recursive copy.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.expect("dir entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy file");
        }
    }
}

/// Start a server on loopback with any free ports.
pub async fn start(repo: &Path, mode: ControlMode, load: &[&str]) -> Server {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let opts = ServerOptions {
        repository: repo.to_path_buf(),
        http_addr: Some(any),
        grpc_addr: Some(any),
        metrics_addr: Some(any),
        mode,
        poll_interval: Duration::from_millis(200),
        load_models: load.iter().map(|s| s.to_string()).collect(),
        threads: Some(1),
        max_message: 8 << 20,
    };
    Server::start(opts).await.expect("server starts")
}

/// `http://ADDR`.
pub fn http_base(s: &Server) -> String {
    format!("http://{}", s.http_addr().expect("http endpoint"))
}

/// INT32 values as little-endian bytes.
pub fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes as INT32 values.
pub fn i32_values(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
