//! Plugin layers through the engine API, loaded from the .so files this test run built:
//! the SwiGLU model against its numpy reference, plans that record their plugins, two
//! libraries side by side, the Network Definition API, and every refusal (incompatible ABI,
//! duplicate name + version, panics, outputs that break their declaration).

mod common;

use common::*;
use kiln_core::{
    Attribute, Attributes, DataType, Dim, Graph, NetworkDefinition, Node, Shape, Tensor,
    UnresolvedOp, ValueInfo,
};
use kiln_engine::{Builder, BuilderConfig, Engine, EngineError, PluginError, PluginRegistry};
use std::collections::HashMap;
use std::sync::Arc;

fn registry(libs: &[&str]) -> PluginRegistry {
    let paths: Vec<_> = libs.iter().map(|l| plugin_path(l)).collect();
    PluginRegistry::from_paths(&paths).expect("plugins load")
}

fn config() -> BuilderConfig {
    BuilderConfig {
        threads: Some(1),
        ..BuilderConfig::default()
    }
}

fn run1(engine: &Engine, name: &str, t: Tensor) -> Result<Vec<f32>, EngineError> {
    let mut ctx = engine.create_context();
    let out = ctx.run(HashMap::from([(name.to_string(), t)]))?;
    Ok(out[0].1.array::<f32>().unwrap().iter().copied().collect())
}

/// X [n, 2h] -> one plugin node per (op, domain, attrs) in sequence -> out.
fn chain(ops: &[(&str, &str, Attributes)], h2: usize) -> Graph {
    let mut g = Graph::new("chain");
    g.inputs.push(ValueInfo::tensor(
        "x",
        DataType::F32,
        Shape(vec![Dim::Sym("n".into()), Dim::Fixed(h2)]),
    ));
    let mut prev = "x".to_string();
    for (i, (op, domain, attrs)) in ops.iter().enumerate() {
        let out = if i + 1 == ops.len() {
            "out".to_string()
        } else {
            format!("t{i}")
        };
        g.nodes.push(Node {
            name: format!("n{i}_{}", op.to_lowercase()),
            domain: domain.to_string(),
            op: Arc::new(UnresolvedOp {
                name: op.to_string(),
                namespace: domain.to_string(),
                version: "1".into(),
                reason: "not a builtin".into(),
            }),
            attrs: attrs.clone(),
            inputs: vec![prev.clone()],
            outputs: vec![out.clone()],
        });
        prev = out;
    }
    g.outputs.push(ValueInfo::tensor(
        "out",
        DataType::F32,
        Shape(vec![Dim::Unknown, Dim::Unknown]),
    ));
    g
}

fn input(n: usize, w: usize) -> Tensor {
    let v: Vec<f32> = (0..n * w)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 5.0)
        .collect();
    Tensor::from_vec(&[n, w], v).unwrap()
}

#[test]
fn swiglu_onnx_model_matches_numpy_reference_and_round_trips_as_a_plan() {
    let plugins = registry(&["kiln_swiglu"]);
    let model = kiln_onnx::load_model(&example("plugin_swiglu.onnx")).expect("model loads");
    let engine = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(model.graph)
        .expect("builds with the plugin");
    let (shape, x) = read_npy_f32(&example("plugin_swiglu_input.npy"));
    let (_, expected) = read_npy_f32(&example("plugin_swiglu_expected.npy"));
    let got = run1(&engine, "X", Tensor::from_vec(&shape, x.clone()).unwrap()).unwrap();
    assert!(max_diff(&got, &expected) < 1e-5, "{got:?} vs {expected:?}");

    // The plan records the plugin (name, version, namespace) and its state.
    let req = engine.required_plugins();
    assert_eq!(req.len(), 1);
    assert_eq!(
        (
            req[0].name.as_str(),
            req[0].version.as_str(),
            req[0].namespace.as_str()
        ),
        ("SwiGLU", "1", "kiln.example")
    );
    let plan = engine.serialize().unwrap();
    let again = Engine::deserialize_with_plugins(&plan, Some(1), &plugins)
        .expect("plan loads with the plugin");
    let got2 = run1(&again, "X", Tensor::from_vec(&shape, x).unwrap()).unwrap();
    assert_eq!(got, got2);

    // Without the plugin, the plan is refused with a message naming what it needs.
    let err = Engine::deserialize_with_threads(&plan, Some(1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SwiGLU version 1") && err.contains("--plugin"),
        "{err}"
    );
    let other = registry(&["kiln_test_scale"]);
    let err = Engine::deserialize_with_plugins(&plan, Some(1), &other)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs plugin layer(s) that are not loaded"),
        "{err}"
    );
}

#[test]
fn unknown_nodes_without_plugins_are_all_reported() {
    let plugins = registry(&["kiln_swiglu"]);
    let model = kiln_onnx::load_model(&example("plugin_unknown.onnx")).expect("model loads");
    let err = Builder::new(config())
        .with_plugins(plugins)
        .build(model.graph)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 unsupported node(s)"), "{err}");
    assert!(err.contains("Frobnicate") && err.contains("Gronk"), "{err}");
    assert!(!err.contains("SwiGLU"), "the plugin layer resolved: {err}");
}

#[test]
fn two_plugin_files_load_side_by_side_and_both_work() {
    let plugins = registry(&["kiln_swiglu", "kiln_test_scale"]);
    assert_eq!(plugins.libraries().len(), 2);
    assert_ne!(plugins.libraries()[0].name, plugins.libraries()[1].name);
    let g = chain(
        &[
            (
                "SwiGLU",
                "kiln.example",
                Attributes::new().with("beta", Attribute::Float(0.5)),
            ),
            (
                "ScaleShift",
                "",
                Attributes::new()
                    .with("alpha", Attribute::Float(2.0))
                    .with("beta", Attribute::Float(1.0)),
            ),
        ],
        6,
    );
    let engine = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(g)
        .unwrap();
    let x = input(4, 6);
    let xs: Vec<f32> = x.array::<f32>().unwrap().iter().copied().collect();
    let expected: Vec<f32> = swiglu_ref(&xs, 3, 0.5)
        .iter()
        .map(|v| 2.0 * v + 1.0)
        .collect();
    let got = run1(&engine, "x", x).unwrap();
    assert!(max_diff(&got, &expected) < 1e-5);
    // Symbolic shapes flow through both plugins' shape functions.
    let shapes = &engine.layers()[1].output_shapes;
    assert_eq!(
        shapes[0].as_ref().map(|s| s.to_string()).as_deref(),
        Some("[n,3]"),
        "{shapes:?}"
    );
    let mut names: Vec<_> = engine
        .required_plugins()
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    assert_eq!(names, ["ScaleShift", "SwiGLU"]);
}

#[test]
fn network_definition_adds_plugin_layers() {
    let plugins = registry(&["kiln_test_scale"]);
    let mut net = NetworkDefinition::new("net");
    let x = net
        .add_input("x", DataType::F32, Shape::fixed(&[2, 3]))
        .unwrap();
    let attrs = Attributes::new().with("alpha", Attribute::Float(3.0));
    let p = net
        .add_plugin("ScaleShift", "1", "", &[&x], attrs, 1)
        .unwrap();
    net.mark_output(&p.out(), "y").unwrap();
    let g = net.finish().unwrap();
    let engine = Builder::new(config())
        .with_plugins(plugins)
        .build(g)
        .unwrap();
    let got = run1(
        &engine,
        "x",
        Tensor::from_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
    )
    .unwrap();
    assert_eq!(got, vec![3.0, 6.0, 9.0, 12.0, 15.0, 18.0]);

    // A version no plugin has stays unresolved and is reported.
    let mut net = NetworkDefinition::new("net");
    let x = net
        .add_input("x", DataType::F32, Shape::fixed(&[2, 3]))
        .unwrap();
    let p = net
        .add_plugin(
            "ScaleShift",
            "7",
            "",
            &[&x],
            Attributes::new().with("alpha", Attribute::Float(1.0)),
            1,
        )
        .unwrap();
    net.mark_output(&p.out(), "y").unwrap();
    let err = Builder::new(config())
        .with_plugins(registry(&["kiln_test_scale"]))
        .build(net.finish().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("ScaleShift"), "{err}");
}

#[test]
fn typed_attributes_are_checked_before_the_plugin_sees_them() {
    let plugins = registry(&["kiln_test_scale"]);
    let bad = Attributes::new()
        .with("alpha", Attribute::String("two".into()))
        .with("gamma", Attribute::Int(1));
    let err = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(chain(&[("ScaleShift", "", bad)], 4))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("attribute 'alpha' must be float, got string"),
        "{err}"
    );
    assert!(err.contains("unknown attribute 'gamma'"), "{err}");
    let err = Builder::new(config())
        .with_plugins(plugins)
        .build(chain(&[("ScaleShift", "", Attributes::new())], 4))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("required attribute 'alpha' is missing"),
        "{err}"
    );
}

#[test]
fn incompatible_abi_is_refused_with_the_file_and_versions() {
    let path = plugin_path("kiln_test_bad_abi");
    let err = PluginRegistry::new().load(&path).unwrap_err();
    assert!(
        matches!(err, PluginError::IncompatibleAbi { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("2.0.0") && msg.contains(kiln_plugin_abi::ABI_VERSION),
        "{msg}"
    );
    // Not a plugin at all.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libkiln_fake.so");
    std::fs::write(&fake, b"not a library").unwrap();
    let msg = PluginRegistry::new().load(&fake).unwrap_err().to_string();
    assert!(
        msg.contains("libkiln_fake.so") && msg.contains("cannot load"),
        "{msg}"
    );
}

#[test]
fn duplicate_name_and_version_is_refused() {
    let original = plugin_path("kiln_test_scale");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libkiln_scale_copy.so");
    std::fs::copy(&original, &copy).unwrap();
    let mut reg = PluginRegistry::new();
    reg.load(&original).unwrap();
    let err = reg.load(&copy).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PluginError::Duplicate { .. }), "{msg}");
    assert!(
        msg.contains("ScaleShift") && msg.contains("version 1"),
        "{msg}"
    );
    assert!(
        msg.contains("libkiln_scale_copy.so") && msg.contains(&original.display().to_string()),
        "{msg}"
    );
    // The refused library registered nothing; the first one still works.
    assert_eq!(reg.libraries().len(), 1);
    assert_eq!(reg.layers().len(), 1);
    // A plugins directory with both files is refused the same way.
    std::fs::copy(&original, dir.path().join("libkiln_scale_a.so")).unwrap();
    let msg = PluginRegistry::new()
        .load_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("already registered"), "{msg}");
}

#[test]
fn a_panicking_plugin_returns_an_error_and_the_process_lives() {
    let plugins = registry(&["kiln_test_panicky", "kiln_test_scale"]);
    let explode = |mode: &str| Attributes::new().with("mode", Attribute::String(mode.into()));

    let g = chain(&[("Explode", "kiln.test", explode("panic"))], 4);
    let engine = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(g)
        .expect("builds");
    for _ in 0..3 {
        let err = run1(&engine, "x", input(2, 4)).unwrap_err().to_string();
        assert!(
            err.contains("panicked") && err.contains("told to panic while executing"),
            "{err}"
        );
    }
    let err = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(chain(
            &[("Explode", "kiln.test", explode("panic_create"))],
            4,
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("panicked") && err.contains("libkiln_test_panicky"),
        "{err}"
    );

    // The process (and the other plugin) still work.
    let g = chain(
        &[(
            "ScaleShift",
            "",
            Attributes::new().with("alpha", Attribute::Float(2.0)),
        )],
        2,
    );
    let engine = Builder::new(config())
        .with_plugins(plugins.clone())
        .build(g)
        .unwrap();
    assert_eq!(
        run1(
            &engine,
            "x",
            Tensor::from_vec(&[1, 2], vec![1.0f32, 2.0]).unwrap()
        )
        .unwrap(),
        vec![2.0, 4.0]
    );
    let g = chain(&[("Explode", "kiln.test", explode("copy"))], 4);
    let engine = Builder::new(config())
        .with_plugins(plugins)
        .build(g)
        .unwrap();
    assert_eq!(run1(&engine, "x", input(1, 4)).unwrap().len(), 4);
}

#[test]
fn outputs_that_break_the_declaration_are_refused() {
    let plugins = registry(&["kiln_test_panicky"]);
    let explode = |mode: &str| Attributes::new().with("mode", Attribute::String(mode.into()));
    for (mode, expect) in [
        ("unknown_shape", "must be concrete for concrete inputs"),
        ("two_outputs", "declares 2 output(s) but the node has 1"),
    ] {
        let g = chain(&[("Explode", "kiln.test", explode(mode))], 4);
        let result = Builder::new(config())
            .with_plugins(plugins.clone())
            .build(g)
            .and_then(|e| run1(&e, "x", input(2, 4)));
        let err = result.expect_err(mode).to_string();
        assert!(
            err.contains(expect) && err.contains("libkiln_test_panicky"),
            "{mode}: {err}"
        );
    }
}
