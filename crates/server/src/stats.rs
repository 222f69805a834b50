//! Per model-version statistics (Triton's statistics extension and the Prometheus metrics
//! are both read from here). Counters are atomics updated by the instance threads.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cumulative count and duration.
#[derive(Debug, Default)]
pub struct DurationStat {
    count: AtomicU64,
    ns: AtomicU64,
}

impl DurationStat {
    /// Add one occurrence.
    pub fn add(&self, d: Duration) {
        self.add_n(1, d);
    }

    /// Add `n` occurrences totalling `d`.
    pub fn add_n(&self, n: u64, d: Duration) {
        self.count.fetch_add(n, Ordering::Relaxed);
        self.ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// (count, nanoseconds).
    pub fn get(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.ns.load(Ordering::Relaxed),
        )
    }
}

/// Compute durations of executions of one batch size: (count, input ns, infer ns, output ns).
pub type BatchStat = (u64, u64, u64, u64);

/// Statistics of one model version.
#[derive(Debug, Default)]
pub struct ModelStats {
    /// Successful requests (whole time in the server).
    pub success: DurationStat,
    /// Failed requests.
    pub fail: DurationStat,
    /// Time in the scheduler queue.
    pub queue: DurationStat,
    /// Preparing inputs (batching, conversion).
    pub compute_input: DurationStat,
    /// Running the model.
    pub compute_infer: DurationStat,
    /// Extracting outputs.
    pub compute_output: DurationStat,
    /// Inferences (a batch-8 request counts 8).
    pub inference_count: AtomicU64,
    /// Model executions.
    pub execution_count: AtomicU64,
    /// Milliseconds since the epoch of the last request.
    pub last_inference_ms: AtomicU64,
    /// Requests queued or running.
    pub pending: AtomicI64,
    /// Per batch size.
    pub batches: Mutex<BTreeMap<u64, BatchStat>>,
}

impl ModelStats {
    /// Record one model execution of `batch` inferences.
    pub fn record_execution(&self, batch: u64, input: Duration, infer: Duration, output: Duration) {
        self.execution_count.fetch_add(1, Ordering::Relaxed);
        self.inference_count.fetch_add(batch, Ordering::Relaxed);
        if let Ok(mut m) = self.batches.lock() {
            let e = m.entry(batch).or_default();
            e.0 += 1;
            e.1 += input.as_nanos() as u64;
            e.2 += infer.as_nanos() as u64;
            e.3 += output.as_nanos() as u64;
        }
    }

    /// Record the end of a request.
    pub fn record_request(&self, ok: bool, total: Duration) {
        if ok {
            self.success.add(total);
        } else {
            self.fail.add(total);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.last_inference_ms.store(now, Ordering::Relaxed);
    }

    /// The statistics as Triton's JSON (`model_stats` entry) for `name`/`version`.
    pub fn to_json(&self, name: &str, version: &str) -> serde_json::Value {
        use serde_json::json;
        let d = |s: &DurationStat| {
            let (count, ns) = s.get();
            json!({"count": count, "ns": ns})
        };
        let batches: Vec<serde_json::Value> = self
            .batches
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(size, &(n, i, c, o))| {
                        json!({
                            "batch_size": size,
                            "compute_input": {"count": n, "ns": i},
                            "compute_infer": {"count": n, "ns": c},
                            "compute_output": {"count": n, "ns": o},
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms.load(Ordering::Relaxed),
            "inference_count": self.inference_count.load(Ordering::Relaxed),
            "execution_count": self.execution_count.load(Ordering::Relaxed),
            "inference_stats": {
                "success": d(&self.success),
                "fail": d(&self.fail),
                "queue": d(&self.queue),
                "compute_input": d(&self.compute_input),
                "compute_infer": d(&self.compute_infer),
                "compute_output": d(&self.compute_output),
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": batches,
        })
    }
}
