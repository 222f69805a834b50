//! Prometheus metrics in Triton's names and labels, rendered from the statistics on every
//! scrape of `/metrics`.

use crate::core::Core;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// One metric family: name, type, help, and the value of each model version.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&crate::stats::ModelStats) -> f64,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "nv_inference_request_success",
        kind: "counter",
        help: "Number of successful inference requests, all batch sizes",
        value: |s| s.success.get().0 as f64,
    },
    Family {
        name: "nv_inference_request_failure",
        kind: "counter",
        help: "Number of failed inference requests, all batch sizes",
        value: |s| s.fail.get().0 as f64,
    },
    Family {
        name: "nv_inference_count",
        kind: "counter",
        help: "Number of inferences performed (does not include cached requests)",
        value: |s| s.inference_count.load(Relaxed) as f64,
    },
    Family {
        name: "nv_inference_exec_count",
        kind: "counter",
        help: "Number of model executions performed (does not include cached requests)",
        value: |s| s.execution_count.load(Relaxed) as f64,
    },
    Family {
        name: "nv_inference_request_duration_us",
        kind: "counter",
        help: "Cumulative inference request duration in microseconds (includes cached requests)",
        value: |s| (s.success.get().1 + s.fail.get().1) as f64 / 1000.0,
    },
    Family {
        name: "nv_inference_queue_duration_us",
        kind: "counter",
        help: "Cumulative inference queuing duration in microseconds (includes cached requests)",
        value: |s| s.queue.get().1 as f64 / 1000.0,
    },
    Family {
        name: "nv_inference_compute_input_duration_us",
        kind: "counter",
        help: "Cumulative compute input duration in microseconds (does not include cached requests)",
        value: |s| s.compute_input.get().1 as f64 / 1000.0,
    },
    Family {
        name: "nv_inference_compute_infer_duration_us",
        kind: "counter",
        help: "Cumulative compute inference duration in microseconds (does not include cached requests)",
        value: |s| s.compute_infer.get().1 as f64 / 1000.0,
    },
    Family {
        name: "nv_inference_compute_output_duration_us",
        kind: "counter",
        help: "Cumulative inference compute output duration in microseconds (does not include cached requests)",
        value: |s| s.compute_output.get().1 as f64 / 1000.0,
    },
    Family {
        name: "nv_inference_pending_request_count",
        kind: "gauge",
        help: "Instantaneous number of pending requests awaiting execution per-model.",
        value: |s| s.pending.load(Relaxed).max(0) as f64,
    },
];

/// The Prometheus text exposition of every loaded model version.
pub fn render(core: &Core) -> String {
    let stats = core.statistics(None, None).unwrap_or_default();
    let mut out = String::new();
    for f in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (model, version, s) in &stats {
            let _ = writeln!(
                out,
                "{}{{model=\"{}\",version=\"{version}\"}} {}",
                f.name,
                escape(model),
                (f.value)(s)
            );
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics router (`GET /metrics`).
pub fn router(core: std::sync::Arc<Core>) -> axum::Router {
    use axum::http::header;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let core = core.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(&core),
                )
            }
        }),
    )
}
