//! The CUDA implementation of the SwiGLU plugin layer, run through the engine's plugin API
//! on device buffers and a stream made with cudarc, against the CPU reference. Needs an
//! NVIDIA driver: without libcuda it prints why and checks only that the plugin refuses
//! cleanly (no panic, no abort).

mod common;

use common::*;
use cudarc::driver::{CudaContext, DevicePtr};
use kiln_core::{Attribute, Attributes, DataType};
use kiln_engine::PluginRegistry;
use kiln_engine::plugin::CudaBuffer;

#[test]
fn swiglu_cuda_matches_the_cpu_reference() {
    let reg = PluginRegistry::from_paths(&[plugin_path("kiln_swiglu")]).unwrap();
    let layer = reg
        .find_layer("SwiGLU", "kiln.example", Some("1"), None)
        .expect("SwiGLU is registered");
    assert!(layer.supports_cuda());
    let beta = 0.75f32;
    let op = layer
        .instantiate(&Attributes::new().with("beta", Attribute::Float(beta)), 1)
        .unwrap();
    let (rows, h) = (257usize, 96usize);
    let outs = op
        .output_shapes(&[(DataType::F32, vec![rows, 2 * h])])
        .unwrap();
    assert_eq!(outs, vec![(DataType::F32, vec![rows, h])]);

    // SAFETY: only probes whether the driver library can be opened.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        eprintln!(
            "SKIPPED the CUDA run: libcuda (the NVIDIA driver) is not available on this machine"
        );
        let err = op
            .execute_cuda(&[], &[], 0, 0, 0)
            .expect_err("no CUDA without a driver")
            .to_string();
        assert!(err.contains("SwiGLU"), "{err}");
        return;
    }
    let ctx = CudaContext::new(0).expect("CUDA device 0");
    ctx.bind_to_thread().unwrap();
    let stream = ctx.new_stream().unwrap();
    let x: Vec<f32> = (0..rows * 2 * h)
        .map(|i| ((i * 131 % 97) as f32 - 48.0) / 12.0)
        .collect();
    let dx = stream.clone_htod(&x).unwrap();
    let dy = stream.alloc_zeros::<f32>(rows * h).unwrap();
    {
        let (px, _gx) = dx.device_ptr(&stream);
        let (py, _gy) = dy.device_ptr(&stream);
        let input = CudaBuffer {
            dtype: DataType::F32,
            shape: vec![rows, 2 * h],
            ptr: px,
        };
        let output = CudaBuffer {
            dtype: DataType::F32,
            shape: vec![rows, h],
            ptr: py,
        };
        op.execute_cuda(&[input], &[output], 0, 0, stream.cu_stream() as u64)
            .expect("CUDA execution");
    }
    stream.synchronize().unwrap();
    let y = stream.clone_dtoh(&dy).unwrap();
    let expected = swiglu_ref(&x, h, beta);
    let diff = max_diff(&y, &expected);
    eprintln!(
        "SwiGLU on CUDA: {} values, max |gpu - cpu| = {diff:e}",
        y.len()
    );
    assert!(diff < 1e-4, "max difference {diff}");
}
