//! Running many node tests in parallel, with a watchdog for cases that hang.

use crate::{CaseReport, Device, Outcome, run_case_on};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A case that runs longer than this is reported as stuck and the run is aborted.
pub const CASE_LIMIT: Duration = Duration::from_secs(300);

/// Run `cases` (folder names under `dir`) on `threads` workers; results in input order.
pub fn run_all(dir: &Path, cases: &[String], threads: usize) -> Vec<(String, Outcome)> {
    run_all_on(dir, cases, threads, Device::Cpu)
        .into_iter()
        .map(|(n, r)| (n, r.outcome))
        .collect()
}

/// [`run_all`] with every engine built for `device`; each result also tells where the
/// layers ran (GPU devices).
pub fn run_all_on(
    dir: &Path,
    cases: &[String],
    threads: usize,
    device: Device,
) -> Vec<(String, CaseReport)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseReport>>> = Mutex::new(vec![None; cases.len()]);
    let running: Arc<Mutex<Vec<Option<(String, Instant)>>>> =
        Arc::new(Mutex::new(vec![None; threads.max(1)]));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let running = Arc::clone(&running);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let slots = running.lock().map(|s| s.clone()).unwrap_or_default();
                for (name, start) in slots.into_iter().flatten() {
                    if start.elapsed() > CASE_LIMIT {
                        eprintln!("conformance: case {name} ran over {CASE_LIMIT:?}; aborting");
                        std::process::exit(2);
                    }
                }
            }
        })
    };
    std::thread::scope(|s| {
        for w in 0..threads.max(1) {
            let (next, results, running) = (&next, &results, &running);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = cases.get(i) else { break };
                    if let Ok(mut r) = running.lock() {
                        r[w] = Some((name.clone(), Instant::now()));
                    }
                    let outcome = run_case_on(&dir.join(name), device);
                    if let Ok(mut r) = running.lock() {
                        r[w] = None;
                    }
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                }
            });
        }
    });
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let results = results.into_inner().unwrap_or_default();
    cases
        .iter()
        .cloned()
        .zip(results)
        .map(|(n, o)| {
            let report = o.unwrap_or(CaseReport {
                outcome: Outcome::Error("not run".into()),
                placement: None,
            });
            (n, report)
        })
        .collect()
}

/// Worker count: `$KILN_TEST_THREADS` or the available parallelism.
pub fn default_threads() -> usize {
    std::env::var("KILN_TEST_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
}

/// Group failures by a short reason (first diagnostic or message prefix), most common first.
pub fn failure_groups(results: &[(String, Outcome)]) -> Vec<(String, usize)> {
    let mut map: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, o) in results.iter().filter(|(_, o)| !o.passed()) {
        let msg = o.message();
        let key = group_key(o.kind(), msg);
        *map.entry(key).or_default() += 1;
    }
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn group_key(kind: &str, msg: &str) -> String {
    // Most messages start with a node/op context; keep the op type when one is named.
    if let Some(start) = msg.find(" (") {
        if let Some(end) = msg[start + 2..].find(')') {
            let op = &msg[start + 2..start + 2 + end];
            if !op.contains(' ') && !op.is_empty() {
                return format!("{kind}: {op}");
            }
        }
    }
    let short: String = msg.chars().take(60).collect();
    format!("{kind}: {short}")
}
