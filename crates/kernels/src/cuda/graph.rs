//! CUDA graphs (stream capture and replay) and event timers on a context's stream.

use super::{CudaError, Gpu};
use cudarc::driver::sys::{CUevent_flags, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaEvent, CudaGraph, CudaStream};
use std::sync::Arc;

/// A captured, instantiated CUDA graph, replayed on the stream it was captured from.
pub struct StreamGraph(CudaGraph);

impl std::fmt::Debug for StreamGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamGraph")
    }
}

// SAFETY: the graph is owned by one execution context and launched from its thread; CUDA
// graph handles may be used from any thread that binds the context.
unsafe impl Send for StreamGraph {}
// SAFETY: as above; shared references do not launch.
unsafe impl Sync for StreamGraph {}

impl StreamGraph {
    /// Replay the graph on its stream (asynchronous).
    pub fn launch(&self) -> Result<(), CudaError> {
        self.0
            .launch()
            .map_err(|e| CudaError::driver("launching a CUDA graph", e))
    }
}

/// Start capturing the work enqueued on `stream` (relaxed mode: other threads may keep
/// using CUDA meanwhile).
pub fn begin_capture(stream: &Arc<CudaStream>) -> Result<(), CudaError> {
    stream
        .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
        .map_err(|e| CudaError::driver("beginning stream capture", e))
}

/// End the capture started by [`begin_capture`] and instantiate the graph.
pub fn end_capture(stream: &Arc<CudaStream>) -> Result<StreamGraph, CudaError> {
    match stream.end_capture(CUgraphInstantiate_flags(0)) {
        Ok(Some(g)) => Ok(StreamGraph(g)),
        Ok(None) => Err(CudaError::Unsupported(
            "stream capture recorded no work".into(),
        )),
        Err(e) => Err(CudaError::driver("ending stream capture", e)),
    }
}

/// Timing events recorded on a stream: `record(k)` marks point `k`, `elapsed_ms(a, b)` the
/// device time between two points once the stream reached them.
pub struct Timer(Vec<CudaEvent>);

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timer({} events)", self.0.len())
    }
}

// SAFETY: events are owned by one execution context; CUDA events may be used from any
// thread that binds the context.
unsafe impl Send for Timer {}
// SAFETY: as above.
unsafe impl Sync for Timer {}

impl Timer {
    /// `points` timing events on the device.
    pub fn new(gpu: &Gpu, points: usize) -> Result<Timer, CudaError> {
        let ctx = gpu.context();
        (0..points)
            .map(|_| {
                ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                    .map_err(|e| CudaError::driver("creating an event", e))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Timer)
    }

    /// Mark point `k` on `stream`.
    pub fn record(&self, k: usize, stream: &CudaStream) -> Result<(), CudaError> {
        self.0[k]
            .record(stream)
            .map_err(|e| CudaError::driver("recording an event", e))
    }

    /// Milliseconds of device time from point `a` to point `b` (waits for both).
    pub fn elapsed_ms(&self, a: usize, b: usize) -> Result<f64, CudaError> {
        self.0[a]
            .elapsed_ms(&self.0[b])
            .map(f64::from)
            .map_err(|e| CudaError::driver("reading event times", e))
    }
}
