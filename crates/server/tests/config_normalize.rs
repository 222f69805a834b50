//! Triton's defaults filled by `normalize`.

use kiln_server::config::{
    InstanceGroupKind, ModelConfig, SEQUENCE_IDLE_DEFAULT_MICROSECONDS, SchedulingChoice,
    VersionPolicyChoice, normalize, parse_config_text, validate,
};
use std::path::Path;

fn normalized(text: &str, gpus: &[i32]) -> ModelConfig {
    let mut cfg = parse_config_text(text, Path::new("config.pbtxt")).unwrap();
    normalize(&mut cfg, gpus);
    cfg
}

#[test]
fn version_policy_and_default_group() {
    let cfg = normalized("name: \"m\"\nbackend: \"kiln\"", &[]);
    assert_eq!(cfg.platform, "kiln_plan");
    match cfg.version_policy.unwrap().policy_choice.unwrap() {
        VersionPolicyChoice::Latest(l) => assert_eq!(l.num_versions, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.instance_group.len(), 1);
    let g = &cfg.instance_group[0];
    assert_eq!(
        (g.name.as_str(), g.kind(), g.count),
        ("m", InstanceGroupKind::Cpu, 1)
    );
    assert!(g.gpus.is_empty());
    let opt = cfg.optimization.unwrap();
    assert!(opt.input_pinned_memory.unwrap().enable);
    assert!(opt.output_pinned_memory.unwrap().enable);
    let cfg = normalized("name: \"m\" version_policy { latest { } }", &[]);
    match cfg.version_policy.unwrap().policy_choice.unwrap() {
        VersionPolicyChoice::Latest(l) => assert_eq!(l.num_versions, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn instance_group_kinds_names_counts_gpus() {
    let text = "name: \"m\"\ninstance_group [\n\
                { kind: KIND_AUTO },\n\
                { kind: KIND_AUTO gpus: [ 3 ] },\n\
                { name: \"mine\" kind: KIND_GPU count: 0 },\n\
                { kind: KIND_CPU count: 4 } ]";
    let cfg = normalized(text, &[0, 1]);
    let g = &cfg.instance_group;
    assert_eq!(g[0].name, "m_0");
    assert_eq!(g[0].kind(), InstanceGroupKind::Gpu, "GPUs are available");
    assert_eq!(g[0].gpus, [0, 1]);
    assert_eq!(
        g[1].kind(),
        InstanceGroupKind::Cpu,
        "GPU 3 is not available"
    );
    assert_eq!(g[2].name, "mine");
    assert_eq!(g[2].count, 1);
    assert_eq!(g[2].gpus, [0, 1]);
    assert_eq!(g[3].name, "m_3");
    assert_eq!(g[3].count, 4);
    let cfg = normalized(text, &[]);
    assert_eq!(cfg.instance_group[0].kind(), InstanceGroupKind::Cpu);
}

#[test]
fn batching_defaults() {
    let cfg = normalized("name: \"m\" max_batch_size: 8 dynamic_batching { }", &[]);
    let Some(SchedulingChoice::DynamicBatching(db)) = cfg.scheduling_choice else {
        panic!()
    };
    assert_eq!(db.preferred_batch_size, [8]);
    let cfg = normalized("name: \"m\" dynamic_batching { }", &[]);
    let Some(SchedulingChoice::DynamicBatching(db)) = cfg.scheduling_choice else {
        panic!()
    };
    assert!(
        db.preferred_batch_size.is_empty(),
        "no batching: nothing preferred"
    );
    let cfg = normalized(
        "name: \"m\" max_batch_size: 4 sequence_batching { oldest { max_candidate_sequences: 2 } }",
        &[],
    );
    let Some(SchedulingChoice::SequenceBatching(sb)) = cfg.scheduling_choice else {
        panic!()
    };
    assert_eq!(
        sb.max_sequence_idle_microseconds,
        SEQUENCE_IDLE_DEFAULT_MICROSECONDS
    );
}

#[test]
fn ensembles_get_no_instance_groups() {
    let cfg = normalized(
        "name: \"e\" platform: \"ensemble\"\n\
         input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n\
         output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n\
         ensemble_scheduling { step [ { model_name: \"a\" model_version: -1 } ] }",
        &[],
    );
    assert!(cfg.instance_group.is_empty());
    assert!(cfg.optimization.is_none());
    validate(&cfg).unwrap();
}
