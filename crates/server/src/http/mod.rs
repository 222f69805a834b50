//! The HTTP/REST frontend (axum): KServe v2 as Triton serves it. Errors are JSON
//! `{"error": "..."}` with the status of [`status_of`].

mod infer;

pub use infer::{data_to_json, encode_response, parse_request};

use crate::core::{Core, EXTENSIONS, parse_version};
use crate::error::ServerError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// State of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    /// The core.
    pub core: Arc<Core>,
    /// Largest accepted request body in bytes.
    pub max_body: usize,
}

/// The HTTP status of a core error (Triton's mapping).
pub fn status_of(e: &ServerError) -> StatusCode {
    match e {
        ServerError::NotFound(_) => StatusCode::NOT_FOUND,
        ServerError::InvalidArg(_) => StatusCode::BAD_REQUEST,
        ServerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServerError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(e: ServerError) -> Response {
    (status_of(&e), axum::Json(json!({"error": e.message()}))).into_response()
}

fn json_ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

type HttpResult = std::result::Result<Response, Response>;

fn fail(e: ServerError) -> Response {
    error_response(e)
}

/// The router of every KServe v2 endpoint.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/stats", get(all_stats))
        .route("/v2/models/{model}", get(model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(model_metadata_v),
        )
        .route("/v2/models/{model}/ready", get(model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(model_ready_v),
        )
        .route("/v2/models/{model}/config", get(model_config))
        .route(
            "/v2/models/{model}/versions/{version}/config",
            get(model_config_v),
        )
        .route("/v2/models/{model}/stats", get(model_stats))
        .route(
            "/v2/models/{model}/versions/{version}/stats",
            get(model_stats_v),
        )
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer_v))
        .route("/v2/repository/index", post(repo_index))
        .route("/v2/repository/models/{model}/load", post(repo_load))
        .route("/v2/repository/models/{model}/unload", post(repo_unload))
        .route("/v2/logging", get(get_logging).post(set_logging))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "Not Found"})),
    )
        .into_response()
}

async fn live() -> StatusCode {
    StatusCode::OK
}

async fn ready(State(s): State<HttpState>) -> StatusCode {
    if s.core.ready() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

async fn server_metadata() -> Response {
    json_ok(json!({
        "name": "kiln",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": EXTENSIONS,
    }))
}

fn version_of(v: &str) -> std::result::Result<Option<i64>, Response> {
    parse_version(v).map_err(fail)
}

async fn model_metadata(State(s): State<HttpState>, Path(model): Path<String>) -> HttpResult {
    metadata(&s, &model, None)
}

async fn model_metadata_v(
    State(s): State<HttpState>,
    Path((model, version)): Path<(String, String)>,
) -> HttpResult {
    metadata(&s, &model, version_of(&version)?)
}

fn metadata(s: &HttpState, model: &str, version: Option<i64>) -> HttpResult {
    let m = s.core.model_metadata(model, version).map_err(fail)?;
    let t = |v: &[crate::core::TensorMeta]| -> Vec<Value> {
        v.iter()
            .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    Ok(json_ok(json!({
        "name": m.name,
        "versions": m.versions,
        "platform": m.platform,
        "inputs": t(&m.inputs),
        "outputs": t(&m.outputs),
    })))
}

async fn model_ready(State(s): State<HttpState>, Path(model): Path<String>) -> StatusCode {
    ready_status(&s, &model, None)
}

async fn model_ready_v(
    State(s): State<HttpState>,
    Path((model, version)): Path<(String, String)>,
) -> StatusCode {
    match parse_version(&version) {
        Ok(v) => ready_status(&s, &model, v),
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

fn ready_status(s: &HttpState, model: &str, version: Option<i64>) -> StatusCode {
    if s.core.model_ready(model, version) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

async fn model_config(State(s): State<HttpState>, Path(model): Path<String>) -> HttpResult {
    config(&s, &model, None)
}

async fn model_config_v(
    State(s): State<HttpState>,
    Path((model, version)): Path<(String, String)>,
) -> HttpResult {
    config(&s, &model, version_of(&version)?)
}

fn config(s: &HttpState, model: &str, version: Option<i64>) -> HttpResult {
    let cfg = s.core.model_config(model, version).map_err(fail)?;
    Ok(json_ok(crate::config::config_to_json(&cfg)))
}

async fn all_stats(State(s): State<HttpState>) -> HttpResult {
    stats(&s, None, None)
}

async fn model_stats(State(s): State<HttpState>, Path(model): Path<String>) -> HttpResult {
    stats(&s, Some(&model), None)
}

async fn model_stats_v(
    State(s): State<HttpState>,
    Path((model, version)): Path<(String, String)>,
) -> HttpResult {
    stats(&s, Some(&model), version_of(&version)?)
}

fn stats(s: &HttpState, model: Option<&str>, version: Option<i64>) -> HttpResult {
    let all = s.core.statistics(model, version).map_err(fail)?;
    let v: Vec<Value> = all
        .iter()
        .map(|(n, v, st)| st.to_json(n, &v.to_string()))
        .collect();
    Ok(json_ok(json!({"model_stats": v})))
}

async fn infer(
    State(s): State<HttpState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult {
    do_infer(s, model, None, headers, body).await
}

async fn infer_v(
    State(s): State<HttpState>,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult {
    let v = version_of(&version)?;
    do_infer(s, model, v, headers, body).await
}

async fn read_body(s: &HttpState, body: Body) -> std::result::Result<Bytes, Response> {
    axum::body::to_bytes(body, s.max_body).await.map_err(|e| {
        fail(ServerError::InvalidArg(format!(
            "failed to read the request body (the limit is {} bytes): {e}",
            s.max_body
        )))
    })
}

async fn do_infer(
    s: HttpState,
    model: String,
    version: Option<i64>,
    headers: HeaderMap,
    body: Body,
) -> HttpResult {
    let header_len = match headers.get("inference-header-content-length") {
        None => None,
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    fail(ServerError::InvalidArg(
                        "Inference-Header-Content-Length is not a number".into(),
                    ))
                })?,
        ),
    };
    let bytes = read_body(&s, body).await?;
    // An unknown model is reported before the body is looked at, as Triton does.
    s.core.manager.get(&model, version).map_err(fail)?;
    let (req, binary_default) = parse_request(&model, version, &bytes, header_len).map_err(fail)?;
    let requested = req.outputs.clone();
    let resp = s.core.infer(req).await.map_err(fail)?;
    let (body, json_len) = encode_response(&resp, &requested, binary_default);
    let mut r = Response::new(Body::from(body));
    match json_len {
        Some(n) => {
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            r.headers_mut().insert(
                "Inference-Header-Content-Length",
                header::HeaderValue::from(n),
            );
        }
        None => {
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
        }
    }
    Ok(r)
}

async fn repo_index(State(s): State<HttpState>, body: Bytes) -> HttpResult {
    let ready_only = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("ready").and_then(Value::as_bool))
        .unwrap_or(false);
    let index = s.core.repository_index(ready_only).map_err(fail)?;
    let v: Vec<Value> = index
        .into_iter()
        .map(|e| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), json!(e.name));
            if !e.version.is_empty() {
                m.insert("version".into(), json!(e.version));
            }
            if !e.state.is_empty() {
                m.insert("state".into(), json!(e.state));
            }
            if !e.reason.is_empty() {
                m.insert("reason".into(), json!(e.reason));
            }
            Value::Object(m)
        })
        .collect();
    Ok(json_ok(Value::Array(v)))
}

async fn repo_load(
    State(s): State<HttpState>,
    Path(model): Path<String>,
    body: Bytes,
) -> HttpResult {
    let config = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.get("parameters")
            .and_then(|p| p.get("config"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    s.core.load_model(&model, config).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}

async fn repo_unload(State(s): State<HttpState>, Path(model): Path<String>) -> HttpResult {
    s.core.unload_model(&model).await.map_err(fail)?;
    Ok(StatusCode::OK.into_response())
}

fn logging_json(s: &HttpState) -> Value {
    let l = s
        .core
        .log_settings
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    json!({
        "log_file": l.log_file,
        "log_info": l.log_info,
        "log_warning": l.log_warning,
        "log_error": l.log_error,
        "log_verbose_level": l.log_verbose_level,
        "log_format": l.log_format,
    })
}

async fn get_logging(State(s): State<HttpState>) -> Response {
    json_ok(logging_json(&s))
}

async fn set_logging(State(s): State<HttpState>, body: Bytes) -> HttpResult {
    let v: HashMap<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        fail(ServerError::InvalidArg(format!(
            "failed to parse the logging settings: {e}"
        )))
    })?;
    {
        let mut l = s
            .core
            .log_settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (k, val) in v {
            let bad = || {
                fail(ServerError::InvalidArg(format!(
                    "invalid value {val} for log setting '{k}'"
                )))
            };
            match k.as_str() {
                "log_file" => l.log_file = val.as_str().ok_or_else(bad)?.to_string(),
                "log_info" => l.log_info = val.as_bool().ok_or_else(bad)?,
                "log_warning" => l.log_warning = val.as_bool().ok_or_else(bad)?,
                "log_error" => l.log_error = val.as_bool().ok_or_else(bad)?,
                "log_verbose_level" => {
                    l.log_verbose_level = val.as_u64().ok_or_else(bad)?.min(u32::MAX as u64) as u32
                }
                "log_format" => l.log_format = val.as_str().ok_or_else(bad)?.to_string(),
                _ => {
                    return Err(fail(ServerError::InvalidArg(format!(
                        "unknown log setting '{k}'"
                    ))));
                }
            }
        }
    }
    Ok(json_ok(logging_json(&s)))
}
