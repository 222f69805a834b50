//! Auto-complete from model graphs: hand-built graphs for each rule, and the ONNX CNN of the
//! repository's examples through kiln-onnx.

use kiln_core::{DataType as CoreType, Dim, Graph, Shape, Tensor, ValueInfo};
use kiln_server::config::{
    AutoCompleteOptions, ConfigError, DataType, ModelConfig, SchedulingChoice, auto_complete,
    auto_complete_with, finalize, parse_config_text, validate,
};
use std::path::Path;

fn sym(s: &str) -> Dim {
    Dim::Sym(s.to_string())
}

fn tensor(name: &str, dtype: CoreType, dims: Vec<Dim>) -> ValueInfo {
    ValueInfo::tensor(name, dtype, Shape(dims))
}

/// A graph with a dynamic batch dimension: x [N, 3, 8] f32, w (initializer), y [N, 10] f32.
fn batch_graph() -> Graph {
    let mut g = Graph::new("g");
    g.inputs = vec![
        tensor(
            "x",
            CoreType::F32,
            vec![sym("N"), Dim::Fixed(3), Dim::Fixed(8)],
        ),
        tensor("w", CoreType::F32, vec![Dim::Fixed(2)]),
    ];
    g.initializers
        .insert("w".to_string(), Tensor::zeros(CoreType::F32, &[2]));
    g.outputs = vec![
        tensor("y", CoreType::F32, vec![sym("N"), Dim::Fixed(10)]),
        tensor("idx", CoreType::I64, vec![Dim::Unknown, Dim::Unknown]),
    ];
    g
}

/// A graph with fixed shapes: a [2, 3] i32 -> b [6] i32.
fn fixed_graph() -> Graph {
    let mut g = Graph::new("fixed");
    g.inputs = vec![tensor(
        "a",
        CoreType::I32,
        vec![Dim::Fixed(2), Dim::Fixed(3)],
    )];
    g.outputs = vec![tensor("b", CoreType::I32, vec![Dim::Fixed(6)])];
    g
}

fn cfg(text: &str) -> ModelConfig {
    parse_config_text(text, Path::new("config.pbtxt")).unwrap()
}

fn named(name: &str) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        ..ModelConfig::default()
    }
}

fn mismatch(e: ConfigError) -> Vec<(String, String)> {
    match e {
        ConfigError::ModelMismatch { problems, .. } => {
            problems.into_iter().map(|p| (p.field, p.message)).collect()
        }
        other => panic!("expected ModelMismatch, got {other:?}"),
    }
}

#[test]
fn empty_config_of_a_batching_model() {
    let out = auto_complete(named("m"), &batch_graph()).unwrap();
    assert_eq!(out.platform, "onnxruntime_onnx");
    assert_eq!(out.backend, "onnxruntime");
    assert_eq!(out.max_batch_size, 4, "Triton's default-max-batch-size");
    assert!(
        matches!(
            out.scheduling_choice,
            Some(SchedulingChoice::DynamicBatching(_))
        ),
        "max_batch_size > 1 and no scheduler: dynamic batching is enabled"
    );
    assert_eq!(
        out.input.len(),
        1,
        "the initializer-backed input is not a model input"
    );
    assert_eq!(out.input[0].name, "x");
    assert_eq!(out.input[0].data_type(), DataType::TypeFp32);
    assert_eq!(
        out.input[0].dims,
        [3, 8],
        "dims exclude the batch dimension"
    );
    assert_eq!(out.output[0].dims, [10]);
    assert_eq!(out.output[1].data_type(), DataType::TypeInt64);
    assert_eq!(out.output[1].dims, [-1], "unknown sizes become -1");
    validate(&out).unwrap();
}

#[test]
fn options_change_platform_and_default_batch() {
    let options = AutoCompleteOptions {
        platform: Some("kiln_plan".to_string()),
        default_max_batch_size: 1,
    };
    let out = auto_complete_with(named("m"), &batch_graph(), &options).unwrap();
    assert_eq!(out.platform, "kiln_plan");
    assert_eq!(out.backend, "kiln");
    assert_eq!(out.max_batch_size, 1);
    assert!(
        out.scheduling_choice.is_none(),
        "no dynamic batching for max 1"
    );
    let options = AutoCompleteOptions {
        platform: None,
        default_max_batch_size: 0,
    };
    let out = auto_complete_with(named("m"), &batch_graph(), &options).unwrap();
    assert_eq!(out.max_batch_size, 0);
    assert_eq!(out.input[0].dims, [-1, 3, 8]);
}

#[test]
fn fixed_shapes_do_not_batch() {
    let out = auto_complete(named("m"), &fixed_graph()).unwrap();
    assert_eq!(out.max_batch_size, 0);
    assert_eq!(out.input[0].dims, [2, 3]);
    assert_eq!(out.output[0].dims, [6]);
    assert!(out.scheduling_choice.is_none());
    let e = auto_complete(cfg("max_batch_size: 4"), &fixed_graph()).unwrap_err();
    let p = mismatch(e);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].1
            .contains("tensor 'a': its first dimension is fixed (2)"),
        "{p:?}"
    );
}

#[test]
fn partial_config_keeps_what_it_states() {
    let text = "name: \"m\"\nbackend: \"onnxruntime\"\nmax_batch_size: 16\n\
                output [ { name: \"y\" label_filename: \"labels.txt\" } ]\n\
                dynamic_batching { max_queue_delay_microseconds: 50 }\n";
    let out = auto_complete(cfg(text), &batch_graph()).unwrap();
    assert_eq!(out.platform, "onnxruntime_onnx");
    assert_eq!(out.max_batch_size, 16);
    assert_eq!(out.input[0].dims, [3, 8]);
    assert_eq!(
        out.output.len(),
        1,
        "a stated subset of outputs is kept as is"
    );
    assert_eq!(out.output[0].label_filename, "labels.txt");
    assert_eq!(out.output[0].data_type(), DataType::TypeFp32);
    assert_eq!(out.output[0].dims, [10]);
    let Some(SchedulingChoice::DynamicBatching(db)) = &out.scheduling_choice else {
        panic!()
    };
    assert_eq!(db.max_queue_delay_microseconds, 50);
}

#[test]
fn stated_full_rank_dims_mean_no_batching() {
    let text = "input [ { name: \"x\" data_type: TYPE_FP32 dims: [ -1, 3, 8 ] } ]";
    let out = auto_complete(cfg(text), &batch_graph()).unwrap();
    assert_eq!(out.max_batch_size, 0);
    assert_eq!(out.output[0].dims, [-1, 10]);
    // A stated dimension may be more specific than the model's dynamic one.
    let text = "input [ { name: \"x\" dims: [ 2, 3, 8 ] } ]";
    let out = auto_complete(cfg(text), &batch_graph()).unwrap();
    assert_eq!(out.input[0].dims, [2, 3, 8]);
}

#[test]
fn disagreements_are_all_reported() {
    let text = "name: \"m\"\nmax_batch_size: 2\n\
                input [ { name: \"x\" data_type: TYPE_INT32 dims: [ 3, 9 ] },\n\
                        { name: \"z\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n\
                output [ { name: \"y\" dims: [ 10, 1 ] }, { name: \"q\" } ]\n";
    let p = mismatch(auto_complete(cfg(text), &batch_graph()).unwrap_err());
    let has = |f: &str, m: &str| p.iter().any(|(pf, pm)| pf == f && pm.contains(m));
    assert!(
        has(
            "input[0].data_type",
            "is TYPE_INT32 but the model's 'x' is TYPE_FP32"
        ),
        "{p:?}"
    );
    assert!(
        has(
            "input[0].dims",
            "[3, 9] does not match the model's 'x' dims [3, 8]"
        ),
        "{p:?}"
    );
    assert!(
        has(
            "input[1].name",
            "'z' is not an input of the model (its inputs: 'x')"
        ),
        "{p:?}"
    );
    assert!(has("output[0].dims", "[10, 1]"), "{p:?}");
    assert!(has("output[1].name", "'q' is not an output"), "{p:?}");
    assert_eq!(p.len(), 5, "{p:?}");
}

#[test]
fn reshape_is_compared_instead_of_dims() {
    let text = "max_batch_size: 4\n\
                input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 24 ] reshape { shape: [ 3, 8 ] } } ]";
    let out = auto_complete(cfg(text), &batch_graph()).unwrap();
    assert_eq!(out.input[0].dims, [24]);
    let text = "max_batch_size: 4\n\
                input [ { name: \"x\" dims: [ 24 ] reshape { shape: [ 4, 6 ] } } ]";
    let p = mismatch(auto_complete(cfg(text), &batch_graph()).unwrap_err());
    assert_eq!(p[0].0, "input[0].reshape.shape", "{p:?}");
}

#[test]
fn onnx_cnn_from_the_examples() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/small_cnn.onnx");
    let model = kiln_onnx::load_model(&path)
        .unwrap_or_else(|e| panic!("examples/small_cnn.onnx must load: {e}"));
    let out = auto_complete(named("small_cnn"), &model.graph).unwrap();
    assert_eq!(out.max_batch_size, 4);
    assert_eq!(out.input.len(), 1);
    assert_eq!(out.input[0].name, "input");
    assert_eq!(out.input[0].data_type(), DataType::TypeFp32);
    assert_eq!(out.input[0].dims, [3, 32, 32]);
    assert_eq!(out.output[0].name, "probs");
    assert_eq!(out.output[0].dims, [10]);
    let done = finalize(
        named("small_cnn"),
        Some(&model.graph),
        &Default::default(),
        &[],
    )
    .unwrap();
    assert_eq!(done.instance_group.len(), 1);
    assert_eq!(done.instance_group[0].name, "small_cnn");
    assert_eq!(done.instance_group[0].count, 1);
    let wrong = cfg("name: \"small_cnn\"\ninput [ { name: \"input\" dims: [ 3, 28, 28 ] } ]");
    let e = finalize(wrong, Some(&model.graph), &Default::default(), &[]).unwrap_err();
    assert!(
        e.to_string().contains(
            "input[0].dims: [3, 28, 28] does not match the model's 'input' dims [3, 32, 32]"
        ),
        "{e}"
    );
}
