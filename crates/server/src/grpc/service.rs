//! The `GRPCInferenceService` implementation over the core.

use super::{status_of, to_request, to_response};
use crate::core::{Core, EXTENSIONS, parse_version};
use crate::error::ServerError;
use crate::proto::inference as pb;
use crate::proto::inference::grpc_inference_service_server::GrpcInferenceService;
use crate::stats::ModelStats;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The gRPC service; cheap to clone.
#[derive(Clone)]
pub struct GrpcService {
    core: Arc<Core>,
}

impl GrpcService {
    /// A service over `core`.
    pub fn new(core: Arc<Core>) -> GrpcService {
        GrpcService { core }
    }
}

type GrpcResult<T> = Result<Response<T>, Status>;

fn version(v: &str) -> Result<Option<i64>, Status> {
    parse_version(v).map_err(|e| status_of(&e))
}

fn duration(d: &crate::stats::DurationStat) -> Option<pb::StatisticDuration> {
    let (count, ns) = d.get();
    Some(pb::StatisticDuration { count, ns })
}

fn stats_message(name: &str, v: i64, s: &ModelStats) -> pb::ModelStatistics {
    use std::sync::atomic::Ordering::Relaxed;
    let batch_stats = s
        .batches
        .lock()
        .map(|m| {
            m.iter()
                .map(|(&size, &(n, i, c, o))| pb::InferBatchStatistics {
                    batch_size: size,
                    compute_input: Some(pb::StatisticDuration { count: n, ns: i }),
                    compute_infer: Some(pb::StatisticDuration { count: n, ns: c }),
                    compute_output: Some(pb::StatisticDuration { count: n, ns: o }),
                })
                .collect()
        })
        .unwrap_or_default();
    pb::ModelStatistics {
        name: name.to_string(),
        version: v.to_string(),
        last_inference: s.last_inference_ms.load(Relaxed),
        inference_count: s.inference_count.load(Relaxed),
        execution_count: s.execution_count.load(Relaxed),
        inference_stats: Some(pb::InferStatistics {
            success: duration(&s.success),
            fail: duration(&s.fail),
            queue: duration(&s.queue),
            compute_input: duration(&s.compute_input),
            compute_infer: duration(&s.compute_infer),
            compute_output: duration(&s.compute_output),
            cache_hit: Some(pb::StatisticDuration::default()),
            cache_miss: Some(pb::StatisticDuration::default()),
        }),
        batch_stats,
    }
}

type InferStream = Pin<Box<dyn Stream<Item = Result<pb::ModelStreamInferResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcInferenceService for GrpcService {
    async fn server_live(
        &self,
        _: Request<pb::ServerLiveRequest>,
    ) -> GrpcResult<pb::ServerLiveResponse> {
        Ok(Response::new(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<pb::ServerReadyRequest>,
    ) -> GrpcResult<pb::ServerReadyResponse> {
        Ok(Response::new(pb::ServerReadyResponse {
            ready: self.core.ready(),
        }))
    }

    async fn model_ready(
        &self,
        r: Request<pb::ModelReadyRequest>,
    ) -> GrpcResult<pb::ModelReadyResponse> {
        let r = r.into_inner();
        let v = version(&r.version)?;
        Ok(Response::new(pb::ModelReadyResponse {
            ready: self.core.model_ready(&r.name, v),
        }))
    }

    async fn server_metadata(
        &self,
        _: Request<pb::ServerMetadataRequest>,
    ) -> GrpcResult<pb::ServerMetadataResponse> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: "kiln".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: EXTENSIONS.iter().map(|s| s.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        r: Request<pb::ModelMetadataRequest>,
    ) -> GrpcResult<pb::ModelMetadataResponse> {
        use pb::model_metadata_response::TensorMetadata;
        let r = r.into_inner();
        let m = self
            .core
            .model_metadata(&r.name, version(&r.version)?)
            .map_err(|e| status_of(&e))?;
        let t = |v: Vec<crate::core::TensorMeta>| -> Vec<TensorMetadata> {
            v.into_iter()
                .map(|t| TensorMetadata {
                    name: t.name,
                    datatype: t.datatype,
                    shape: t.shape,
                })
                .collect()
        };
        Ok(Response::new(pb::ModelMetadataResponse {
            name: m.name,
            versions: m.versions,
            platform: m.platform,
            inputs: t(m.inputs),
            outputs: t(m.outputs),
        }))
    }

    async fn model_infer(
        &self,
        r: Request<pb::ModelInferRequest>,
    ) -> GrpcResult<pb::ModelInferResponse> {
        let m = r.into_inner();
        let req = to_request(m).map_err(|e| status_of(&e))?;
        let resp = self.core.infer(req).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(to_response(resp)))
    }

    type ModelStreamInferStream = InferStream;

    async fn model_stream_infer(
        &self,
        r: Request<Streaming<pb::ModelInferRequest>>,
    ) -> GrpcResult<Self::ModelStreamInferStream> {
        let mut incoming = r.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let core = self.core.clone();
        tokio::spawn(async move {
            while let Some(msg) = tokio_stream::StreamExt::next(&mut incoming).await {
                let Ok(m) = msg else { break };
                let core = core.clone();
                let tx = tx.clone();
                // Each request runs concurrently; responses go out as they complete.
                tokio::spawn(async move {
                    let id = m.id.clone();
                    let out = match to_request(m) {
                        Ok(req) => core.infer(req).await,
                        Err(e) => Err(e),
                    };
                    let msg = match out {
                        Ok(resp) => pb::ModelStreamInferResponse {
                            error_message: String::new(),
                            infer_response: Some(to_response(resp)),
                        },
                        Err(e) => pb::ModelStreamInferResponse {
                            error_message: e.message().to_string(),
                            infer_response: Some(pb::ModelInferResponse {
                                id,
                                ..Default::default()
                            }),
                        },
                    };
                    let _ = tx.send(Ok(msg)).await;
                });
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn model_config(
        &self,
        r: Request<pb::ModelConfigRequest>,
    ) -> GrpcResult<pb::ModelConfigResponse> {
        let r = r.into_inner();
        let cfg = self
            .core
            .model_config(&r.name, version(&r.version)?)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::ModelConfigResponse {
            config: Some((*cfg).clone()),
        }))
    }

    async fn model_statistics(
        &self,
        r: Request<pb::ModelStatisticsRequest>,
    ) -> GrpcResult<pb::ModelStatisticsResponse> {
        let r = r.into_inner();
        let name = (!r.name.is_empty()).then_some(r.name.as_str());
        let all = self
            .core
            .statistics(name, version(&r.version)?)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::ModelStatisticsResponse {
            model_stats: all
                .iter()
                .map(|(n, v, s)| stats_message(n, *v, s))
                .collect(),
        }))
    }

    async fn repository_index(
        &self,
        r: Request<pb::RepositoryIndexRequest>,
    ) -> GrpcResult<pb::RepositoryIndexResponse> {
        let r = r.into_inner();
        let index = self
            .core
            .repository_index(r.ready)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::RepositoryIndexResponse {
            models: index
                .into_iter()
                .map(|e| pb::repository_index_response::ModelIndex {
                    name: e.name,
                    version: e.version,
                    state: e.state,
                    reason: e.reason,
                })
                .collect(),
        }))
    }

    async fn repository_model_load(
        &self,
        r: Request<pb::RepositoryModelLoadRequest>,
    ) -> GrpcResult<pb::RepositoryModelLoadResponse> {
        use pb::model_repository_parameter::ParameterChoice;
        let r = r.into_inner();
        let config = match r
            .parameters
            .get("config")
            .and_then(|p| p.parameter_choice.as_ref())
        {
            None => None,
            Some(ParameterChoice::StringParam(s)) => Some(s.clone()),
            Some(_) => {
                return Err(status_of(&ServerError::InvalidArg(
                    "the 'config' parameter must be a string".into(),
                )));
            }
        };
        self.core
            .load_model(&r.model_name, config)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        r: Request<pb::RepositoryModelUnloadRequest>,
    ) -> GrpcResult<pb::RepositoryModelUnloadResponse> {
        let r = r.into_inner();
        self.core
            .unload_model(&r.model_name)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::RepositoryModelUnloadResponse {}))
    }

    async fn log_settings(
        &self,
        r: Request<pb::LogSettingsRequest>,
    ) -> GrpcResult<pb::LogSettingsResponse> {
        use pb::log_settings_request::setting_value::ParameterChoice as In;
        use pb::log_settings_response::SettingValue;
        use pb::log_settings_response::setting_value::ParameterChoice as Out;
        let r = r.into_inner();
        let mut l = self
            .core
            .log_settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (k, v) in r.settings {
            let bad = || {
                status_of(&ServerError::InvalidArg(format!(
                    "invalid value for log setting '{k}'"
                )))
            };
            let v = v.parameter_choice.ok_or_else(bad)?;
            match (k.as_str(), v) {
                ("log_file", In::StringParam(s)) => l.log_file = s,
                ("log_info", In::BoolParam(b)) => l.log_info = b,
                ("log_warning", In::BoolParam(b)) => l.log_warning = b,
                ("log_error", In::BoolParam(b)) => l.log_error = b,
                ("log_verbose_level", In::Uint32Param(n)) => l.log_verbose_level = n,
                ("log_format", In::StringParam(s)) => l.log_format = s,
                _ => return Err(bad()),
            }
        }
        let sv = |c: Out| SettingValue {
            parameter_choice: Some(c),
        };
        let settings = [
            ("log_file", sv(Out::StringParam(l.log_file.clone()))),
            ("log_info", sv(Out::BoolParam(l.log_info))),
            ("log_warning", sv(Out::BoolParam(l.log_warning))),
            ("log_error", sv(Out::BoolParam(l.log_error))),
            (
                "log_verbose_level",
                sv(Out::Uint32Param(l.log_verbose_level)),
            ),
            ("log_format", sv(Out::StringParam(l.log_format.clone()))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(Response::new(pb::LogSettingsResponse { settings }))
    }
}
