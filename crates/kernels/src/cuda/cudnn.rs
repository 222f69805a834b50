//! cuDNN (loaded at run time): one handle per device, shared by the execution contexts under
//! a lock (each call first binds the handle to the caller's stream). Used by the convolution
//! layers ([`ops`](super::ops) `conv_cudnn`); when the library is missing or fails to load,
//! convolutions keep the im2col + cuBLASLt path.

use super::CudaError;
use cudarc::cudnn::{result as dnn, sys};
use std::sync::{Mutex, MutexGuard};

/// A cuDNN handle.
#[derive(Debug)]
pub(crate) struct DnnHandle(pub sys::cudnnHandle_t);

// SAFETY: the handle is only used under the device's lock (`Dnn::lock`), bound to the
// caller's stream before each call.
unsafe impl Send for DnnHandle {}

impl Drop for DnnHandle {
    fn drop(&mut self) {
        // SAFETY: created once in `Dnn::lock`, destroyed once.
        let _ = unsafe { dnn::destroy_handle(self.0) };
    }
}

/// The device's cuDNN state: created on first use; `Err` remembers why cuDNN is unusable.
#[derive(Debug, Default)]
pub(crate) struct Dnn(Mutex<Option<Result<DnnHandle, String>>>);

/// Map a cuDNN status to [`CudaError`].
pub(crate) fn dnn_err(what: impl Into<String>, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Dnn {
        what: what.into(),
        message: format!("{e:?}"),
    }
}

impl Dnn {
    /// The handle, bound to `stream` (created on first use; the device context must be
    /// current). Holding the guard serializes cuDNN calls of all contexts of the device.
    pub(crate) fn lock(
        &self,
        stream: sys::cudaStream_t,
    ) -> Result<MutexGuard<'_, Option<Result<DnnHandle, String>>>, CudaError> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let made = if !super::cudnn_present() {
                Err("libcudnn not found".to_string())
            } else {
                dnn::create_handle()
                    .map(DnnHandle)
                    .map_err(|e| format!("cudnnCreate failed: {e:?}"))
            };
            if let Err(why) = &made {
                tracing::warn!(reason = %why, "cuDNN unavailable: convolutions use im2col + cuBLASLt");
            }
            *g = Some(made);
        }
        match g.as_ref() {
            Some(Ok(h)) => {
                // SAFETY: valid handle; the stream belongs to this device's context.
                unsafe { dnn::set_stream(h.0, stream) }
                    .map_err(|e| dnn_err("cudnnSetStream", e))?;
            }
            Some(Err(why)) => return Err(CudaError::Unsupported(format!("cuDNN: {why}"))),
            None => unreachable!("initialized above"),
        }
        Ok(g)
    }
}

/// True when cuDNN can be used on this machine (library present and loadable). Checked
/// before any cuDNN call: cudarc panics on a missing library.
pub fn cudnn_usable() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        if !super::cudnn_present() {
            return false;
        }
        // The version query loads the library's symbols; a broken install panics inside
        // cudarc, which is caught here and reported once.
        match std::panic::catch_unwind(dnn::get_version) {
            Ok(v) if v >= 8000 => true,
            Ok(v) => {
                tracing::warn!(version = v, "cuDNN older than 8.0: convolutions use im2col");
                false
            }
            Err(_) => {
                tracing::warn!("cuDNN failed to load: convolutions use im2col + cuBLASLt");
                false
            }
        }
    })
}
