//! The example repository of the project (`examples/model_repository`) scans cleanly and
//! every configuration agrees with its ONNX model.

use kiln_server::config::{AutoCompleteOptions, SchedulingChoice, finalize};
use kiln_server::repository::{Platform, Repository, load_output_labels, model_file};
use std::path::Path;

#[test]
fn every_example_model_is_servable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/model_repository");
    let repo =
        Repository::new(&root).unwrap_or_else(|e| panic!("the example repository is missing: {e}"));
    let entries = repo.scan().unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    for expected in [
        "simple",
        "cnn_classifier",
        "cnn_dynamic",
        "mlp_autocomplete",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for entry in &entries {
        let name = &entry.name;
        let cfg = entry
            .config
            .clone()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(entry.platform, Platform::Onnx, "{name}");
        let versions = entry.versions_to_serve();
        assert!(!versions.is_empty(), "{name} has no version to serve");
        for v in versions {
            let file = model_file(entry, v).unwrap_or_else(|e| panic!("{e}"));
            let model =
                kiln_onnx::load_model(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let options = AutoCompleteOptions {
                platform: Some(entry.platform.platform_name().to_string()),
                ..AutoCompleteOptions::default()
            };
            let done = finalize(cfg.clone(), Some(&model.graph), &options, &[])
                .unwrap_or_else(|e| panic!("{name} version {v}: {e}"));
            assert!(done.max_batch_size > 0, "{name}: every example batches");
            if !entry.has_config_file {
                assert!(
                    matches!(
                        done.scheduling_choice,
                        Some(SchedulingChoice::DynamicBatching(_))
                    ),
                    "{name}: auto-complete enables dynamic batching"
                );
            }
            let labels = load_output_labels(&entry.dir, &done).unwrap();
            for o in done.output.iter().filter(|o| !o.label_filename.is_empty()) {
                let n: i64 = o.dims.iter().product();
                assert_eq!(
                    labels[&o.name].len() as i64,
                    n,
                    "{name}: one label per class"
                );
            }
        }
    }
}
