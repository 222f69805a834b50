//! Parsing config.pbtxt files in the styles Triton repositories use, and the errors for
//! invalid ones.

use kiln_server::config::{
    ConfigError, DataType, InputFormat, InstanceGroupKind, SchedulingChoice, TimeoutAction,
    VersionPolicyChoice, parse_config_file, parse_config_text, validate,
};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/configs")
        .join(name)
}

fn parse(text: &str) -> Result<kiln_server::config::ModelConfig, ConfigError> {
    parse_config_text(text, Path::new("models/m/config.pbtxt"))
}

/// The error message of a text that must not parse.
fn parse_err(text: &str) -> (ConfigError, String) {
    let e = parse(text).expect_err("the text must be rejected");
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn simple_lists_without_colons() {
    let cfg = parse_config_file(&data("simple.pbtxt")).unwrap();
    assert_eq!(cfg.name, "simple");
    assert_eq!(cfg.platform, "onnxruntime_onnx");
    assert_eq!(cfg.max_batch_size, 8);
    let names: Vec<_> = cfg.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["INPUT0", "INPUT1"]);
    assert_eq!(cfg.input[1].data_type(), DataType::TypeInt32);
    assert_eq!(cfg.input[1].dims, [16]);
    let names: Vec<_> = cfg.output.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["OUTPUT0", "OUTPUT1"]);
    validate(&cfg).unwrap();
}

#[test]
fn classifier_format_labels_instances_parameters() {
    let cfg = parse_config_file(&data("classifier.pbtxt")).unwrap();
    assert_eq!(cfg.backend, "onnxruntime");
    assert_eq!(cfg.input[0].format(), InputFormat::Nchw);
    assert_eq!(cfg.input[0].dims, [3, 32, 32]);
    assert_eq!(cfg.output[0].label_filename, "labels.txt");
    assert_eq!(cfg.instance_group.len(), 1);
    assert_eq!(cfg.instance_group[0].kind(), InstanceGroupKind::Cpu);
    assert_eq!(cfg.instance_group[0].count, 2);
    match cfg.version_policy.unwrap().policy_choice.unwrap() {
        VersionPolicyChoice::Latest(l) => assert_eq!(l.num_versions, 2),
        other => panic!("expected latest, got {other:?}"),
    }
    assert_eq!(cfg.default_model_filename, "classifier.onnx");
    // Both map syntaxes merge; a '#' inside a string is not a comment.
    assert_eq!(
        cfg.parameters["note"].string_value,
        "a # inside a string is not a comment"
    );
    assert_eq!(cfg.parameters["threads"].string_value, "4");
}

#[test]
fn dynamic_batching_with_priority_queue_policy_map() {
    let cfg = parse_config_file(&data("dynamic.pbtxt")).unwrap();
    assert_eq!(cfg.input.len(), 2, "repeated `input {{ }}` blocks");
    assert!(cfg.input[1].optional);
    assert_eq!(cfg.input[0].dims, [-1, 64]);
    let Some(SchedulingChoice::DynamicBatching(db)) = &cfg.scheduling_choice else {
        panic!("dynamic_batching expected, got {:?}", cfg.scheduling_choice);
    };
    assert_eq!(db.preferred_batch_size, [4, 8, 16]);
    assert_eq!(db.max_queue_delay_microseconds, 100);
    assert_eq!(db.priority_levels, 3);
    assert_eq!(db.default_priority_level, 2);
    let dq = db.default_queue_policy.as_ref().unwrap();
    assert_eq!(dq.timeout_action(), TimeoutAction::Reject);
    assert_eq!(dq.default_timeout_microseconds, 5000);
    assert!(dq.allow_timeout_override);
    assert_eq!(dq.max_queue_size, 64);
    assert_eq!(db.priority_queue_policy.len(), 2);
    assert_eq!(
        db.priority_queue_policy[&1].timeout_action(),
        TimeoutAction::Delay
    );
    assert_eq!(
        db.priority_queue_policy[&1].default_timeout_microseconds,
        100_000
    );
    assert_eq!(db.priority_queue_policy[&3].max_queue_size, 8);
    assert_eq!(cfg.instance_group[0].kind(), InstanceGroupKind::Gpu);
    assert_eq!(cfg.instance_group[0].gpus, [0, 1]);
    assert_eq!(cfg.instance_group[0].name, "gpu_group");
    assert_eq!(cfg.instance_group[1].kind(), InstanceGroupKind::Cpu);
    let w = &cfg.model_warmup[0];
    assert_eq!(w.batch_size, 4);
    assert_eq!(w.inputs["x"].dims, [8, 64]);
    validate(&cfg).unwrap();
}

#[test]
fn reshape_specific_versions_sequence_batching() {
    let cfg = parse_config_file(&data("reshape.pbtxt")).unwrap();
    assert_eq!(
        cfg.input[0].reshape.as_ref().unwrap().shape,
        Vec::<i64>::new()
    );
    assert_eq!(cfg.output[0].reshape.as_ref().unwrap().shape, [4]);
    match cfg
        .version_policy
        .as_ref()
        .unwrap()
        .policy_choice
        .as_ref()
        .unwrap()
    {
        VersionPolicyChoice::Specific(s) => assert_eq!(s.versions, [1, 3]),
        other => panic!("expected specific, got {other:?}"),
    }
    let Some(SchedulingChoice::SequenceBatching(sb)) = &cfg.scheduling_choice else {
        panic!("sequence_batching expected");
    };
    assert_eq!(sb.max_sequence_idle_microseconds, 5_000_000);
    assert_eq!(sb.control_input[0].control[0].int32_false_true, [0, 1]);
    validate(&cfg).unwrap();
}

#[test]
fn colon_lists_all_policy_and_other_fields() {
    let cfg = parse_config_file(&data("all_versions.pbtxt")).unwrap();
    assert_eq!(cfg.input[0].data_type(), DataType::TypeInt64);
    assert_eq!(cfg.output[0].data_type(), DataType::TypeString);
    assert!(matches!(
        cfg.version_policy.as_ref().unwrap().policy_choice,
        Some(VersionPolicyChoice::All(_))
    ));
    assert_eq!(cfg.instance_group[0].kind(), InstanceGroupKind::Model);
    assert!(cfg.response_cache.as_ref().unwrap().enable);
    validate(&cfg).unwrap();
}

#[test]
fn comments_and_brackets_inside_strings_are_left_alone() {
    let cfg = parse(
        "name: \"m\" # input [ {\n\
         platform: 'onnxruntime_onnx'\n\
         parameters { key: \"k[\" value { string_value: \"input [ { \\\" ] #\" } }\n\
         output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 1 ] } ] # trailing\n",
    )
    .unwrap();
    assert_eq!(cfg.parameters["k["].string_value, "input [ { \" ] #");
    assert_eq!(cfg.output[0].name, "y");
}

#[test]
fn empty_text_is_an_empty_config() {
    let cfg = parse("# only a comment\n").unwrap();
    assert_eq!(cfg, Default::default());
}

#[test]
fn unknown_field_names_file_field_and_line() {
    let (e, msg) = parse_err(
        "name: \"m\"\n\
         input [\n\
           {\n\
             name: \"a\"\n\
             data_typ: TYPE_FP32\n\
           }\n\
         ]\n",
    );
    let ConfigError::Parse {
        file, line, field, ..
    } = &e
    else {
        panic!("parse error expected, got {e:?}");
    };
    assert_eq!(file, Path::new("models/m/config.pbtxt"));
    assert_eq!(*line, Some(5), "{msg}");
    assert_eq!(field.as_deref(), Some("input[0].data_typ"), "{msg}");
    assert!(msg.starts_with("models/m/config.pbtxt:5:"), "{msg}");
    assert!(msg.contains("data_typ"), "{msg}");
    assert!(msg.contains("inference.ModelInput"), "{msg}");
}

#[test]
fn unknown_field_in_second_list_element_is_indexed() {
    let (e, msg) =
        parse_err("output [ { name: \"a\" dims: [1] },\n { name: \"b\" shape: [ 2 ] } ]");
    let ConfigError::Parse { line, field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, Some(2), "{msg}");
    assert_eq!(field.as_deref(), Some("output[1].shape"), "{msg}");
}

#[test]
fn unknown_top_level_field() {
    let (_, msg) = parse_err("name: \"m\"\nmax_batch: 8\n");
    assert!(msg.contains(":2:1:"), "{msg}");
    assert!(msg.contains("field 'max_batch'"), "{msg}");
    assert!(msg.contains("inference.ModelConfig"), "{msg}");
}

#[test]
fn wrong_value_type_names_the_field() {
    let (e, msg) = parse_err("name: \"m\"\nmax_batch_size: \"eight\"\n");
    let ConfigError::Parse { line, field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, Some(2));
    assert_eq!(field.as_deref(), Some("max_batch_size"), "{msg}");
    assert!(msg.contains("eight"), "{msg}");

    let (e, msg) = parse_err("input [ { name: 7 } ]");
    let ConfigError::Parse { field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(field.as_deref(), Some("input[0].name"), "{msg}");
}

#[test]
fn bad_enum_value_names_enum_and_field() {
    let (e, msg) = parse_err("input [ { name: \"a\" data_type: TYPE_FLOAT32 dims: [ 1 ] } ]\n");
    let ConfigError::Parse { field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(field.as_deref(), Some("input[0].data_type"), "{msg}");
    assert!(msg.contains("TYPE_FLOAT32"), "{msg}");
    assert!(msg.contains("inference.DataType"), "{msg}");

    let (e, msg) = parse_err(
        "dynamic_batching { priority_queue_policy [ { key: 1 value { timeout_action: DROP } } ] }",
    );
    let ConfigError::Parse { field, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        field.as_deref(),
        Some("dynamic_batching.priority_queue_policy[0].value.timeout_action"),
        "{msg}"
    );
}

#[test]
fn out_of_range_and_duplicate_fields() {
    let (_, msg) = parse_err("max_batch_size: 99999999999");
    assert!(msg.contains("out of range"), "{msg}");
    let (_, msg) = parse_err("name: \"a\"\nname: \"b\"");
    assert!(msg.contains("already set"), "{msg}");
    let (_, msg) = parse_err("dynamic_batching { }\nsequence_batching { }");
    assert!(msg.contains("scheduling_choice"), "{msg}");
}

#[test]
fn malformed_text_reports_position() {
    let (e, msg) = parse_err("name: \"m\"\ninput [ { name: \"a\" ");
    let ConfigError::Parse { line, column, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        (*line, *column),
        (Some(2), Some(21)),
        "after the last character: {msg}"
    );
    assert!(msg.contains("field 'input[0]'"), "{msg}");
    assert!(msg.contains("end of input"), "{msg}");
    let (e, msg) = parse_err("name: \"unterminated\n");
    let ConfigError::Parse { line, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*line, Some(1), "{msg}");
    let (_, msg) = parse_err("input [ { name: \"a\" } \n output [ ]");
    assert!(msg.contains(":2:"), "{msg}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = parse_config_file(Path::new("/nonexistent/m/config.pbtxt")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/m/config.pbtxt"), "{e}");
}

#[test]
fn truncated_and_mangled_configs_give_errors_not_panics() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const NOISE: &[u8] = b"[]{}<>:,;#\"'\\-.0x9 \nabc_";
    for file in [
        "simple.pbtxt",
        "classifier.pbtxt",
        "dynamic.pbtxt",
        "reshape.pbtxt",
        "all_versions.pbtxt",
    ] {
        let text = std::fs::read_to_string(data(file)).unwrap();
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = parse(&text[..cut]);
        }
        for _ in 0..300 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..3 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = NOISE[(next() % NOISE.len() as u64) as usize];
            }
            if let Ok(mangled) = String::from_utf8(bytes)
                && let Err(e) = parse(&mangled)
            {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}
