//! `kiln perf`: a load generator for any KServe v2 server (Kiln or Triton) over HTTP (JSON
//! or binary tensors) or gRPC. For each concurrency level it keeps that many requests in
//! flight (optionally paced to a request rate) and prints throughput and p50/p90/p95/p99
//! latency.

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use kiln_core::Tensor;
use kiln_server::http::data_to_json;
use kiln_server::proto::inference as pb;
use kiln_server::tensor::{Datatype, InferTensor};
use pb::grpc_inference_service_client::GrpcInferenceServiceClient;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Arguments of `kiln perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Model name.
    #[arg(short, long)]
    pub model: String,
    /// Server address (HOST:PORT); default localhost:8000 (HTTP) or localhost:8001 (gRPC).
    #[arg(short = 'u', long)]
    pub url: Option<String>,
    /// Protocol.
    #[arg(short = 'i', long, default_value = "http", value_parser = ["http", "grpc"])]
    pub protocol: String,
    /// Concurrency levels: a list (1,8,64) or a range START:END[:STEP] (doubling without STEP).
    #[arg(long, default_value = "1")]
    pub concurrency_range: String,
    /// Seconds to measure each concurrency level.
    #[arg(long, default_value_t = 5.0)]
    pub duration_secs: f64,
    /// Requests per second over all workers (default: as fast as possible).
    #[arg(long)]
    pub request_rate: Option<f64>,
    /// Batch size of each request (models that batch).
    #[arg(short, long, default_value_t = 1)]
    pub batch_size: i64,
    /// Shapes of inputs with variable dimensions, without the batch: NAME:3x224x224.
    #[arg(long)]
    pub shape: Vec<String>,
    /// HTTP: send tensors as JSON instead of the binary tensor extension.
    #[arg(long)]
    pub json: bool,
}

/// Parse `1,8,64` or `1:64` (doubling) or `1:16:4`.
fn concurrency_levels(spec: &str) -> Result<Vec<usize>> {
    let num = |s: &str| {
        s.trim()
            .parse::<usize>()
            .with_context(|| format!("bad concurrency '{s}'"))
    };
    let levels: Vec<usize> = if let Some((a, rest)) = spec.split_once(':') {
        let (b, step) = match rest.split_once(':') {
            Some((b, s)) => (num(b)?, Some(num(s)?)),
            None => (num(rest)?, None),
        };
        let mut v = Vec::new();
        let mut c = num(a)?.max(1);
        while c <= b && v.len() < 64 {
            v.push(c);
            c = match step {
                Some(s) => c + s.max(1),
                None => c * 2,
            };
        }
        v
    } else {
        spec.split(',').map(num).collect::<Result<_>>()?
    };
    ensure!(
        !levels.is_empty() && levels.iter().all(|&c| c > 0),
        "no concurrency level in '{spec}'"
    );
    Ok(levels)
}

/// Input tensors with deterministic data for the model's metadata.
fn make_inputs(
    meta: &[(String, String, Vec<i64>)],
    args: &PerfArgs,
    batching: bool,
) -> Result<Vec<InferTensor>> {
    let shapes = crate::model::parse_shapes(&args.shape)?;
    let mut out = Vec::new();
    for (name, dt, dims) in meta {
        let datatype = Datatype::parse(dt)
            .with_context(|| format!("input '{name}': unknown datatype {dt}"))?;
        let mut shape: Vec<i64> = Vec::new();
        let given = shapes.get(name);
        for (i, &d) in dims.iter().enumerate() {
            if i == 0 && batching {
                shape.push(args.batch_size);
            } else if d >= 0 {
                shape.push(d);
            } else {
                let k = i - batching as usize;
                let g = given.and_then(|s| s.get(k)).with_context(|| {
                    format!(
                        "input '{name}' has a variable dimension: give it with --shape {name}:DIMS"
                    )
                })?;
                shape.push(*g as i64);
            }
        }
        let n: usize = shape.iter().map(|&d| d as usize).product();
        let dims_u: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let t = if datatype == Datatype::Bytes {
            Tensor::from_vec(
                &dims_u,
                (0..n).map(|i| format!("s{i}")).collect::<Vec<String>>(),
            )?
        } else {
            let vals: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64 / 4.0).collect();
            Tensor::from_vec(&dims_u, vals)?.cast(datatype.kiln())?
        };
        out.push(InferTensor::from_kiln(name, &t).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(out)
}

/// One prepared request, sent many times.
#[derive(Clone)]
enum Prepared {
    Http {
        client: reqwest::Client,
        url: String,
        body: Vec<u8>,
        header_len: Option<usize>,
    },
    Grpc {
        client: GrpcInferenceServiceClient<tonic::transport::Channel>,
        request: pb::ModelInferRequest,
    },
}

impl Prepared {
    async fn send(&mut self) -> Result<()> {
        match self {
            Prepared::Http {
                client,
                url,
                body,
                header_len,
            } => {
                let mut rb = client.post(url.as_str()).body(body.clone());
                if let Some(n) = header_len {
                    rb = rb.header("Inference-Header-Content-Length", *n);
                }
                let r = rb.send().await?;
                let status = r.status();
                let bytes = r.bytes().await?;
                if !status.is_success() {
                    bail!("{status}: {}", String::from_utf8_lossy(&bytes));
                }
                Ok(())
            }
            Prepared::Grpc { client, request } => {
                client.model_infer(request.clone()).await?;
                Ok(())
            }
        }
    }
}

async fn prepare(args: &PerfArgs) -> Result<Prepared> {
    let grpc = args.protocol == "grpc";
    let url = args.url.clone().unwrap_or_else(|| {
        if grpc {
            "localhost:8001"
        } else {
            "localhost:8000"
        }
        .to_string()
    });
    if grpc {
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{url}"))
            .await
            .with_context(|| format!("cannot connect to {url}"))?
            .max_decoding_message_size(1 << 30)
            .max_encoding_message_size(1 << 30);
        let md = client
            .model_metadata(pb::ModelMetadataRequest {
                name: args.model.clone(),
                version: String::new(),
            })
            .await?
            .into_inner();
        let cfg = client
            .model_config(pb::ModelConfigRequest {
                name: args.model.clone(),
                version: String::new(),
            })
            .await?
            .into_inner();
        let batching = cfg.config.is_some_and(|c| c.max_batch_size > 0);
        let meta: Vec<_> = md
            .inputs
            .iter()
            .map(|t| (t.name.clone(), t.datatype.clone(), t.shape.clone()))
            .collect();
        let inputs = make_inputs(&meta, args, batching)?;
        let request = pb::ModelInferRequest {
            model_name: args.model.clone(),
            inputs: inputs
                .iter()
                .map(|t| pb::model_infer_request::InferInputTensor {
                    name: t.name.clone(),
                    datatype: t.datatype.as_str().to_string(),
                    shape: t.shape.clone(),
                    ..Default::default()
                })
                .collect(),
            raw_input_contents: inputs.iter().map(InferTensor::to_raw_bytes).collect(),
            ..Default::default()
        };
        return Ok(Prepared::Grpc { client, request });
    }
    let client = reqwest::Client::new();
    let base = format!("http://{url}/v2/models/{}", args.model);
    let md: Value = get_json(&client, &base).await?;
    let cfg: Value = get_json(&client, &format!("{base}/config")).await?;
    let batching = cfg["max_batch_size"].as_i64().unwrap_or(0) > 0;
    let meta: Vec<(String, String, Vec<i64>)> = md["inputs"]
        .as_array()
        .context("model metadata without inputs")?
        .iter()
        .map(|t| {
            let shape = t["shape"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["datatype"].as_str().unwrap_or_default().to_string(),
                shape,
            )
        })
        .collect();
    let inputs = make_inputs(&meta, args, batching)?;
    let mut binary = Vec::new();
    let entries: Vec<Value> = inputs
        .iter()
        .map(|t| {
            let mut e = json!({"name": t.name, "datatype": t.datatype.as_str(), "shape": t.shape});
            if args.json {
                e["data"] = data_to_json(t);
            } else {
                let raw = t.to_raw_bytes();
                e["parameters"] = json!({"binary_data_size": raw.len()});
                binary.extend(raw);
            }
            e
        })
        .collect();
    let head = json!({"inputs": entries, "parameters": {"binary_data_output": !args.json}});
    let mut body = serde_json::to_vec(&head)?;
    let header_len = (!args.json).then_some(body.len());
    body.extend(binary);
    Ok(Prepared::Http {
        client,
        url: format!("{base}/infer"),
        body,
        header_len,
    })
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let r = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(status.is_success(), "{url}: {status}: {v}");
    Ok(v)
}

/// Latencies and errors of one concurrency level.
async fn measure(
    p: &Prepared,
    concurrency: usize,
    secs: f64,
    rate: Option<f64>,
) -> (Vec<Duration>, usize, Duration) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let interval = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r.max(1e-3)));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut next = Instant::now()
                + interval
                    .map(|i| i.mul_f64(w as f64 / concurrency as f64))
                    .unwrap_or_default();
            while Instant::now() < deadline {
                if interval.is_some() {
                    tokio::time::sleep_until(next.into()).await;
                }
                let t = Instant::now();
                match p.send().await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("request failed: {e:#}");
                        }
                    }
                }
                if let Some(i) = interval {
                    next += i;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    all.sort();
    (all, errors, start.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Run the load generator.
pub fn main(args: PerfArgs) -> Result<()> {
    let levels = concurrency_levels(&args.concurrency_range)?;
    ensure!(args.duration_secs > 0.0, "--duration-secs must be positive");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let p = prepare(&args).await?;
        println!(
            "model {} over {}{}, batch {}",
            args.model,
            args.protocol,
            if args.protocol == "http" {
                if args.json { " (JSON)" } else { " (binary)" }
            } else {
                ""
            },
            args.batch_size
        );
        println!(
            "{:>11} {:>12} {:>10} {:>10} {:>10} {:>10} {:>7}",
            "concurrency", "infer/s", "p50 us", "p90 us", "p95 us", "p99 us", "errors"
        );
        let mut summary = HashMap::new();
        for c in levels {
            let (lat, errors, elapsed) =
                measure(&p, c, args.duration_secs, args.request_rate).await;
            let tput = lat.len() as f64 * args.batch_size as f64 / elapsed.as_secs_f64();
            println!(
                "{c:>11} {tput:>12.1} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {errors:>7}",
                pct(&lat, 50.0),
                pct(&lat, 90.0),
                pct(&lat, 95.0),
                pct(&lat, 99.0)
            );
            summary.insert(c, errors);
        }
        ensure!(summary.values().all(|&e| e == 0), "some requests failed");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_specs() {
        assert_eq!(concurrency_levels("1,8,64").unwrap(), vec![1, 8, 64]);
        assert_eq!(concurrency_levels("1:16").unwrap(), vec![1, 2, 4, 8, 16]);
        assert_eq!(concurrency_levels("2:10:4").unwrap(), vec![2, 6, 10]);
        assert!(concurrency_levels("0").is_err());
    }
}
