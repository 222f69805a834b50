//! The model repository: scanning, version policies, model files per platform, names.

use kiln_server::config::{AutoCompleteOptions, load_labels};
use kiln_server::config::{ConfigError, ModelVersionPolicy, VersionPolicyChoice, finalize};
use kiln_server::proto::inference::model_version_policy::{All, Latest, Specific};
use kiln_server::repository::{
    ModelEntry, Platform, Repository, RepositoryError, load_output_labels, model_file, model_files,
    resolve_versions,
};
use std::fs;
use std::path::Path;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const IO: &str = "input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n\
                  output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 4 ] label_filename: \"labels.txt\" } ]\n";

/// A repository with one model of each kind the server meets.
fn sample_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A plan model with three versions and a stray non-version directory.
    write(
        &root.join("plan_model/config.pbtxt"),
        &format!(
            "name: \"plan_model\"\nplatform: \"kiln_plan\"\n{IO}version_policy: {{ latest: {{ num_versions: 2 }} }}\n"
        ),
    );
    write(&root.join("plan_model/labels.txt"), "cat\ndog\r\nbird\n");
    for v in ["1", "2", "10"] {
        write(&root.join(format!("plan_model/{v}/model.plan")), "plan");
    }
    fs::create_dir_all(root.join("plan_model/tmp")).unwrap();
    // An ONNX model without config.pbtxt (to be auto-completed).
    let cnn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/small_cnn.onnx");
    fs::create_dir_all(root.join("onnx_only/1")).unwrap();
    fs::copy(&cnn, root.join("onnx_only/1/model.onnx"))
        .unwrap_or_else(|e| panic!("examples/small_cnn.onnx is needed: {e}"));
    // backend form, with its own file name.
    write(
        &root.join("renamed/config.pbtxt"),
        "backend: \"onnxruntime\"\ndefault_model_filename: \"net.onnx\"\n",
    );
    write(&root.join("renamed/3/net.onnx"), "onnx");
    // Caffe: prototxt + caffemodel.
    write(
        &root.join("caffe_model/config.pbtxt"),
        "platform: \"caffe\"\n",
    );
    write(&root.join("caffe_model/1/model.prototxt"), "name: \"net\"");
    write(&root.join("caffe_model/1/model.caffemodel"), "weights");
    // TensorRT: not supported.
    write(
        &root.join("trt/config.pbtxt"),
        "platform: \"tensorrt_plan\"\nmax_batch_size: 8\n",
    );
    write(&root.join("trt/1/model.plan"), "engine");
    // Name mismatch and a broken config: errors recorded, the scan goes on.
    write(
        &root.join("wrong_name/config.pbtxt"),
        "name: \"other\"\nplatform: \"kiln_plan\"\n",
    );
    write(
        &root.join("broken/config.pbtxt"),
        "platform: \"kiln_plan\"\nbogus_field: 1\n",
    );
    // Hidden directories and plain files at the root are not models.
    fs::create_dir_all(root.join(".git")).unwrap();
    write(&root.join("README.md"), "not a model");
    dir
}

fn find<'a>(entries: &'a [ModelEntry], name: &str) -> &'a ModelEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("model {name} not found"))
}

#[test]
fn scan_finds_every_model_and_keeps_going_past_errors() {
    let dir = sample_repo();
    let repo = Repository::new(dir.path()).unwrap();
    let entries = repo.scan().unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "broken",
            "caffe_model",
            "onnx_only",
            "plan_model",
            "renamed",
            "trt",
            "wrong_name"
        ]
    );

    let plan = find(&entries, "plan_model");
    assert!(plan.has_config_file);
    assert_eq!(plan.versions, [1, 2, 10], "numeric order, 'tmp' skipped");
    assert_eq!(plan.platform, Platform::KilnPlan);
    assert_eq!(plan.versions_to_serve(), [2, 10]);
    assert_eq!(
        model_file(plan, 10).unwrap(),
        dir.path().join("plan_model/10/model.plan")
    );

    let onnx = find(&entries, "onnx_only");
    assert!(!onnx.has_config_file);
    assert_eq!(onnx.config.as_ref().unwrap().name, "onnx_only");
    assert_eq!(onnx.platform, Platform::Onnx);
    assert_eq!(onnx.versions_to_serve(), [1]);

    let renamed = find(&entries, "renamed");
    assert_eq!(
        renamed.config.as_ref().unwrap().name,
        "renamed",
        "name filled from the directory"
    );
    assert_eq!(renamed.platform, Platform::Onnx);
    assert_eq!(
        model_file(renamed, 3).unwrap(),
        dir.path().join("renamed/3/net.onnx")
    );

    let caffe = find(&entries, "caffe_model");
    let files = model_files(caffe, 1).unwrap();
    assert_eq!(files.platform, Platform::Caffe);
    assert_eq!(files.model, dir.path().join("caffe_model/1/model.prototxt"));
    assert_eq!(
        files.weights,
        Some(dir.path().join("caffe_model/1/model.caffemodel"))
    );

    let trt = find(&entries, "trt");
    let Platform::Unsupported(reason) = &trt.platform else {
        panic!("tensorrt_plan must be unsupported, got {:?}", trt.platform);
    };
    assert!(
        reason.contains("tensorrt_plan") && reason.contains("not supported"),
        "{reason}"
    );
    let e = model_files(trt, 1).unwrap_err();
    assert!(matches!(e, RepositoryError::Unsupported { .. }));
    assert!(e.to_string().starts_with("model 'trt': TensorRT"), "{e}");

    let wrong = find(&entries, "wrong_name");
    let e = wrong.config.as_ref().unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("'other'") && msg.contains("'wrong_name'"),
        "{msg}"
    );
    assert!(matches!(wrong.platform, Platform::Unsupported(_)));

    let broken = find(&entries, "broken");
    let msg = broken.config.as_ref().unwrap_err().to_string();
    assert!(
        msg.contains("broken/config.pbtxt:2:1") && msg.contains("bogus_field"),
        "{msg}"
    );
}

#[test]
fn entry_by_name_and_unknown_models() {
    let dir = sample_repo();
    let repo = Repository::new(dir.path()).unwrap();
    assert_eq!(repo.entry("plan_model").unwrap().versions, [1, 2, 10]);
    for bad in ["nope", "", ".git", "../x", "plan_model/1", "README.md"] {
        let e = repo.entry(bad).unwrap_err();
        assert!(
            matches!(e, RepositoryError::UnknownModel { .. }),
            "{bad}: {e}"
        );
    }
    let e = repo.entry("nope").unwrap_err();
    assert!(e.to_string().starts_with("no model named 'nope'"), "{e}");
}

#[test]
fn missing_model_files_and_versions() {
    let dir = sample_repo();
    write(&dir.path().join("plan_model/11/other.bin"), "x");
    let repo = Repository::new(dir.path()).unwrap();
    let plan = repo.entry("plan_model").unwrap();
    let e = model_file(&plan, 11).unwrap_err();
    assert!(matches!(
        e,
        RepositoryError::MissingModelFile { version: 11, .. }
    ));
    assert!(e.to_string().contains("plan_model/11/model.plan"), "{e}");
    let e = model_file(&plan, 99).unwrap_err();
    assert!(matches!(e, RepositoryError::MissingModelFile { .. }), "{e}");

    fs::remove_file(dir.path().join("caffe_model/1/model.caffemodel")).unwrap();
    let caffe = repo.entry("caffe_model").unwrap();
    let e = model_files(&caffe, 1).unwrap_err();
    assert!(e.to_string().contains("model.caffemodel"), "{e}");
}

#[test]
fn model_without_versions_or_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("empty")).unwrap();
    fs::create_dir_all(dir.path().join("nofile/1")).unwrap();
    let repo = Repository::new(dir.path()).unwrap();
    let entries = repo.scan().unwrap();
    let Platform::Unsupported(r) = &find(&entries, "empty").platform else {
        panic!()
    };
    assert!(r.contains("no numeric version directory"), "{r}");
    let Platform::Unsupported(r) = &find(&entries, "nofile").platform else {
        panic!()
    };
    assert!(r.contains("model.onnx"), "{r}");
}

#[test]
fn root_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, "").unwrap();
    assert!(matches!(
        Repository::new(&file),
        Err(RepositoryError::NotADirectory { .. })
    ));
    assert!(matches!(
        Repository::new(dir.path().join("missing")),
        Err(RepositoryError::Io { .. })
    ));
}

fn policy(choice: VersionPolicyChoice) -> ModelVersionPolicy {
    ModelVersionPolicy {
        policy_choice: Some(choice),
    }
}

#[test]
fn version_policies() {
    let available = [3, 1, 7, 5];
    assert_eq!(resolve_versions(None, &available), [7]);
    let latest = |n| policy(VersionPolicyChoice::Latest(Latest { num_versions: n }));
    assert_eq!(resolve_versions(Some(&latest(0)), &available), [7]);
    assert_eq!(resolve_versions(Some(&latest(2)), &available), [5, 7]);
    assert_eq!(
        resolve_versions(Some(&latest(10)), &available),
        [1, 3, 5, 7]
    );
    let all = policy(VersionPolicyChoice::All(All {}));
    assert_eq!(resolve_versions(Some(&all), &available), [1, 3, 5, 7]);
    let specific = policy(VersionPolicyChoice::Specific(Specific {
        versions: vec![7, 2, 1],
    }));
    assert_eq!(resolve_versions(Some(&specific), &available), [1, 7]);
    assert_eq!(resolve_versions(Some(&all), &[]), Vec::<u64>::new());
    assert_eq!(resolve_versions(None, &[]), Vec::<u64>::new());
}

#[test]
fn labels() {
    let dir = sample_repo();
    let repo = Repository::new(dir.path()).unwrap();
    let plan = repo.entry("plan_model").unwrap();
    let cfg = plan.config.as_ref().unwrap();
    let labels = load_output_labels(&plan.dir, cfg).unwrap();
    assert_eq!(*labels["y"], ["cat", "dog", "bird"]);
    let e = load_labels(&dir.path().join("plan_model/missing.txt")).unwrap_err();
    assert!(e.to_string().contains("missing.txt"), "{e}");
    write(&dir.path().join("empty.txt"), "");
    let e = load_labels(&dir.path().join("empty.txt")).unwrap_err();
    assert!(e.to_string().contains("no labels"), "{e}");
    fs::write(dir.path().join("bin.txt"), [0xff, 0xfe, b'\n']).unwrap();
    let e = load_labels(&dir.path().join("bin.txt")).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn onnx_only_model_is_completed_from_its_file() {
    let dir = sample_repo();
    let repo = Repository::new(dir.path()).unwrap();
    let entry = repo.entry("onnx_only").unwrap();
    let path = model_file(&entry, 1).unwrap();
    let model = kiln_onnx::load_model(&path).unwrap();
    let options = AutoCompleteOptions {
        platform: Some(entry.platform.platform_name().to_string()),
        ..Default::default()
    };
    let cfg = finalize(
        entry.config.clone().unwrap(),
        Some(&model.graph),
        &options,
        &[],
    )
    .unwrap();
    assert_eq!(cfg.name, "onnx_only");
    assert_eq!(cfg.platform, "onnxruntime_onnx");
    assert_eq!(cfg.max_batch_size, 4);
    assert_eq!(cfg.input[0].dims, [3, 32, 32]);
    assert_eq!(cfg.output[0].dims, [10]);
}
