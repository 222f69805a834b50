//! Bad input: missing blobs, weights of the wrong shape, truncated caffemodels and unknown
//! layers are reported with the layer's name, all at once; nothing panics.

use kiln_caffe::pb;
use kiln_caffe::{CaffeError, DiagnosticCode};
use prost::Message;

const NET: &str = r#"
name: "bad"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "mystery" type: "FancyNorm" bottom: "conv1" top: "fancy"
  fancy_param { gain: 2 } }
layer { name: "ghost_reader" type: "ReLU" bottom: "ghost" top: "g" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
  inner_product_param { num_output: 5 } }
layer { name: "after" type: "ReLU" bottom: "fancy" top: "after" }
"#;

fn blob(shape: &[i64], fill: f32) -> pb::BlobProto {
    let n: i64 = shape.iter().product();
    pb::BlobProto {
        shape: Some(pb::BlobShape {
            dim: shape.to_vec(),
        }),
        data: vec![fill; n as usize],
        ..Default::default()
    }
}

fn weights(conv_w: &[i64]) -> Vec<u8> {
    let layer = |name: &str, blobs: Vec<pb::BlobProto>| pb::LayerParameter {
        name: Some(name.into()),
        blobs,
        ..Default::default()
    };
    pb::NetParameter {
        layer: vec![
            layer("conv1", vec![blob(conv_w, 0.1), blob(&[4], 0.0)]),
            layer("fc", vec![blob(&[5, 144], 0.1), blob(&[5], 0.0)]),
        ],
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn every_problem_is_reported_with_its_layer() {
    // conv1's weights have the wrong input-channel count.
    let w = weights(&[4, 2, 3, 3]);
    let model = kiln_caffe::parse(NET, Some(&w), &[]).unwrap();
    let r = &model.report;
    let find = |layer: &str, code| {
        r.diagnostics
            .iter()
            .find(|d| d.layer_name == layer && d.code == code)
            .unwrap_or_else(|| panic!("no {code} for '{layer}' in:\n{r}"))
    };
    let d = find("conv1", DiagnosticCode::BadWeights);
    assert!(d.message.contains("[4, 2, 3, 3]") && d.message.contains("[4, 3, 3, 3]"));
    let d = find("mystery", DiagnosticCode::UnsupportedLayer);
    assert!(d.message.contains("FancyNorm") && d.message.contains("fancy_param"));
    let d = find("ghost_reader", DiagnosticCode::MissingBlob);
    assert!(d.message.contains("'ghost'"));
    // fc (after the failed conv1) is still checked and fine; `after` (a ReLU) reads the
    // unknown layer's output and imports.
    assert_eq!(r.diagnostics.len(), 3, "{r}");
    let unresolved: Vec<_> = model
        .graph
        .unresolved_nodes()
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(unresolved, ["conv1", "mystery", "ghost_reader"]);
    // The full error lists all three.
    let err = CaffeError::Unsupported(r.clone()).to_string();
    for name in ["conv1", "mystery", "ghost_reader"] {
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn every_layer_without_weights_is_named() {
    let model = kiln_caffe::parse(NET, None, &[]).unwrap();
    let bad: Vec<_> = model
        .report
        .diagnostics
        .iter()
        .filter(|d| d.code == DiagnosticCode::BadWeights)
        .map(|d| d.layer_name.as_str())
        .collect();
    assert_eq!(bad, ["conv1", "conv1", "fc", "fc"], "{}", model.report);
}

#[test]
fn weights_missing_for_a_layer() {
    let text = r#"
        input: "x" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
        layer { name: "c" type: "Convolution" bottom: "x" top: "y"
          convolution_param { num_output: 2 kernel_size: 1 } }"#;
    let model = kiln_caffe::parse(text, None, &[]).unwrap();
    let d = &model.report.diagnostics[0];
    assert_eq!(
        (d.code, d.layer_name.as_str()),
        (DiagnosticCode::BadWeights, "c")
    );
    assert!(d.message.contains("missing"), "{d}");
}

#[test]
fn truncated_caffemodel_names_the_layer() {
    let w = weights(&[4, 3, 3, 3]);
    for (cut, layer) in [(w.len() - 3, "'fc'"), (200, "'conv1'"), (7, "layer #1")] {
        let err = kiln_caffe::parse(NET, Some(&w[..cut]), &[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CaffeError::Decode { .. }), "{msg}");
        assert!(msg.contains("truncated") && msg.contains(layer), "{msg}");
    }
}

#[test]
fn garbage_never_panics() {
    let w = weights(&[4, 3, 3, 3]);
    let mut state = 0x9e3779b97f4a7c15u64;
    for i in 0..300 {
        let mut bytes = w.clone();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let pos = (state as usize) % bytes.len();
        bytes[pos] ^= (state >> 32) as u8 | 1;
        let _ = kiln_caffe::parse(NET, Some(&bytes), &[]);
        let cut = NET.len() * i / 300;
        let _ = kiln_caffe::parse(&NET[..cut], None, &[]);
    }
}

#[test]
fn output_marking() {
    let w = weights(&[4, 3, 3, 3]);
    let text = NET
        .split("layer { name: \"mystery\"")
        .next()
        .unwrap()
        .to_string()
        + r#"layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
             inner_product_param { num_output: 5 } }"#;
    let m = kiln_caffe::parse(&text, Some(&w), &[]).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    let outs: Vec<_> = m.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, ["fc"]);
    let m = kiln_caffe::parse(&text, Some(&w), &["conv1".into(), "fc".into()]).unwrap();
    let outs: Vec<_> = m.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, ["conv1", "fc"]);
    // conv1 was rewritten in place by relu1: the output is the last version.
    let relu = m.graph.nodes.iter().find(|n| n.name == "relu1").unwrap();
    assert_eq!(relu.outputs, ["conv1"]);
    assert_eq!(relu.inputs, ["conv1#1"]);
    let m = kiln_caffe::parse(&text, Some(&w), &["nope".into()]).unwrap();
    assert_eq!(m.report.diagnostics[0].code, DiagnosticCode::InvalidNetwork);
}

#[test]
fn text_errors_name_the_line() {
    let err = kiln_caffe::parse("layer { name: \"a\" type: \"ReLU\" \n bottom: }", None, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
}
