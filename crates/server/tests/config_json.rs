//! The JSON form served at GET /v2/models/{model}/config (Triton's shape).

use kiln_server::config::{
    config_to_json, normalize, parse_config_file, parse_config_json, parse_config_text,
};
use serde_json::json;
use std::path::Path;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/configs")
        .join(name)
}

#[test]
fn simple_in_triton_json_form() {
    let mut cfg = parse_config_file(&data("simple.pbtxt")).unwrap();
    normalize(&mut cfg, &[]);
    let j = config_to_json(&cfg);
    assert_eq!(j["name"], "simple");
    assert_eq!(j["platform"], "onnxruntime_onnx");
    assert_eq!(j["backend"], "onnxruntime");
    assert_eq!(j["max_batch_size"], 8);
    // Original field names, enums by name, defaults printed, int64 dims as numbers.
    assert_eq!(
        j["input"][0],
        json!({
            "name": "INPUT0",
            "data_type": "TYPE_INT32",
            "format": "FORMAT_NONE",
            "dims": [16],
            "is_shape_tensor": false,
            "allow_ragged_batch": false,
            "optional": false,
            "is_non_linear_format_io": false
        })
    );
    assert_eq!(
        j["output"][1],
        json!({
            "name": "OUTPUT1",
            "data_type": "TYPE_INT32",
            "dims": [16],
            "label_filename": "",
            "is_shape_tensor": false,
            "is_non_linear_format_io": false
        })
    );
    assert_eq!(
        j["version_policy"],
        json!({ "latest": { "num_versions": 1 } })
    );
    assert_eq!(
        j["instance_group"],
        json!([{
            "name": "simple",
            "kind": "KIND_CPU",
            "count": 1,
            "gpus": [],
            "secondary_devices": [],
            "profile": [],
            "passive": false,
            "host_policy": ""
        }])
    );
    // Empty repeated fields and maps are printed; unset messages are not.
    assert_eq!(j["batch_input"], json!([]));
    assert_eq!(j["parameters"], json!({}));
    assert_eq!(j["default_model_filename"], "");
    assert!(j.get("dynamic_batching").is_none());
    assert_eq!(
        j["optimization"]["input_pinned_memory"],
        json!({ "enable": true })
    );
    assert_eq!(
        j["optimization"]["output_pinned_memory"],
        json!({ "enable": true })
    );
    assert_eq!(j["optimization"]["priority"], "PRIORITY_DEFAULT");
    assert!(j.get("sequence_batching").is_none());
}

#[test]
fn dynamic_batching_64_bit_fields_are_numbers() {
    let cfg = parse_config_file(&data("dynamic.pbtxt")).unwrap();
    let j = config_to_json(&cfg);
    let db = &j["dynamic_batching"];
    assert_eq!(db["preferred_batch_size"], json!([4, 8, 16]));
    assert_eq!(db["max_queue_delay_microseconds"], 100);
    assert_eq!(db["priority_levels"], 3);
    assert_eq!(db["default_priority_level"], 2);
    assert_eq!(
        db["default_queue_policy"],
        json!({
            "timeout_action": "REJECT",
            "default_timeout_microseconds": 5000,
            "allow_timeout_override": true,
            "max_queue_size": 64
        })
    );
    assert_eq!(db["priority_queue_policy"]["1"]["timeout_action"], "DELAY");
    assert_eq!(
        db["priority_queue_policy"]["1"]["default_timeout_microseconds"],
        100000
    );
    assert_eq!(db["priority_queue_policy"]["3"]["max_queue_size"], 8);
    assert_eq!(j["input"][0]["dims"], json!([-1, 64]));
    assert_eq!(j["input"][0]["data_type"], "TYPE_FP16");
    assert_eq!(j["model_warmup"][0]["inputs"]["x"]["dims"], json!([8, 64]));
    assert_eq!(j["model_warmup"][0]["inputs"]["x"]["zero_data"], true);
    assert_eq!(j["instance_group"][0]["gpus"], json!([0, 1]));
}

#[test]
fn json_round_trips() {
    for file in [
        "simple.pbtxt",
        "classifier.pbtxt",
        "dynamic.pbtxt",
        "reshape.pbtxt",
        "all_versions.pbtxt",
    ] {
        let cfg = parse_config_file(&data(file)).unwrap();
        let text = config_to_json(&cfg).to_string();
        let back = parse_config_json(&text, Path::new(file)).unwrap();
        assert_eq!(back, cfg, "{file}");
    }
}

#[test]
fn json_with_unknown_field_is_rejected() {
    let e = parse_config_json(
        r#"{"name": "m", "max_batch_size": 2, "maxbatch": 1}"#,
        Path::new("load request"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("maxbatch"), "{e}");
    assert!(e.to_string().starts_with("load request:1:"), "{e}");
    let cfg = parse_config_text("", Path::new("x")).unwrap();
    assert_eq!(config_to_json(&cfg)["max_batch_size"], 0);
}
