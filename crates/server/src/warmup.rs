//! Model warmup (`model_warmup` in the configuration): each sample is run `count` times on an
//! execution context of the new version before the version goes READY. Sample inputs are
//! zeros (`zero_data`), pseudo-random values (`random_data`) or the raw bytes of a file in the
//! model's `warmup/` directory (`input_data_file`). A failing sample makes the version
//! UNAVAILABLE with the reason. Warmup requests do not count in the statistics.

use crate::error::{Result, ServerError};
use crate::instance::{ModelInfo, Pending, run_batch};
use crate::proto::inference::model_warmup::Input;
use crate::proto::inference::model_warmup::input::InputDataType;
use crate::proto::inference::{ModelConfig, ModelWarmup};
use crate::request::InferRequest;
use crate::stats::ModelStats;
use crate::tensor::{Datatype, InferTensor, element_count};
use kiln_engine::Engine;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Directory (inside the model directory) that holds `input_data_file` files.
pub const WARMUP_DIR: &str = "warmup";

/// Run every warmup sample of `cfg` on a fresh context of `engine`. `info` is the version's
/// shared information (its statistics are left untouched).
pub fn run_warmup(
    model_dir: &Path,
    cfg: &ModelConfig,
    engine: &Engine,
    info: &ModelInfo,
) -> Result<()> {
    if cfg.model_warmup.is_empty() {
        return Ok(());
    }
    let scratch = ModelInfo {
        name: info.name.clone(),
        version: info.version.clone(),
        signature: info.signature.clone(),
        labels: info.labels.clone(),
        stats: Arc::new(ModelStats::default()),
    };
    let mut ctx = engine.create_context();
    let started = Instant::now();
    for (i, sample) in cfg.model_warmup.iter().enumerate() {
        let fail = |what: String| {
            ServerError::Unavailable(format!(
                "model '{}': warmup sample '{}' (model_warmup[{i}]) failed: {what}",
                cfg.name, sample.name
            ))
        };
        let request =
            sample_request(model_dir, cfg, sample).map_err(|e| fail(e.message().to_string()))?;
        let batch = info
            .signature
            .check(&cfg.name, &request)
            .map_err(|e| fail(e.message().to_string()))?;
        for _ in 0..sample.count.max(1) {
            let (tx, mut rx) = tokio::sync::oneshot::channel();
            scratch
                .stats
                .pending
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let pending = Pending {
                request: request.clone(),
                batch,
                enqueued: Instant::now(),
                deadline: None,
                reply: tx,
            };
            run_batch(&mut ctx, &scratch, vec![pending]);
            match rx.try_recv() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(fail(e.message().to_string())),
                Err(_) => return Err(fail("the sample produced no response".to_string())),
            }
        }
    }
    tracing::info!(
        model = %cfg.name,
        version = %info.version,
        samples = cfg.model_warmup.len(),
        ms = started.elapsed().as_millis() as u64,
        "warmup done"
    );
    Ok(())
}

/// The request of one warmup sample.
fn sample_request(
    model_dir: &Path,
    cfg: &ModelConfig,
    sample: &ModelWarmup,
) -> Result<InferRequest> {
    let mut names: Vec<&String> = sample.inputs.keys().collect();
    names.sort();
    let mut inputs = Vec::with_capacity(names.len());
    for (k, name) in names.into_iter().enumerate() {
        let input = &sample.inputs[name];
        let datatype = Datatype::from_config(input.data_type).ok_or_else(|| {
            ServerError::InvalidArg(format!("input '{name}' has no valid data_type"))
        })?;
        let mut shape = Vec::with_capacity(input.dims.len() + 1);
        if cfg.max_batch_size > 0 {
            shape.push(sample.batch_size.max(1) as i64);
        }
        shape.extend_from_slice(&input.dims);
        let count = element_count(&shape).ok_or_else(|| {
            ServerError::InvalidArg(format!("input '{name}' has an invalid shape {shape:?}"))
        })?;
        let raw = sample_bytes(model_dir, name, input, datatype, count, k as u64)?;
        inputs.push(InferTensor::from_raw(name, datatype, shape, raw)?);
    }
    Ok(InferRequest {
        model: cfg.name.clone(),
        id: format!("warmup:{}", sample.name),
        inputs,
        ..InferRequest::default()
    })
}

/// The wire bytes of one sample input (`BYTES` elements length-prefixed).
fn sample_bytes(
    model_dir: &Path,
    name: &str,
    input: &Input,
    datatype: Datatype,
    count: usize,
    seed: u64,
) -> Result<Vec<u8>> {
    let too_big = || ServerError::InvalidArg(format!("input '{name}' is too large"));
    match &input.input_data_type {
        Some(InputDataType::InputDataFile(file)) => {
            if file.contains(['/', '\\']) || file == ".." {
                return Err(ServerError::InvalidArg(format!(
                    "input_data_file \"{file}\" of input '{name}' must be a file name in {}/",
                    model_dir.join(WARMUP_DIR).display()
                )));
            }
            let path = model_dir.join(WARMUP_DIR).join(file);
            std::fs::read(&path).map_err(|e| {
                ServerError::InvalidArg(format!(
                    "cannot read input_data_file '{}' of input '{name}': {e}",
                    path.display()
                ))
            })
        }
        Some(InputDataType::ZeroData(_)) | None => match datatype.size() {
            Some(size) => Ok(vec![0u8; count.checked_mul(size).ok_or_else(too_big)?]),
            // Each BYTES element: a 4-byte length of 0.
            None => Ok(vec![0u8; count.checked_mul(4).ok_or_else(too_big)?]),
        },
        Some(InputDataType::RandomData(_)) => {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (seed + 1));
            match datatype.size() {
                Some(size) => {
                    let mut out = Vec::with_capacity(count.checked_mul(size).ok_or_else(too_big)?);
                    for _ in 0..count {
                        random_element(&mut rng, datatype, &mut out);
                    }
                    Ok(out)
                }
                None => {
                    // BYTES: 8 random printable characters per element.
                    let mut out = Vec::with_capacity(count.checked_mul(12).ok_or_else(too_big)?);
                    for _ in 0..count {
                        out.extend_from_slice(&8u32.to_le_bytes());
                        for _ in 0..8 {
                            out.push(b'a' + (rng.next() % 26) as u8);
                        }
                    }
                    Ok(out)
                }
            }
        }
    }
}

/// Append one random element of `datatype`: floats uniform in [-1, 1), booleans 0/1, integers
/// uniform over their range.
fn random_element(rng: &mut XorShift, datatype: Datatype, out: &mut Vec<u8>) {
    let r = rng.next();
    let unit = (r >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
    match datatype {
        Datatype::Bool => out.push((r & 1) as u8),
        Datatype::Fp32 => out.extend_from_slice(&unit.to_le_bytes()),
        Datatype::Fp64 => out.extend_from_slice(&(unit as f64).to_le_bytes()),
        Datatype::Bf16 => out.extend_from_slice(&((unit.to_bits() >> 16) as u16).to_le_bytes()),
        Datatype::Fp16 => {
            // Sign, an exponent of 1..=14 (magnitude below 1) and a random mantissa.
            let sign = ((r >> 63) as u16) << 15;
            let exp = (1 + (r >> 20) % 14) as u16;
            let bits = sign | (exp << 10) | (r as u16 & 0x3ff);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        other => {
            let size = other.size().unwrap_or(1);
            out.extend_from_slice(&r.to_le_bytes()[..size.min(8)]);
        }
    }
}

/// A small xorshift generator (warmup data needs no statistical quality).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::inference::ModelWarmup;

    fn input(dt: i32, dims: &[i64], data: InputDataType) -> Input {
        Input {
            data_type: dt,
            dims: dims.to_vec(),
            input_data_type: Some(data),
        }
    }

    #[test]
    fn samples_have_the_batch_dimension_and_typed_data() {
        let cfg = ModelConfig {
            name: "m".into(),
            max_batch_size: 8,
            ..ModelConfig::default()
        };
        let mut sample = ModelWarmup {
            name: "s".into(),
            batch_size: 2,
            count: 1,
            ..ModelWarmup::default()
        };
        // TYPE_FP32 = 11, TYPE_STRING = 13.
        sample
            .inputs
            .insert("x".into(), input(11, &[3], InputDataType::RandomData(true)));
        sample
            .inputs
            .insert("s".into(), input(13, &[1], InputDataType::ZeroData(true)));
        let req = sample_request(Path::new("/nonexistent"), &cfg, &sample).unwrap();
        let x = req.inputs.iter().find(|t| t.name == "x").unwrap();
        assert_eq!(x.shape, [2, 3]);
        let crate::tensor::TensorData::Raw(raw) = &x.data else {
            panic!("FP32 is raw")
        };
        let vals: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(vals.iter().all(|v| (-1.0..1.0).contains(v)), "{vals:?}");
        assert!(vals.iter().any(|&v| v != 0.0));
        let s = req.inputs.iter().find(|t| t.name == "s").unwrap();
        assert_eq!(s.shape, [2, 1]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn missing_data_file_names_the_file() {
        let cfg = ModelConfig {
            name: "m".into(),
            ..ModelConfig::default()
        };
        let mut sample = ModelWarmup {
            name: "s".into(),
            batch_size: 1,
            ..ModelWarmup::default()
        };
        sample.inputs.insert(
            "x".into(),
            input(11, &[4], InputDataType::InputDataFile("x.bin".into())),
        );
        let e = sample_request(Path::new("/nonexistent"), &cfg, &sample).unwrap_err();
        assert!(e.message().contains("warmup/x.bin"), "{}", e.message());
    }
}
