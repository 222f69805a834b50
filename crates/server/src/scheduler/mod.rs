//! Schedulers: how accepted requests reach the model instances. The default scheduler
//! hands each request to the next free instance; the dynamic batcher queues requests per
//! priority level and combines them into larger batches.

mod dynamic;

pub use dynamic::{BatcherSettings, QueuePolicy};

use crate::error::{Result, ServerError};
use crate::instance::Pending;
use crossbeam_channel::Sender;

/// The scheduler of one model version.
pub enum Scheduler {
    /// One request per execution, to the next free instance.
    Default(Sender<Vec<Pending>>),
    /// Requests go through the dynamic batcher's thread.
    Dynamic(Sender<Pending>),
}

impl Scheduler {
    /// A default scheduler feeding the instances' channel.
    pub fn default_scheduler(instances: Sender<Vec<Pending>>) -> Scheduler {
        Scheduler::Default(instances)
    }

    /// Start a dynamic batcher thread feeding `instances`; `free` receives one `()` per idle
    /// instance (the instances send it when they start and after each batch).
    pub fn dynamic(
        model: &str,
        settings: BatcherSettings,
        max_batch_size: usize,
        instances: Sender<Vec<Pending>>,
        free: crossbeam_channel::Receiver<()>,
        stats: std::sync::Arc<crate::stats::ModelStats>,
    ) -> Result<Scheduler> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let name = model.to_string();
        std::thread::Builder::new()
            .name(format!("{model}-batcher"))
            .spawn(move || {
                dynamic::run(&name, settings, max_batch_size, rx, free, instances, stats)
            })
            .map_err(|e| ServerError::Internal(format!("cannot start the batcher thread: {e}")))?;
        Ok(Scheduler::Dynamic(tx))
    }

    /// Queue a request; on failure the request is answered with the error.
    pub fn enqueue(&self, p: Pending) -> std::result::Result<(), Pending> {
        match self {
            Scheduler::Default(tx) => tx.send(vec![p]).map_err(|e| {
                let mut v = e.into_inner();
                v.pop().expect("one request was sent")
            }),
            Scheduler::Dynamic(tx) => tx.send(p).map_err(|e| e.into_inner()),
        }
    }
}
