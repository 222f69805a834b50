//! The dynamic batcher: one thread per model version holding a queue per priority level.
//! It sends a batch when an instance is free and either the queued requests fill one of the
//! preferred sizes (the largest that fits goes), the batch reached max_batch_size (no
//! preferred sizes), or the oldest request waited max_queue_delay.
//! Requests are batched only with requests of the same input names and trailing shapes.

use crate::error::ServerError;
use crate::instance::Pending;
use crate::stats::ModelStats;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, select};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A queue policy (Triton's `ModelQueuePolicy`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueuePolicy {
    /// Timed-out requests are delayed (kept) instead of rejected.
    pub delay_on_timeout: bool,
    /// Queue timeout (0: none).
    pub default_timeout_us: u64,
    /// Requests may set their own timeout.
    pub allow_timeout_override: bool,
    /// Largest number of queued requests (0: unbounded).
    pub max_queue_size: u32,
}

/// Settings of the dynamic batcher (Triton's `ModelDynamicBatching`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatcherSettings {
    /// Preferred batch sizes.
    pub preferred: Vec<usize>,
    /// Longest a request waits for others to join its batch.
    pub max_queue_delay: Duration,
    /// Number of priority levels (0: one level).
    pub priority_levels: u32,
    /// Level of requests that give none (1-based).
    pub default_priority: u32,
    /// Policy of each level (index 0 is level 1).
    pub policies: Vec<QueuePolicy>,
    /// Answer requests in the order they arrived (`preserve_ordering`), even when several
    /// instances finish their batches out of order.
    pub preserve_ordering: bool,
}

impl BatcherSettings {
    /// The queue index of a request priority (0 or out of range: the default level).
    pub fn level_of(&self, priority: u32) -> usize {
        let levels = self.priority_levels.max(1);
        let p = if priority == 0 || priority > levels {
            self.default_priority.clamp(1, levels)
        } else {
            priority
        };
        (p - 1) as usize
    }

    /// The queue deadline of a request arriving now at `level`.
    pub fn deadline(&self, level: usize, request_timeout_us: u64, now: Instant) -> Option<Instant> {
        let pol = self.policies.get(level)?;
        let us = if pol.allow_timeout_override && request_timeout_us > 0 {
            request_timeout_us
        } else {
            pol.default_timeout_us
        };
        (us > 0).then(|| now + Duration::from_micros(us))
    }
}

/// The batcher thread's loop.
pub(super) fn run(
    model: &str,
    settings: BatcherSettings,
    max_batch: usize,
    incoming: Receiver<Pending>,
    free: Receiver<()>,
    instances: Sender<Vec<Pending>>,
    stats: Arc<ModelStats>,
) {
    let levels = settings.priority_levels.max(1) as usize;
    let mut queues: Vec<VecDeque<Pending>> = (0..levels).map(|_| VecDeque::new()).collect();
    let target = settings
        .preferred
        .iter()
        .copied()
        .max()
        .unwrap_or(max_batch)
        .clamp(1, max_batch.max(1));
    let mut idle = 0usize;
    let mut closing = false;
    let order = if settings.preserve_ordering {
        match start_sequencer(model) {
            Ok(tx) => Some(tx),
            Err(e) => {
                tracing::error!(model, error = %e, "preserve_ordering is off");
                None
            }
        }
    } else {
        None
    };
    let accept = |settings: &BatcherSettings,
                  queues: &mut Vec<VecDeque<Pending>>,
                  mut p: Pending,
                  stats: &ModelStats| {
        if let Some(order) = &order {
            p = in_order(order, p);
        }
        admit(model, settings, queues, p, stats)
    };
    loop {
        // Take everything that arrived.
        loop {
            match incoming.try_recv() {
                Ok(p) => accept(&settings, &mut queues, p, &stats),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    closing = true;
                    break;
                }
            }
        }
        while free.try_recv().is_ok() {
            idle += 1;
        }
        let now = Instant::now();
        expire(&mut queues, now, &stats);
        let empty = queues.iter().all(VecDeque::is_empty);
        if empty && closing {
            return;
        }
        if idle > 0 && !empty {
            let (size, oldest) = pending_size(&queues, max_batch);
            let waited_out = oldest.is_some_and(|t| now >= t + settings.max_queue_delay);
            // As Triton: a batch of any preferred size goes at once (the next one forms
            // while it runs); otherwise wait for the largest size or the queue delay.
            let preferred_ready = settings.preferred.iter().any(|&p| p > 0 && p <= size);
            if size >= target || preferred_ready || waited_out || closing {
                let batch = take_batch(&mut queues, max_batch, &settings.preferred, size);
                if !batch.is_empty() {
                    idle -= 1;
                    if let Err(e) = instances.send(batch) {
                        for p in e.into_inner() {
                            p.finish(
                                &stats,
                                Err(ServerError::Unavailable(format!(
                                    "model '{model}' is shutting down"
                                ))),
                            );
                        }
                    }
                }
                continue;
            }
        }
        // Wait for a request, a free instance, or the next deadline.
        let mut wake: Option<Instant> = next_deadline(&queues);
        if idle > 0 {
            if let (_, Some(t)) = pending_size(&queues, max_batch) {
                let t = t + settings.max_queue_delay;
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        }
        let timeout = wake.map(|w| w.saturating_duration_since(Instant::now()));
        if closing {
            match free.recv_timeout(timeout.unwrap_or(Duration::from_millis(50))) {
                Ok(()) => idle += 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    fail_all(model, &mut queues, &stats);
                    return;
                }
            }
            continue;
        }
        let timeout = timeout.unwrap_or(Duration::from_secs(3600));
        select! {
            recv(incoming) -> msg => match msg {
                Ok(p) => accept(&settings, &mut queues, p, &stats),
                Err(_) => closing = true,
            },
            recv(free) -> msg => match msg {
                Ok(()) => idle += 1,
                Err(_) => {
                    fail_all(model, &mut queues, &stats);
                    return;
                }
            },
            default(timeout) => {}
        }
    }
}

type Reply = crate::error::Result<crate::request::InferResponse>;
type Ordered = (
    tokio::sync::oneshot::Receiver<Reply>,
    tokio::sync::oneshot::Sender<Reply>,
);

/// Start the thread that forwards answers in arrival order (`preserve_ordering`).
fn start_sequencer(model: &str) -> std::io::Result<Sender<Ordered>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name(format!("{model}-order"))
        .spawn(move || sequence(rx))?;
    Ok(tx)
}

/// Route a request's answer through the sequencer: the instance answers an inner channel,
/// the sequencer forwards the answers to the clients one at a time, in arrival order.
fn in_order(order: &Sender<Ordered>, mut p: Pending) -> Pending {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let client = std::mem::replace(&mut p.reply, tx);
    if let Err(e) = order.send((rx, client)) {
        // The sequencer is gone: answer directly.
        let (_, client) = e.into_inner();
        p.reply = client;
    }
    p
}

/// The sequencer's loop: wait for each answer in turn and forward it.
fn sequence(rx: Receiver<Ordered>) {
    for (answer, client) in rx {
        let r = answer.blocking_recv().unwrap_or_else(|_| {
            Err(ServerError::Internal(
                "the request was dropped by the scheduler".to_string(),
            ))
        });
        let _ = client.send(r);
    }
}

fn admit(
    model: &str,
    settings: &BatcherSettings,
    queues: &mut [VecDeque<Pending>],
    mut p: Pending,
    stats: &ModelStats,
) {
    let level = settings.level_of(p.request.priority).min(queues.len() - 1);
    let max = settings
        .policies
        .get(level)
        .map(|q| q.max_queue_size)
        .unwrap_or(0);
    if max > 0 && queues[level].len() >= max as usize {
        p.finish(
            stats,
            Err(ServerError::Unavailable(format!(
                "Exceeds maximum queue size for model '{model}'"
            ))),
        );
        return;
    }
    let delay = settings
        .policies
        .get(level)
        .is_some_and(|q| q.delay_on_timeout);
    p.deadline = if delay {
        None
    } else {
        settings.deadline(level, p.request.timeout_us, p.enqueued)
    };
    queues[level].push_back(p);
}

/// Reject requests whose queue deadline passed.
fn expire(queues: &mut [VecDeque<Pending>], now: Instant, stats: &ModelStats) {
    for q in queues.iter_mut() {
        if !q.iter().any(|p| p.deadline.is_some_and(|d| now >= d)) {
            continue;
        }
        let (expired, kept): (Vec<Pending>, Vec<Pending>) = q
            .drain(..)
            .partition(|p| p.deadline.is_some_and(|d| now >= d));
        q.extend(kept);
        for p in expired {
            p.finish(
                stats,
                Err(ServerError::Unavailable(
                    "Request timeout expired".to_string(),
                )),
            );
        }
    }
}

fn next_deadline(queues: &[VecDeque<Pending>]) -> Option<Instant> {
    queues.iter().flatten().filter_map(|p| p.deadline).min()
}

/// Can `p` join a batch started by `first`?
fn compatible(first: &Pending, p: &Pending) -> bool {
    let a = &first.request.inputs;
    let b = &p.request.inputs;
    a.len() == b.len()
        && a.iter().all(|t| {
            b.iter()
                .any(|u| u.name == t.name && u.shape.get(1..) == t.shape.get(1..))
        })
}

/// Size of the batch that could be formed now, and the oldest request's arrival.
fn pending_size(queues: &[VecDeque<Pending>], max_batch: usize) -> (usize, Option<Instant>) {
    let mut first: Option<&Pending> = None;
    let mut size = 0;
    let mut oldest: Option<Instant> = None;
    for p in queues.iter().flatten() {
        oldest = Some(oldest.map_or(p.enqueued, |o| o.min(p.enqueued)));
        let f = *first.get_or_insert(p);
        if compatible(f, p) && size + p.batch <= max_batch.max(1) {
            size += p.batch;
        }
    }
    (size, oldest)
}

/// Take the requests of the next batch, highest priority first.
fn take_batch(
    queues: &mut [VecDeque<Pending>],
    max_batch: usize,
    preferred: &[usize],
    available: usize,
) -> Vec<Pending> {
    // Largest preferred size we can fill; otherwise everything compatible.
    let limit = preferred
        .iter()
        .copied()
        .filter(|&s| s <= available)
        .max()
        .unwrap_or(available)
        .clamp(1, max_batch.max(1));
    let mut batch: Vec<Pending> = Vec::new();
    let mut size = 0;
    for q in queues.iter_mut() {
        let mut i = 0;
        while i < q.len() && size < limit {
            let fits =
                size + q[i].batch <= limit && batch.first().is_none_or(|f| compatible(f, &q[i]));
            if fits || batch.is_empty() {
                let p = q.remove(i).expect("index checked");
                size += p.batch;
                batch.push(p);
            } else {
                i += 1;
            }
        }
    }
    batch
}

fn fail_all(model: &str, queues: &mut [VecDeque<Pending>], stats: &ModelStats) {
    for q in queues.iter_mut() {
        for p in q.drain(..) {
            p.finish(
                stats,
                Err(ServerError::Unavailable(format!(
                    "model '{model}' has no running instance"
                ))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str) -> Reply {
        Ok(crate::request::InferResponse {
            id: id.to_string(),
            ..Default::default()
        })
    }

    #[test]
    fn sequencer_answers_in_arrival_order() {
        let (order_tx, order_rx) = crossbeam_channel::unbounded();
        let seq = std::thread::spawn(move || sequence(order_rx));
        let (inner1, r1) = tokio::sync::oneshot::channel();
        let (c1, mut client1) = tokio::sync::oneshot::channel();
        let (inner2, r2) = tokio::sync::oneshot::channel();
        let (c2, mut client2) = tokio::sync::oneshot::channel();
        order_tx.send((r1, c1)).unwrap();
        order_tx.send((r2, c2)).unwrap();
        // The second request finishes first: its client must wait for the first.
        inner2.send(answer("second")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            client2.try_recv().is_err(),
            "answered before the first request"
        );
        inner1.send(answer("first")).unwrap();
        drop(order_tx);
        seq.join().unwrap();
        assert_eq!(client1.try_recv().unwrap().unwrap().id, "first");
        assert_eq!(client2.try_recv().unwrap().unwrap().id, "second");
    }

    fn pending(id: &str) -> Pending {
        let (reply, _rx) = tokio::sync::oneshot::channel();
        Pending {
            request: crate::request::InferRequest {
                id: id.to_string(),
                ..Default::default()
            },
            batch: 1,
            enqueued: Instant::now(),
            deadline: None,
            reply,
        }
    }

    /// Run the batcher with one idle instance, queue `n` requests, and return the size of
    /// the first batch and how long it took to come out.
    fn first_batch(preferred: Vec<usize>, n: usize) -> (usize, Duration) {
        let settings = BatcherSettings {
            preferred,
            max_queue_delay: Duration::from_millis(400),
            ..BatcherSettings::default()
        };
        let (in_tx, in_rx) = crossbeam_channel::unbounded();
        let (free_tx, free_rx) = crossbeam_channel::unbounded();
        let (inst_tx, inst_rx) = crossbeam_channel::unbounded();
        let stats = Arc::new(ModelStats::default());
        let batcher = std::thread::spawn(move || {
            run("m", settings, 16, in_rx, free_rx, inst_tx, stats);
        });
        for i in 0..n {
            in_tx.send(pending(&i.to_string())).unwrap();
        }
        let start = Instant::now();
        free_tx.send(()).unwrap();
        let batch = inst_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let waited = start.elapsed();
        drop(in_tx);
        // Lets the batcher send what is left; it may already have stopped (nothing left).
        let _ = free_tx.send(());
        batcher.join().unwrap();
        (batch.len(), waited)
    }

    #[test]
    fn a_preferred_size_goes_at_once_and_others_wait_for_the_delay() {
        // 5 queued, preferred [2, 4]: a batch of 4 leaves without waiting for the delay.
        let (size, waited) = first_batch(vec![2, 4], 5);
        assert_eq!(size, 4);
        assert!(waited < Duration::from_millis(300), "waited {waited:?}");
        // 3 queued, preferred [8]: no preferred size can be filled, so the batch of 3
        // leaves only after max_queue_delay.
        let (size, waited) = first_batch(vec![8], 3);
        assert_eq!(size, 3);
        assert!(waited >= Duration::from_millis(350), "waited {waited:?}");
        // No preferred sizes: wait for max_batch_size (16) or the delay.
        let (size, waited) = first_batch(vec![], 3);
        assert_eq!(size, 3);
        assert!(waited >= Duration::from_millis(350), "waited {waited:?}");
    }

    #[test]
    fn priority_levels_and_deadlines() {
        let s = BatcherSettings {
            priority_levels: 3,
            default_priority: 2,
            policies: vec![
                QueuePolicy::default(),
                QueuePolicy {
                    default_timeout_us: 100,
                    allow_timeout_override: true,
                    ..QueuePolicy::default()
                },
                QueuePolicy::default(),
            ],
            ..BatcherSettings::default()
        };
        assert_eq!(s.level_of(0), 1);
        assert_eq!(s.level_of(1), 0);
        assert_eq!(s.level_of(9), 1);
        let now = Instant::now();
        assert_eq!(
            s.deadline(1, 0, now),
            Some(now + Duration::from_micros(100))
        );
        assert_eq!(
            s.deadline(1, 50, now),
            Some(now + Duration::from_micros(50))
        );
        assert_eq!(s.deadline(0, 50, now), None);
    }
}
