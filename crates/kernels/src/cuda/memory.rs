//! Raw device memory: one allocation (an arena or a weights block) addressed by offsets, and
//! host <-> device copies of tensors.

use super::{CudaError, DevTensor};
use cudarc::driver::{CudaContext, CudaStream};
use kiln_core::{DataType, Tensor};
use std::sync::Arc;

/// Alignment of every tensor inside a device allocation.
pub const DEVICE_ALIGN: usize = 256;

/// Round `n` up to [`DEVICE_ALIGN`].
pub fn align_up(n: usize) -> usize {
    n.div_ceil(DEVICE_ALIGN) * DEVICE_ALIGN
}

/// One device allocation, freed on drop.
#[derive(Debug)]
pub struct DeviceMemory {
    ptr: u64,
    bytes: usize,
    ctx: Arc<CudaContext>,
}

// SAFETY: the allocation is plain device memory owned by this value; CUDA allows using and
// freeing it from any thread that binds the context.
unsafe impl Send for DeviceMemory {}
// SAFETY: as above; shared references only read the address.
unsafe impl Sync for DeviceMemory {}

impl DeviceMemory {
    /// Allocate `bytes` (at least 1) on the context's device.
    pub fn alloc(ctx: &Arc<CudaContext>, bytes: usize) -> Result<DeviceMemory, CudaError> {
        ctx.bind_to_thread()
            .map_err(|e| CudaError::driver("binding the context", e))?;
        let bytes = align_up(bytes.max(1));
        // SAFETY: the context is current; the memory is freed exactly once in Drop.
        let ptr = unsafe { cudarc::driver::result::malloc_sync(bytes) }.map_err(|e| {
            CudaError::driver(format!("allocating {bytes} bytes of device memory"), e)
        })?;
        Ok(DeviceMemory {
            ptr,
            bytes,
            ctx: ctx.clone(),
        })
    }

    /// Device address of the first byte.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: `ptr` came from malloc_sync and is freed once; work using it was
            // synchronized by its owner (contexts synchronize their stream before dropping).
            if let Err(e) = unsafe { cudarc::driver::result::free_sync(self.ptr) } {
                tracing::warn!(error = ?e, "freeing device memory failed");
            }
        }
    }
}

/// Bytes of a tensor of `dtype` and `shape` on the device (fixed-size types only).
pub fn tensor_bytes(dtype: DataType, shape: &[usize]) -> Option<usize> {
    Some(dtype.size_of()? * shape.iter().product::<usize>())
}

/// Copy `t` into the device tensor `dst` (same dtype and element count), enqueued on
/// `stream`. The returned bytes must stay alive until the stream is synchronized.
pub fn upload(stream: &CudaStream, t: &Tensor, dst: &DevTensor) -> Result<Vec<u8>, CudaError> {
    if t.dtype() != dst.dtype || t.len() != dst.len() {
        return Err(CudaError::Unsupported(format!(
            "upload of a {} {:?} tensor into a {} {:?} device buffer",
            t.dtype(),
            t.shape(),
            dst.dtype,
            dst.shape
        )));
    }
    let bytes = t
        .to_le_bytes()
        .map_err(|e| CudaError::Unsupported(format!("tensor cannot go to the device: {e}")))?;
    if !bytes.is_empty() {
        // SAFETY: dst points to at least bytes.len() bytes of device memory (checked sizes);
        // the caller keeps `bytes` alive until the stream is synchronized.
        unsafe { cudarc::driver::result::memcpy_htod_async(dst.ptr, &bytes, stream.cu_stream()) }
            .map_err(|e| CudaError::driver("host-to-device copy", e))?;
    }
    Ok(bytes)
}

/// Copy the device tensor `src` to a host tensor (synchronizes `stream` first).
pub fn download(stream: &CudaStream, src: &DevTensor) -> Result<Tensor, CudaError> {
    let n = tensor_bytes(src.dtype, &src.shape).ok_or_else(|| {
        CudaError::Unsupported(format!("{} tensors cannot live on the device", src.dtype))
    })?;
    let mut bytes = vec![0u8; n];
    stream
        .synchronize()
        .map_err(|e| CudaError::driver("synchronizing the stream", e))?;
    if n > 0 {
        // SAFETY: src points to n bytes of device memory; `bytes` has n bytes; the copy is
        // synchronous.
        unsafe { cudarc::driver::result::memcpy_dtoh_sync(&mut bytes, src.ptr) }
            .map_err(|e| CudaError::driver("device-to-host copy", e))?;
    }
    Tensor::from_le_bytes(src.dtype, &src.shape, &bytes)
        .map_err(|e| CudaError::Unsupported(format!("downloaded tensor: {e}")))
}

/// Copy `bytes` bytes between device addresses, enqueued on `stream`.
pub fn copy_device(stream: &CudaStream, dst: u64, src: u64, bytes: usize) -> Result<(), CudaError> {
    if bytes == 0 || dst == src {
        return Ok(());
    }
    // SAFETY: both ranges are device memory of at least `bytes` bytes (the caller's plan).
    unsafe { cudarc::driver::result::memcpy_dtod_async(dst, src, bytes, stream.cu_stream()) }
        .map_err(|e| CudaError::driver("device-to-device copy", e))
}
