//! Triton's defaults for fields a configuration leaves out, so that the configuration served
//! at `GET /v2/models/{model}/config` shows what the server actually uses.

use crate::proto::inference::model_config::SchedulingChoice;
use crate::proto::inference::model_instance_group::Kind as GroupKind;
use crate::proto::inference::model_optimization_policy::PinnedMemoryBuffer;
use crate::proto::inference::model_version_policy::{Latest, PolicyChoice};
use crate::proto::inference::{ModelConfig, ModelInstanceGroup, ModelVersionPolicy};

/// How long a sequence may stay idle when the configuration does not say (Triton's default,
/// one second).
pub const SEQUENCE_IDLE_DEFAULT_MICROSECONDS: u64 = 1_000_000;

/// Fill Triton's defaults in place (Triton's normalization rules):
/// - no `version_policy`: `latest { num_versions: 1 }`; `num_versions: 0` becomes 1;
/// - `dynamic_batching` (and `sequence_batching.oldest`) without preferred batch sizes:
///   `[max_batch_size]` when `max_batch_size > 0`;
/// - `sequence_batching.max_sequence_idle_microseconds` 0: one second;
/// - except for ensembles: `optimization.input_pinned_memory` / `output_pinned_memory`
///   enabled when not given; no `instance_group`: one group named after the model; an
///   unnamed group is named `<model>_<index>`; `KIND_AUTO` becomes `KIND_GPU` when every GPU
///   it lists is among `gpus` (the GPUs available to the server) and `gpus` is not empty,
///   else `KIND_CPU`; `count` below 1 becomes 1; a `KIND_GPU` group without `gpus` gets all
///   of `gpus`;
/// - `platform`/`backend`: each filled from the other for the platforms Kiln knows.
pub fn normalize(cfg: &mut ModelConfig, gpus: &[i32]) {
    let latest_one = || PolicyChoice::Latest(Latest { num_versions: 1 });
    match &mut cfg.version_policy {
        None => {
            cfg.version_policy = Some(ModelVersionPolicy {
                policy_choice: Some(latest_one()),
            })
        }
        Some(v) => match &mut v.policy_choice {
            None => v.policy_choice = Some(latest_one()),
            Some(PolicyChoice::Latest(l)) if l.num_versions == 0 => l.num_versions = 1,
            Some(_) => {}
        },
    }
    let max_batch_size = cfg.max_batch_size;
    match &mut cfg.scheduling_choice {
        Some(SchedulingChoice::DynamicBatching(db)) => {
            if db.preferred_batch_size.is_empty() && max_batch_size > 0 {
                db.preferred_batch_size.push(max_batch_size);
            }
        }
        Some(SchedulingChoice::SequenceBatching(sb)) => {
            if sb.max_sequence_idle_microseconds == 0 {
                sb.max_sequence_idle_microseconds = SEQUENCE_IDLE_DEFAULT_MICROSECONDS;
            }
            if let Some(crate::proto::inference::model_sequence_batching::StrategyChoice::Oldest(o)) =
                &mut sb.strategy_choice
                && o.preferred_batch_size.is_empty()
                && max_batch_size > 0
            {
                o.preferred_batch_size.push(max_batch_size);
            }
        }
        _ => {}
    }
    let ensemble = matches!(
        cfg.scheduling_choice,
        Some(SchedulingChoice::EnsembleScheduling(_))
    );
    if !ensemble {
        let opt = cfg.optimization.get_or_insert_with(Default::default);
        opt.input_pinned_memory
            .get_or_insert(PinnedMemoryBuffer { enable: true });
        opt.output_pinned_memory
            .get_or_insert(PinnedMemoryBuffer { enable: true });
        if cfg.instance_group.is_empty() {
            cfg.instance_group.push(ModelInstanceGroup {
                name: cfg.name.clone(),
                ..ModelInstanceGroup::default()
            });
        }
        for (i, g) in cfg.instance_group.iter_mut().enumerate() {
            if g.name.is_empty() {
                g.name = format!("{}_{i}", cfg.name);
            }
            if g.kind == GroupKind::Auto as i32 {
                let on_gpu = !gpus.is_empty() && g.gpus.iter().all(|id| gpus.contains(id));
                g.kind = if on_gpu {
                    GroupKind::Gpu as i32
                } else {
                    GroupKind::Cpu as i32
                };
            }
            if g.count < 1 {
                g.count = 1;
            }
            if g.kind == GroupKind::Gpu as i32 && g.gpus.is_empty() {
                g.gpus = gpus.to_vec();
            }
        }
    }
    if cfg.backend.is_empty()
        && let Some((_, b)) = super::PLATFORM_BACKENDS
            .iter()
            .find(|(p, _)| *p == cfg.platform)
    {
        cfg.backend = b.to_string();
    }
    if cfg.platform.is_empty()
        && let Some((p, _)) = super::PLATFORM_BACKENDS
            .iter()
            .find(|(_, b)| *b == cfg.backend)
    {
        cfg.platform = p.to_string();
    }
}
