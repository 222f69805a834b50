//! Example Kiln server backend `image_preprocess` (like the image preprocessing backend of
//! TRTIS's examples): raw image bytes in, a normalized NCHW f32 tensor out, ready for an
//! image classifier such as `examples/small_cnn.onnx`.
//!
//! Inputs (names from the model configuration, in order): the image bytes (`TYPE_UINT8`,
//! dims `[ -1 ]`): a binary PPM (`P6`), or raw RGB when the request also has `WIDTH` and
//! `HEIGHT` inputs (`TYPE_INT32`, dims `[ 1 ]`). Output (the configuration's first output,
//! `TYPE_FP32`, dims `[ 3, H, W ]`): the image resized (bilinear) to `H` x `W` and
//! normalized as `(v / 255 - mean) / std` with the `mean` and `std` parameters
//! (`"r,g,b"`, default 0.5 each).

pub mod image;

use image::{Preprocess, Rgb, decode_ppm, raw_rgb};
use kiln_plugin_abi::sdk::PluginBackend;
use kiln_plugin_abi::{DType, InstanceConfig, NamedTensor, NamedView, Request};
use serde_json::Value;

/// One model instance of the backend.
#[derive(Debug)]
pub struct ImagePreprocess {
    image_input: String,
    output: String,
    batching: bool,
    pre: Preprocess,
}

fn param(cfg: &Value, key: &str) -> Option<String> {
    cfg.get("parameters")?
        .get(key)?
        .get("string_value")?
        .as_str()
        .map(str::to_string)
}

fn triple(cfg: &Value, key: &str) -> Result<[f32; 3], String> {
    let Some(text) = param(cfg, key) else {
        return Ok([0.5; 3]);
    };
    let v: Vec<f32> = text
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("parameter '{key}' = \"{text}\": {e}"))?;
    match v.as_slice() {
        [x] => Ok([*x; 3]),
        [r, g, b] => Ok([*r, *g, *b]),
        _ => Err(format!(
            "parameter '{key}' = \"{text}\": expected 1 or 3 numbers"
        )),
    }
}

fn dims_of(io: &Value) -> Vec<i64> {
    io.get("dims")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_i64().or_else(|| d.as_str()?.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

fn int_input(t: &NamedView<'_>) -> Result<usize, String> {
    let b = t.tensor.data.as_slice();
    let v = match (t.tensor.dtype, b.len()) {
        (DType::I32, 4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        (DType::I64, 8) => i64::from_le_bytes(b.try_into().map_err(|_| "bad i64")?),
        _ => return Err(format!("input '{}' must be one int32 or int64", t.name)),
    };
    usize::try_from(v).map_err(|_| format!("input '{}' must not be negative, got {v}", t.name))
}

impl ImagePreprocess {
    fn images(&self, req: &Request<'_>) -> Result<Vec<Rgb>, String> {
        let find = |n: &str| req.inputs.iter().find(|t| t.name.as_str() == n);
        let img = find(&self.image_input)
            .ok_or_else(|| format!("missing input '{}'", self.image_input))?;
        if img.tensor.dtype != DType::U8 {
            return Err(format!(
                "input '{}' must be UINT8 bytes, got {}",
                self.image_input, img.tensor.dtype
            ));
        }
        let shape = img.tensor.shape.as_slice();
        // With batching, [B, N]: B images of N bytes each; else [N].
        let (count, len) = match (self.batching, shape) {
            (true, [b, n]) => (*b as usize, *n as usize),
            (false, [n]) => (1, *n as usize),
            _ => return Err(format!("input '{}' has shape {shape:?}", self.image_input)),
        };
        let data = img.tensor.data.as_slice();
        let raw = match (find("WIDTH"), find("HEIGHT")) {
            (Some(w), Some(h)) => Some((int_input(w)?, int_input(h)?)),
            (None, None) => None,
            _ => return Err("raw RGB needs both WIDTH and HEIGHT inputs".into()),
        };
        (0..count)
            .map(|i| {
                let bytes = &data[i * len..(i + 1) * len];
                match raw {
                    Some((w, h)) => raw_rgb(bytes, w, h),
                    None => decode_ppm(bytes),
                }
                .map_err(|e| {
                    if count > 1 {
                        format!("image {i}: {e}")
                    } else {
                        e
                    }
                })
            })
            .collect()
    }

    fn run(&self, req: &Request<'_>) -> Result<Vec<NamedTensor>, String> {
        let images = self.images(req)?;
        let (h, w) = (self.pre.height, self.pre.width);
        let per = 3 * h * w;
        let mut out = vec![0.0f32; per * images.len()];
        for (img, o) in images.iter().zip(out.chunks_exact_mut(per)) {
            self.pre.run(img, o);
        }
        let mut shape = vec![3, h as u64, w as u64];
        if self.batching {
            shape.insert(0, images.len() as u64);
        }
        Ok(vec![NamedTensor::from_f32(&self.output, &shape, &out)])
    }
}

impl PluginBackend for ImagePreprocess {
    const NAME: &'static str = "image_preprocess";
    const VERSION: &'static str = "1";

    fn initialize(config: &InstanceConfig) -> Result<Self, String> {
        let cfg: Value = serde_json::from_str(config.config_json.as_str())
            .map_err(|e| format!("model configuration JSON: {e}"))?;
        let input = cfg
            .get("input")
            .and_then(|v| v.as_array())
            .and_then(|a| {
                a.iter().find(|i| {
                    i.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n != "WIDTH" && n != "HEIGHT")
                })
            })
            .ok_or("the configuration needs an image input")?;
        let output = cfg
            .get("output")
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .ok_or("the configuration needs an output")?;
        let dims = dims_of(output);
        let [3, h, w] = dims.as_slice() else {
            return Err(format!("output dims must be [ 3, H, W ], got {dims:?}"));
        };
        if *h <= 0 || *w <= 0 {
            return Err(format!("output dims must be fixed, got {dims:?}"));
        }
        let batching = cfg
            .get("max_batch_size")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0)
            > 0;
        let std = triple(&cfg, "std")?;
        if std.contains(&0.0) {
            return Err("parameter 'std' must not be 0".into());
        }
        Ok(ImagePreprocess {
            image_input: input["name"].as_str().unwrap_or_default().to_string(),
            output: output
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("OUTPUT")
                .to_string(),
            batching,
            pre: Preprocess {
                height: *h as usize,
                width: *w as usize,
                mean: triple(&cfg, "mean")?,
                std,
            },
        })
    }

    fn execute(&mut self, requests: &[Request<'_>]) -> Vec<Result<Vec<NamedTensor>, String>> {
        requests.iter().map(|r| self.run(r)).collect()
    }
}

kiln_plugin_abi::export_plugin!(name: "image_preprocess", layers: [], backends: [ImagePreprocess]);
