//! `kiln serve` as a process: on SIGTERM (and SIGINT) it stops accepting, finishes the request
//! in flight (answered 200) and exits 0.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A repository with the example CNN behind a dynamic batcher that holds a lone request for
/// 1.5 s (so a request is surely in flight when the signal arrives).
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("slow_queue");
    std::fs::create_dir_all(model.join("1")).unwrap();
    std::fs::copy(
        root().join("examples/model_repository/cnn_classifier/1/model.onnx"),
        model.join("1/model.onnx"),
    )
    .unwrap();
    std::fs::write(
        model.join("config.pbtxt"),
        "platform: \"onnxruntime_onnx\"\nmax_batch_size: 16\n\
         input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]\n\
         output [ { name: \"probs\" data_type: TYPE_FP32 dims: [ 10 ] } ]\n\
         dynamic_batching { preferred_batch_size: [ 16 ] max_queue_delay_microseconds: 1500000 }\n",
    )
    .unwrap();
    dir
}

/// Start `kiln serve` on loopback ephemeral ports; returns the child and its HTTP address.
fn serve(repo: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", "--model-repository", s(repo), "--threads", "1"])
        .args([
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.strip_prefix("HTTP listening on ") {
                    break a.trim().to_string();
                }
                seen.push(line);
            }
            _ => {
                let _ = child.kill();
                panic!("kiln serve did not start:\n{}", seen.join("\n"));
            }
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// POST a CNN inference with `Connection: close`; returns the status line and the body.
fn infer(addr: &str) -> std::io::Result<(String, String)> {
    let data: Vec<String> = (0..3 * 32 * 32)
        .map(|i| format!("{}", (i % 7) as f32 * 0.1))
        .collect();
    let body = format!(
        "{{\"inputs\":[{{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[1,3,32,32],\"data\":[{}]}}]}}",
        data.join(",")
    );
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        conn,
        "POST /v2/models/slow_queue/infer HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let status = answer.lines().next().unwrap_or("").to_string();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill {sig} failed");
}

#[test]
fn sigterm_and_sigint_finish_requests_in_flight_and_exit_0() {
    let repo = repository();
    for sig in ["-TERM", "-INT"] {
        let (mut child, addr) = serve(repo.path());
        let a = addr.clone();
        let request = std::thread::spawn(move || infer(&a));
        // The request is now waiting in the batcher's queue.
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, sig);
        let (status, body) = request
            .join()
            .unwrap()
            .expect("the request in flight is answered");
        assert!(status.contains(" 200 "), "{sig}: {status} {body}");
        assert!(body.contains("\"probs\""), "{sig}: {body}");
        let Some(exit) = wait_exit(&mut child, Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("kiln serve did not exit within 30 s of {sig}");
        };
        assert!(exit.success(), "{sig}: kiln serve exited with {exit}");
        assert!(
            TcpStream::connect(&addr).is_err(),
            "{sig}: still accepting connections after exit"
        );
    }
}
