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

/// A device-to-host copy in flight: becomes a tensor once the stream is synchronized.
#[derive(Debug)]
pub struct PendingDownload {
    dtype: DataType,
    shape: Vec<usize>,
    data: Pending,
}

#[derive(Debug)]
enum Pending {
    F32(Vec<f32>),
    Bytes(Vec<u8>),
}

impl PendingDownload {
    /// The downloaded tensor (call after synchronizing the stream the copy was enqueued on).
    pub fn into_tensor(self) -> Result<Tensor, CudaError> {
        let bad = |e: kiln_core::Error| CudaError::Unsupported(format!("downloaded tensor: {e}"));
        match self.data {
            Pending::F32(v) => Tensor::from_vec(&self.shape, v).map_err(bad),
            Pending::Bytes(b) => Tensor::from_le_bytes(self.dtype, &self.shape, &b).map_err(bad),
        }
    }
}

/// Enqueue a copy of the device tensor `src` into a new host buffer on `stream`; the data
/// is valid once the caller synchronizes the stream ([`PendingDownload::into_tensor`]).
pub fn download_async(stream: &CudaStream, src: &DevTensor) -> Result<PendingDownload, CudaError> {
    let n = tensor_bytes(src.dtype, &src.shape).ok_or_else(|| {
        CudaError::Unsupported(format!("{} tensors cannot live on the device", src.dtype))
    })?;
    let mut data = if src.dtype == DataType::F32 && cfg!(target_endian = "little") {
        Pending::F32(vec![0f32; src.len()])
    } else {
        Pending::Bytes(vec![0u8; n])
    };
    if n > 0 {
        let dst: &mut [u8] = match &mut data {
            // SAFETY: a byte view of the f32 buffer's own memory (n bytes), used only for
            // the copy below.
            Pending::F32(v) => unsafe {
                std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, n)
            },
            Pending::Bytes(b) => b,
        };
        // SAFETY: src addresses n bytes of device memory; `dst` has n bytes, owned by the
        // returned value, which the caller leaves alone until the stream is synchronized.
        unsafe { cudarc::driver::result::memcpy_dtoh_async(dst, src.ptr, stream.cu_stream()) }
            .map_err(|e| CudaError::driver("device-to-host copy", e))?;
    }
    Ok(PendingDownload {
        dtype: src.dtype,
        shape: src.shape.clone(),
        data,
    })
}

/// The bytes of `t` in place when its elements are contiguous (little-endian host).
fn contiguous_bytes(t: &Tensor) -> Option<&[u8]> {
    fn view<T>(a: &[T]) -> &[u8] {
        // SAFETY: plain numeric elements without padding; the byte view covers exactly the
        // slice's memory and lives as long as the slice.
        unsafe { std::slice::from_raw_parts(a.as_ptr() as *const u8, std::mem::size_of_val(a)) }
    }
    if cfg!(target_endian = "big") {
        return None;
    }
    Some(match t {
        Tensor::F32(a) => view(a.as_slice()?),
        Tensor::F16(a) => view(a.as_slice()?),
        Tensor::BF16(a) => view(a.as_slice()?),
        Tensor::I64(a) => view(a.as_slice()?),
        Tensor::I32(a) => view(a.as_slice()?),
        Tensor::U8(a) => view(a.as_slice()?),
        _ => return None,
    })
}

/// Copy `t` into the device tensor `dst` and wait for the copy (and the stream's earlier
/// work): no staging copy of the host data when it is contiguous.
pub fn upload_now(stream: &CudaStream, t: &Tensor, dst: &DevTensor) -> Result<(), CudaError> {
    if t.dtype() != dst.dtype || t.len() != dst.len() {
        return Err(CudaError::Unsupported(format!(
            "upload of a {} {:?} tensor into a {} {:?} device buffer",
            t.dtype(),
            t.shape(),
            dst.dtype,
            dst.shape
        )));
    }
    let owned;
    let bytes = match contiguous_bytes(t) {
        Some(b) => b,
        None => {
            owned = t.to_le_bytes().map_err(|e| {
                CudaError::Unsupported(format!("tensor cannot go to the device: {e}"))
            })?;
            &owned[..]
        }
    };
    if !bytes.is_empty() {
        // SAFETY: dst points to at least bytes.len() bytes of device memory (checked sizes);
        // `bytes` outlives the copy: the stream is synchronized before returning.
        unsafe { cudarc::driver::result::memcpy_htod_async(dst.ptr, bytes, stream.cu_stream()) }
            .map_err(|e| CudaError::driver("host-to-device copy", e))?;
    }
    stream
        .synchronize()
        .map_err(|e| CudaError::driver("synchronizing the stream", e))
}
