//! The rules `validate` enforces, each problem naming its field, all reported at once.

use kiln_server::config::{ConfigError, ModelConfig, parse_config_text, validate};
use std::path::Path;

fn cfg(text: &str) -> ModelConfig {
    parse_config_text(text, Path::new("config.pbtxt")).expect("test config parses")
}

const BASE: &str = "name: \"m\"\nplatform: \"onnxruntime_onnx\"\n";

/// Every (field, message) problem of a config that must be invalid.
fn problems(text: &str) -> Vec<(String, String)> {
    let c = cfg(&format!("{BASE}{text}"));
    match validate(&c) {
        Err(ConfigError::Invalid { model, problems }) => {
            assert_eq!(model, "m");
            problems.into_iter().map(|p| (p.field, p.message)).collect()
        }
        other => panic!("expected Invalid for {text:?}, got {other:?}"),
    }
}

fn has(problems: &[(String, String)], field: &str, needle: &str) -> bool {
    problems
        .iter()
        .any(|(f, m)| f == field && m.contains(needle))
}

const IO: &str = "input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n\
                  output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n";

#[test]
fn a_minimal_config_is_valid() {
    validate(&cfg(&format!("{BASE}max_batch_size: 8\n{IO}"))).unwrap();
}

#[test]
fn reports_every_problem_at_once() {
    let p = problems(
        "max_batch_size: -1\n\
         input [ { name: \"x\" dims: [ 0, -2 ] }, { name: \"x\" data_type: TYPE_FP32 dims: [ ] } ]\n\
         output [ { name: \"\" data_type: 99 dims: [ 1 ] } ]\n",
    );
    assert!(has(&p, "max_batch_size", ">= 0"), "{p:?}");
    assert!(has(&p, "input[0].data_type", "must be set"), "{p:?}");
    assert!(has(&p, "input[0].dims[0]", "got 0"), "{p:?}");
    assert!(has(&p, "input[0].dims[1]", "got -2"), "{p:?}");
    assert!(has(&p, "input[1].name", "more than one input"), "{p:?}");
    assert!(has(&p, "input[1].dims", "at least one dimension"), "{p:?}");
    assert!(has(&p, "output[0].name", "must not be empty"), "{p:?}");
    assert!(
        has(&p, "output[0].data_type", "99 is not a valid DataType"),
        "{p:?}"
    );
    assert_eq!(p.len(), 8, "{p:?}");
    let msg = validate(&cfg(&format!("{BASE}max_batch_size: -1\n{IO}")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "invalid model configuration for 'm': max_batch_size: must be >= 0, got -1"
    );
}

#[test]
fn platform_and_backend() {
    let c = cfg(&format!("name: \"m\"\n{IO}"));
    let e = validate(&c).unwrap_err();
    assert!(
        e.to_string().contains("neither 'platform' nor 'backend'"),
        "{e}"
    );
    let p = problems(&format!("backend: \"tensorrt\"\n{IO}"));
    assert!(has(&p, "backend", "does not match platform"), "{p:?}");
}

#[test]
fn outputs_required_and_reshape_checked() {
    let p = problems("input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n");
    assert!(has(&p, "output", "at least one output"), "{p:?}");
    let p = problems(
        "input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 3 ] } } ]\n\
         output [ { name: \"y\" data_type: TYPE_FP32 dims: [ -1 ] reshape { shape: [ 2, 2 ] } } ]\n",
    );
    assert!(
        has(&p, "input[0].reshape.shape", "different number of elements"),
        "{p:?}"
    );
    assert!(has(&p, "output[0].reshape.shape", "variable-size"), "{p:?}");
    // A batch-only tensor: dims [1] reshaped to [].
    validate(&cfg(&format!(
        "{BASE}max_batch_size: 2\n\
         input [ {{ name: \"x\" data_type: TYPE_FP32 dims: [ 1 ] reshape: {{ shape: [ ] }} }} ]\n\
         output [ {{ name: \"y\" data_type: TYPE_FP32 dims: [ 1 ] }} ]\n"
    )))
    .unwrap();
}

#[test]
fn image_formats_need_three_dims() {
    let p = problems(
        "input [ { name: \"x\" data_type: TYPE_FP32 format: FORMAT_NHWC dims: [ 32, 32 ] } ]\n\
         output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n",
    );
    assert!(
        has(&p, "input[0].dims", "FORMAT_NHWC needs 3 dims"),
        "{p:?}"
    );
}

#[test]
fn dynamic_batching_against_max_batch_size() {
    let p = problems(&format!(
        "max_batch_size: 8\n{IO}dynamic_batching {{ preferred_batch_size: [ 4, 16, 0 ] }}\n"
    ));
    assert!(
        has(
            &p,
            "dynamic_batching.preferred_batch_size[1]",
            "larger than max_batch_size 8"
        ),
        "{p:?}"
    );
    assert!(
        has(&p, "dynamic_batching.preferred_batch_size[2]", ">= 1"),
        "{p:?}"
    );
    let p = problems(&format!(
        "max_batch_size: 0\n{IO}dynamic_batching {{ preferred_batch_size: [ 2 ] }}\n"
    ));
    assert!(
        has(
            &p,
            "dynamic_batching.preferred_batch_size[0]",
            "larger than max_batch_size 0"
        ),
        "{p:?}"
    );
    // Without preferred sizes a non-batching model may still queue through the batcher.
    validate(&cfg(&format!("{BASE}{IO}dynamic_batching {{ }}\n"))).unwrap();
}

#[test]
fn priority_levels_and_queue_policies() {
    let p = problems(&format!(
        "max_batch_size: 8\n{IO}dynamic_batching {{\n\
           priority_levels: 2\n\
           default_priority_level: 3\n\
           priority_queue_policy [ {{ key: 0 value {{ }} }}, {{ key: 5 value {{ }} }} ]\n\
         }}\n"
    ));
    assert!(
        has(
            &p,
            "dynamic_batching.default_priority_level",
            "must be in [1, 2]"
        ),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "dynamic_batching.priority_queue_policy[0]",
            "not in [1, 2]"
        ),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "dynamic_batching.priority_queue_policy[5]",
            "not in [1, 2]"
        ),
        "{p:?}"
    );

    let p = problems(&format!(
        "max_batch_size: 8\n{IO}dynamic_batching {{ default_priority_level: 1 }}\n"
    ));
    assert!(
        has(
            &p,
            "dynamic_batching.default_priority_level",
            "priority_levels is 0"
        ),
        "{p:?}"
    );

    let p = problems(&format!(
        "max_batch_size: 8\n{IO}dynamic_batching {{\n\
           preserve_ordering: true\n\
           priority_levels: 2\n\
           default_priority_level: 1\n\
           default_queue_policy {{ timeout_action: DELAY default_timeout_microseconds: 10 }}\n\
         }}\n"
    ));
    assert!(
        has(&p, "dynamic_batching.priority_levels", "preserve_ordering"),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "dynamic_batching.default_queue_policy.timeout_action",
            "DELAY"
        ),
        "{p:?}"
    );

    validate(&cfg(&format!(
        "{BASE}max_batch_size: 8\n{IO}dynamic_batching {{\n\
           priority_levels: 2 default_priority_level: 2\n\
           priority_queue_policy {{ key: 1 value {{ timeout_action: DELAY default_timeout_microseconds: 10 }} }}\n\
         }}\n"
    )))
    .unwrap();
}

#[test]
fn instance_groups() {
    let p = problems(&format!(
        "{IO}instance_group [\n\
           {{ name: \"g\" kind: KIND_CPU gpus: [ 0 ] }},\n\
           {{ name: \"g\" count: -2 kind: KIND_GPU gpus: [ -1 ] }},\n\
           {{ kind: 17 }}\n\
         ]\n"
    ));
    assert!(has(&p, "instance_group[0].gpus", "KIND_CPU"), "{p:?}");
    assert!(has(&p, "instance_group[1].name", "more than one"), "{p:?}");
    assert!(has(&p, "instance_group[1].count", "got -2"), "{p:?}");
    assert!(has(&p, "instance_group[1].gpus[0]", "got -1"), "{p:?}");
    assert!(has(&p, "instance_group[2].kind", "17"), "{p:?}");
}

#[test]
fn version_policy_specific() {
    let p = problems(&format!(
        "{IO}version_policy {{ specific {{ versions: [ 1, -3, 1 ] }} }}\n"
    ));
    assert!(
        has(&p, "version_policy.specific.versions[1]", "got -3"),
        "{p:?}"
    );
    assert!(
        has(&p, "version_policy.specific.versions[2]", "listed twice"),
        "{p:?}"
    );
    let p = problems(&format!("{IO}version_policy {{ specific {{ }} }}\n"));
    assert!(
        has(&p, "version_policy.specific.versions", "at least one"),
        "{p:?}"
    );
}

#[test]
fn warmup_samples() {
    let p = problems(&format!(
        "max_batch_size: 2\n{IO}model_warmup [ {{\n\
           batch_size: 4\n\
           inputs {{ key: \"x\" value {{ data_type: TYPE_FP32 dims: [ -1 ] }} }}\n\
         }} ]\n"
    ));
    assert!(
        has(&p, "model_warmup[0].name", "must not be empty"),
        "{p:?}"
    );
    assert!(
        has(&p, "model_warmup[0].batch_size", "must be in [1, 2]"),
        "{p:?}"
    );
    assert!(
        has(&p, "model_warmup[0].inputs[x].dims[0]", "concrete"),
        "{p:?}"
    );
    assert!(has(&p, "model_warmup[0].inputs[x]", "zero_data"), "{p:?}");
}

#[test]
fn ensembles() {
    let p = problems(&format!("{IO}ensemble_scheduling {{ step [ {{ }} ] }}\n"));
    assert!(
        has(&p, "ensemble_scheduling", "platform \"ensemble\""),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "ensemble_scheduling.step[0].model_name",
            "must not be empty"
        ),
        "{p:?}"
    );
    let c = cfg(&format!("name: \"e\"\nplatform: \"ensemble\"\n{IO}"));
    let e = validate(&c).unwrap_err();
    assert!(
        e.to_string().contains("requires ensemble_scheduling"),
        "{e}"
    );
}
