//! Checking a parsed model configuration against the rules Triton applies, reporting every
//! problem at once with the field it is about.

use super::{ConfigError, FieldProblem};
use crate::proto::inference::model_config::SchedulingChoice;
use crate::proto::inference::model_instance_group::Kind as GroupKind;
use crate::proto::inference::model_version_policy::PolicyChoice;
use crate::proto::inference::model_warmup::input::InputDataType;
use crate::proto::inference::{
    DataType, ModelConfig, ModelDynamicBatching, ModelInput, ModelQueuePolicy, ModelWarmup,
    model_input, model_queue_policy,
};
use std::collections::HashSet;

/// Check `cfg` (after the repository has filled `name` and auto-complete has run).
///
/// Checks: the name; `max_batch_size >= 0`; platform/backend present and consistent; every
/// input and output (name present and unique, a valid data type, rank >= 1, each dim `-1` or
/// `>= 1`, reshape element counts, image formats with 3 dims); instance groups (count, kind,
/// GPUs only for GPU kinds, unique names); the version policy; dynamic batching (preferred
/// sizes in `1..=max_batch_size`, priority levels, queue policies, `preserve_ordering`
/// limits); ensembles; warmup samples. All problems are returned together in
/// [`ConfigError::Invalid`].
pub fn validate(cfg: &ModelConfig) -> Result<(), ConfigError> {
    let mut p = Problems::default();
    if cfg.name.is_empty() {
        p.add("name", "must not be empty");
    }
    if cfg.max_batch_size < 0 {
        p.add(
            "max_batch_size",
            format!("must be >= 0, got {}", cfg.max_batch_size),
        );
    }
    check_platform(cfg, &mut p);
    check_inputs(cfg, &mut p);
    check_outputs(cfg, &mut p);
    check_instance_groups(cfg, &mut p);
    check_version_policy(cfg, &mut p);
    match &cfg.scheduling_choice {
        Some(SchedulingChoice::DynamicBatching(db)) => check_dynamic_batching(cfg, db, &mut p),
        Some(SchedulingChoice::EnsembleScheduling(ens)) => {
            if cfg.platform != "ensemble" {
                p.add(
                    "ensemble_scheduling",
                    format!(
                        "is only allowed with platform \"ensemble\", not \"{}\"",
                        cfg.platform
                    ),
                );
            }
            if ens.step.is_empty() {
                p.add("ensemble_scheduling.step", "must list at least one step");
            }
            for (i, step) in ens.step.iter().enumerate() {
                if step.model_name.is_empty() {
                    p.add(
                        format!("ensemble_scheduling.step[{i}].model_name"),
                        "must not be empty",
                    );
                }
            }
        }
        Some(SchedulingChoice::SequenceBatching(sb)) => {
            for (i, ci) in sb.control_input.iter().enumerate() {
                if ci.name.is_empty() {
                    p.add(
                        format!("sequence_batching.control_input[{i}].name"),
                        "must not be empty",
                    );
                }
            }
        }
        None => {}
    }
    if cfg.platform == "ensemble"
        && !matches!(
            cfg.scheduling_choice,
            Some(SchedulingChoice::EnsembleScheduling(_))
        )
    {
        p.add(
            "ensemble_scheduling",
            "platform \"ensemble\" requires ensemble_scheduling",
        );
    }
    for (i, w) in cfg.model_warmup.iter().enumerate() {
        check_warmup(cfg, i, w, &mut p);
    }
    if p.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            model: if cfg.name.is_empty() {
                "<unnamed>".to_string()
            } else {
                cfg.name.clone()
            },
            problems: p.0,
        })
    }
}

#[derive(Default)]
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldProblem::new(field, message));
    }
}

fn check_platform(cfg: &ModelConfig, p: &mut Problems) {
    if cfg.platform.is_empty() && cfg.backend.is_empty() {
        p.add("platform", "neither 'platform' nor 'backend' is set");
        return;
    }
    if !cfg.platform.is_empty() && !cfg.backend.is_empty() {
        let expected = super::PLATFORM_BACKENDS
            .iter()
            .find(|(pl, _)| *pl == cfg.platform)
            .map(|(_, b)| *b);
        if let Some(b) = expected
            && b != cfg.backend
        {
            p.add(
                "backend",
                format!(
                    "\"{}\" does not match platform \"{}\" (which runs on backend \"{b}\")",
                    cfg.backend, cfg.platform
                ),
            );
        }
    }
}

fn check_data_type(field: String, value: i32, p: &mut Problems) {
    match DataType::try_from(value) {
        Ok(DataType::TypeInvalid) => p.add(field, "must be set (e.g. TYPE_FP32)"),
        Ok(_) => {}
        Err(_) => p.add(field, format!("{value} is not a valid DataType")),
    }
}

/// Check config dims: rank >= 1, each dim -1 or >= 1.
fn check_dims(field: &str, dims: &[i64], p: &mut Problems) {
    if dims.is_empty() {
        p.add(
            format!("{field}.dims"),
            "must have at least one dimension (use dims: [ 1 ] with reshape: { shape: [ ] } \
             for a tensor that is only the batch dimension)",
        );
    }
    check_dim_values(&format!("{field}.dims"), dims, p);
}

fn check_dim_values(field: &str, dims: &[i64], p: &mut Problems) {
    for (j, &d) in dims.iter().enumerate() {
        if d != -1 && d < 1 {
            p.add(
                format!("{field}[{j}]"),
                format!("must be >= 1, or -1 for a variable size, got {d}"),
            );
        }
    }
}

fn check_reshape(field: &str, dims: &[i64], reshape: &[i64], p: &mut Problems) {
    check_dim_values(&format!("{field}.reshape.shape"), reshape, p);
    let variable = |d: &[i64]| d.iter().filter(|&&x| x == -1).count();
    let product = |d: &[i64]| d.iter().try_fold(1i64, |acc, &x| acc.checked_mul(x));
    match (variable(dims), variable(reshape)) {
        (0, 0) if product(dims) != product(reshape) => p.add(
            format!("{field}.reshape.shape"),
            format!("{reshape:?} has a different number of elements than dims {dims:?}"),
        ),
        (a, b) if (a == 0) != (b == 0) => p.add(
            format!("{field}.reshape.shape"),
            format!(
                "{reshape:?} and dims {dims:?} must both have variable-size (-1) dimensions \
                 or neither"
            ),
        ),
        _ => {}
    }
}

fn check_unique_name(
    kind: &str,
    i: usize,
    name: &str,
    seen: &mut HashSet<String>,
    p: &mut Problems,
) {
    if name.is_empty() {
        p.add(format!("{kind}[{i}].name"), "must not be empty");
    } else if !seen.insert(name.to_string()) {
        p.add(
            format!("{kind}[{i}].name"),
            format!("'{name}' is used by more than one {kind}"),
        );
    }
}

fn check_inputs(cfg: &ModelConfig, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, input) in cfg.input.iter().enumerate() {
        let field = format!("input[{i}]");
        check_unique_name("input", i, &input.name, &mut seen, p);
        check_data_type(format!("{field}.data_type"), input.data_type, p);
        check_dims(&field, &input.dims, p);
        if let Some(r) = &input.reshape {
            check_reshape(&field, &input.dims, &r.shape, p);
        }
        check_format(&field, input, p);
    }
}

fn check_format(field: &str, input: &ModelInput, p: &mut Problems) {
    match model_input::Format::try_from(input.format) {
        Ok(model_input::Format::None) => {}
        Ok(f) => {
            if input.dims.len() != 3 {
                p.add(
                    format!("{field}.dims"),
                    format!(
                        "format {} needs 3 dims (not counting the batch dimension), got {}",
                        f.as_str_name(),
                        input.dims.len()
                    ),
                );
            }
        }
        Err(_) => p.add(
            format!("{field}.format"),
            format!("{} is not a valid Format", input.format),
        ),
    }
}

fn check_outputs(cfg: &ModelConfig, p: &mut Problems) {
    if cfg.output.is_empty() && cfg.platform != "ensemble" {
        p.add("output", "the model must have at least one output");
    }
    let mut seen = HashSet::new();
    for (i, output) in cfg.output.iter().enumerate() {
        let field = format!("output[{i}]");
        check_unique_name("output", i, &output.name, &mut seen, p);
        check_data_type(format!("{field}.data_type"), output.data_type, p);
        check_dims(&field, &output.dims, p);
        if let Some(r) = &output.reshape {
            check_reshape(&field, &output.dims, &r.shape, p);
        }
    }
}

fn check_instance_groups(cfg: &ModelConfig, p: &mut Problems) {
    if cfg.platform == "ensemble" && !cfg.instance_group.is_empty() {
        p.add("instance_group", "an ensemble cannot have instance groups");
    }
    let mut names = HashSet::new();
    for (i, g) in cfg.instance_group.iter().enumerate() {
        let field = format!("instance_group[{i}]");
        if !g.name.is_empty() && !names.insert(g.name.clone()) {
            p.add(
                format!("{field}.name"),
                format!("'{}' names more than one instance group", g.name),
            );
        }
        if g.count < 0 {
            p.add(
                format!("{field}.count"),
                format!("must be >= 1, got {}", g.count),
            );
        }
        match GroupKind::try_from(g.kind) {
            Ok(GroupKind::Cpu | GroupKind::Model) if !g.gpus.is_empty() => p.add(
                format!("{field}.gpus"),
                format!(
                    "GPUs cannot be given for kind {}",
                    GroupKind::try_from(g.kind).map_or("?", |k| k.as_str_name())
                ),
            ),
            Ok(_) => {}
            Err(_) => p.add(
                format!("{field}.kind"),
                format!("{} is not a valid instance group Kind", g.kind),
            ),
        }
        for (j, &gpu) in g.gpus.iter().enumerate() {
            if gpu < 0 {
                p.add(
                    format!("{field}.gpus[{j}]"),
                    format!("must be >= 0, got {gpu}"),
                );
            }
        }
    }
}

fn check_version_policy(cfg: &ModelConfig, p: &mut Problems) {
    let Some(PolicyChoice::Specific(s)) = cfg
        .version_policy
        .as_ref()
        .and_then(|v| v.policy_choice.as_ref())
    else {
        return;
    };
    if s.versions.is_empty() {
        p.add(
            "version_policy.specific.versions",
            "must list at least one version",
        );
    }
    let mut seen = HashSet::new();
    for (j, &v) in s.versions.iter().enumerate() {
        if v < 0 {
            p.add(
                format!("version_policy.specific.versions[{j}]"),
                format!("must be >= 0, got {v}"),
            );
        } else if !seen.insert(v) {
            p.add(
                format!("version_policy.specific.versions[{j}]"),
                format!("version {v} is listed twice"),
            );
        }
    }
}

fn check_queue_policy(
    field: &str,
    q: &ModelQueuePolicy,
    preserve_ordering: bool,
    p: &mut Problems,
) {
    match model_queue_policy::TimeoutAction::try_from(q.timeout_action) {
        Ok(model_queue_policy::TimeoutAction::Delay)
            if preserve_ordering && q.default_timeout_microseconds != 0 =>
        {
            p.add(
                format!("{field}.timeout_action"),
                "DELAY is not allowed when dynamic_batching.preserve_ordering is true",
            )
        }
        Ok(_) => {}
        Err(_) => p.add(
            format!("{field}.timeout_action"),
            format!("{} is not a valid TimeoutAction", q.timeout_action),
        ),
    }
}

fn check_dynamic_batching(cfg: &ModelConfig, db: &ModelDynamicBatching, p: &mut Problems) {
    for (j, &size) in db.preferred_batch_size.iter().enumerate() {
        let field = format!("dynamic_batching.preferred_batch_size[{j}]");
        if size <= 0 {
            p.add(field, format!("must be >= 1, got {size}"));
        } else if size > cfg.max_batch_size {
            p.add(
                field,
                format!(
                    "{size} is larger than max_batch_size {}",
                    cfg.max_batch_size
                ),
            );
        }
    }
    let levels = db.priority_levels;
    if levels != 0 {
        if db.default_priority_level == 0 || db.default_priority_level > levels {
            p.add(
                "dynamic_batching.default_priority_level",
                format!(
                    "must be in [1, {levels}] (priority_levels is {levels}), got {}",
                    db.default_priority_level
                ),
            );
        }
    } else if db.default_priority_level != 0 {
        p.add(
            "dynamic_batching.default_priority_level",
            "is set but priority_levels is 0",
        );
    }
    let mut keys: Vec<_> = db.priority_queue_policy.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        if key == 0 || key > levels {
            p.add(
                format!("dynamic_batching.priority_queue_policy[{key}]"),
                format!("priority level {key} is not in [1, {levels}] (priority_levels)"),
            );
        }
        check_queue_policy(
            &format!("dynamic_batching.priority_queue_policy[{key}]"),
            &db.priority_queue_policy[&key],
            db.preserve_ordering,
            p,
        );
    }
    if let Some(q) = &db.default_queue_policy {
        check_queue_policy(
            "dynamic_batching.default_queue_policy",
            q,
            db.preserve_ordering,
            p,
        );
    }
    if db.preserve_ordering && levels > 1 {
        p.add(
            "dynamic_batching.priority_levels",
            "only one priority level is allowed when preserve_ordering is true",
        );
    }
}

fn check_warmup(cfg: &ModelConfig, i: usize, w: &ModelWarmup, p: &mut Problems) {
    let field = format!("model_warmup[{i}]");
    if w.name.is_empty() {
        p.add(format!("{field}.name"), "must not be empty");
    }
    let max = cfg.max_batch_size.max(1) as u32;
    if w.batch_size == 0 || w.batch_size > max {
        p.add(
            format!("{field}.batch_size"),
            format!("must be in [1, {max}], got {}", w.batch_size),
        );
    }
    if w.inputs.is_empty() {
        p.add(
            format!("{field}.inputs"),
            "must describe at least one input",
        );
    }
    let mut names: Vec<_> = w.inputs.keys().collect();
    names.sort();
    for name in names {
        let input = &w.inputs[name];
        let f = format!("{field}.inputs[{name}]");
        check_data_type(format!("{f}.data_type"), input.data_type, p);
        for (j, &d) in input.dims.iter().enumerate() {
            if d < 1 {
                p.add(
                    format!("{f}.dims[{j}]"),
                    format!("warmup dims must be concrete sizes >= 1, got {d}"),
                );
            }
        }
        match &input.input_data_type {
            None => p.add(
                f,
                "one of zero_data, random_data or input_data_file must be set",
            ),
            Some(InputDataType::InputDataFile(file)) if file.is_empty() => {
                p.add(format!("{f}.input_data_file"), "must not be empty")
            }
            Some(_) => {}
        }
    }
}
