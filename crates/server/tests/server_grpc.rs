//! The gRPC frontend end to end with the generated tonic client: health, metadata,
//! config, raw and typed inference on `simple`, streaming, statistics, index and errors.

mod common;

use common::*;
use kiln_server::ControlMode;
use kiln_server::proto::inference as pb;
use pb::grpc_inference_service_client::GrpcInferenceServiceClient;
use pb::model_infer_request::InferInputTensor;

fn simple_request(raw: bool) -> (Vec<i32>, Vec<i32>, pb::ModelInferRequest) {
    let a: Vec<i32> = (0..16).map(|x| x * 3).collect();
    let b: Vec<i32> = (0..16).map(|x| 7 - x).collect();
    let input = |name: &str, v: &[i32]| InferInputTensor {
        name: name.to_string(),
        datatype: "INT32".to_string(),
        shape: vec![1, 16],
        contents: (!raw).then(|| pb::InferTensorContents {
            int_contents: v.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = pb::ModelInferRequest {
        model_name: "simple".into(),
        id: "g1".into(),
        inputs: vec![input("INPUT0", &a), input("INPUT1", &b)],
        raw_input_contents: if raw {
            vec![i32_bytes(&a), i32_bytes(&b)]
        } else {
            vec![]
        },
        ..Default::default()
    };
    (a, b, req)
}

fn check_sum_diff(a: &[i32], b: &[i32], r: &pb::ModelInferResponse) {
    assert_eq!(r.outputs.len(), 2);
    assert_eq!(r.outputs[0].name, "OUTPUT0");
    assert_eq!(r.outputs[0].shape, vec![1, 16]);
    let sum: Vec<i32> = a.iter().zip(b).map(|(x, y)| x + y).collect();
    let diff: Vec<i32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    assert_eq!(i32_values(&r.raw_output_contents[0]), sum);
    assert_eq!(i32_values(&r.raw_output_contents[1]), diff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_endpoints_on_the_example_repository() {
    let server = start(&example_repository(), ControlMode::None, &[]).await;
    let url = format!("http://{}", server.grpc_addr().unwrap());
    let mut c = GrpcInferenceServiceClient::connect(url).await.unwrap();

    assert!(
        c.server_live(pb::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        c.server_ready(pb::ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let md = c
        .server_metadata(pb::ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(md.name, "kiln");
    let mm = c
        .model_metadata(pb::ModelMetadataRequest {
            name: "simple".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mm.inputs[1].name, "INPUT1");
    assert_eq!(mm.inputs[1].shape, vec![-1, 16]);
    let cfg = c
        .model_config(pb::ModelConfigRequest {
            name: "simple".into(),
            version: "1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .config
        .unwrap();
    assert_eq!(cfg.max_batch_size, 8);

    // Raw and typed contents.
    let (a, b, req) = simple_request(true);
    let r = c.model_infer(req).await.unwrap().into_inner();
    assert_eq!(r.id, "g1");
    check_sum_diff(&a, &b, &r);
    let (a, b, req) = simple_request(false);
    check_sum_diff(&a, &b, &c.model_infer(req).await.unwrap().into_inner());

    // Errors.
    let (_, _, mut req) = simple_request(true);
    req.model_name = "nope".into();
    let e = c.model_infer(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(
        e.message().starts_with("Request for unknown model"),
        "{}",
        e.message()
    );
    let (_, _, mut req) = simple_request(true);
    req.raw_input_contents[0].pop();
    let e = c.model_infer(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Streaming: several requests, every response correct.
    let reqs: Vec<pb::ModelInferRequest> = (0..4)
        .map(|i| {
            let (_, _, mut r) = simple_request(true);
            r.id = format!("s{i}");
            r
        })
        .collect();
    let mut stream = c
        .model_stream_infer(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let (a, b, _) = simple_request(true);
    let mut ids = Vec::new();
    while let Some(msg) = stream.message().await.unwrap() {
        assert_eq!(msg.error_message, "");
        let r = msg.infer_response.unwrap();
        check_sum_diff(&a, &b, &r);
        ids.push(r.id);
    }
    ids.sort();
    assert_eq!(ids, vec!["s0", "s1", "s2", "s3"]);

    // Statistics and the repository index.
    let st = c
        .model_statistics(pb::ModelStatisticsRequest {
            name: "simple".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let s = &st.model_stats[0];
    assert_eq!(s.inference_count, 6);
    assert_eq!(
        s.inference_stats
            .as_ref()
            .unwrap()
            .success
            .as_ref()
            .unwrap()
            .count,
        6
    );
    let idx = c
        .repository_index(pb::RepositoryIndexRequest {
            repository_name: String::new(),
            ready: true,
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = idx.models.iter().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains(&"simple") && names.contains(&"cnn_dynamic"),
        "{names:?}"
    );
    assert!(idx.models.iter().all(|m| m.state == "READY"));

    server.shutdown().await;
}
