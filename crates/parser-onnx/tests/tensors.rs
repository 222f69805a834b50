//! TensorProto conversion: raw data vs typed fields, external data, unsupported types,
//! and value files (sequences, optionals).

mod common;

use common::*;
use kiln_core::half::f16;
use kiln_core::{Tensor, TensorFact, Value, ValueType};
use kiln_onnx::{OnnxError, pb, tensor_from_pb, tensor_from_proto, value_from_pb};
use prost::Message;

#[test]
fn raw_data_and_float_data_agree() {
    let typed = float_tensor("t", &[2, 2], &[1.0, -2.5, 3.0, 4.25]);
    let raw_bytes: Vec<u8> = [1.0f32, -2.5, 3.0, 4.25]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let raw = pb::TensorProto {
        name: Some("t".into()),
        dims: vec![2, 2],
        data_type: Some(FLOAT),
        raw_data: Some(raw_bytes),
        ..Default::default()
    };
    let a = tensor_from_proto(&typed, None).unwrap();
    let b = tensor_from_proto(&raw, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a,
        Tensor::from_vec(&[2, 2], vec![1.0f32, -2.5, 3.0, 4.25]).unwrap()
    );
    // The same through a .pb file.
    assert_eq!(tensor_from_pb(&raw.encode_to_vec()).unwrap(), a);
}

#[test]
fn int32_data_carries_small_types() {
    let t = |dt: i32, v: Vec<i32>| pb::TensorProto {
        dims: vec![v.len() as i64],
        data_type: Some(dt),
        int32_data: v,
        ..Default::default()
    };
    let h = tensor_from_proto(&t(10, vec![f16::from_f32(1.5).to_bits() as i32]), None).unwrap();
    assert_eq!(h, Tensor::from_vec(&[1], vec![f16::from_f32(1.5)]).unwrap());
    let b = tensor_from_proto(&t(9, vec![1, 0, 1]), None).unwrap();
    assert_eq!(b, Tensor::from_vec(&[3], vec![true, false, true]).unwrap());
    let i8s = tensor_from_proto(&t(3, vec![-5, 7]), None).unwrap();
    assert_eq!(i8s, Tensor::from_vec(&[2], vec![-5i8, 7]).unwrap());
    let u16s = tensor_from_proto(&t(4, vec![65535]), None).unwrap();
    assert_eq!(u16s, Tensor::from_vec(&[1], vec![65535u16]).unwrap());
}

#[test]
fn int64_uint64_double_string_fields() {
    let i = pb::TensorProto {
        dims: vec![2],
        data_type: Some(INT64),
        int64_data: vec![-1, i64::MAX],
        ..Default::default()
    };
    assert_eq!(
        tensor_from_proto(&i, None).unwrap(),
        Tensor::from_vec(&[2], vec![-1i64, i64::MAX]).unwrap()
    );
    let u = pb::TensorProto {
        dims: vec![1],
        data_type: Some(12),
        uint64_data: vec![7],
        ..Default::default()
    };
    assert_eq!(
        tensor_from_proto(&u, None).unwrap(),
        Tensor::from_vec(&[1], vec![7u32]).unwrap()
    );
    let d = pb::TensorProto {
        dims: vec![],
        data_type: Some(11),
        double_data: vec![0.5],
        ..Default::default()
    };
    assert_eq!(tensor_from_proto(&d, None).unwrap(), Tensor::scalar(0.5f64));
    let s = pb::TensorProto {
        dims: vec![2],
        data_type: Some(8),
        string_data: vec![b"ab".to_vec(), b"".to_vec()],
        ..Default::default()
    };
    assert_eq!(
        tensor_from_proto(&s, None).unwrap(),
        Tensor::from_vec(&[2], vec!["ab".to_string(), String::new()]).unwrap()
    );
}

#[test]
fn bad_tensors_are_errors() {
    // Too few elements for the dims.
    let short = float_tensor("short", &[3], &[1.0, 2.0]);
    assert!(matches!(
        tensor_from_proto(&short, None),
        Err(OnnxError::Tensor { .. })
    ));
    // Negative dimension.
    let neg = float_tensor("neg", &[-1], &[]);
    assert!(matches!(
        tensor_from_proto(&neg, None),
        Err(OnnxError::Tensor { .. })
    ));
    // Raw data of the wrong length.
    let raw = pb::TensorProto {
        dims: vec![2],
        data_type: Some(FLOAT),
        raw_data: Some(vec![0; 7]),
        ..Default::default()
    };
    assert!(tensor_from_proto(&raw, None).is_err());
    // Dims whose product overflows.
    let huge = pb::TensorProto {
        dims: vec![i64::MAX, i64::MAX],
        data_type: Some(FLOAT),
        raw_data: Some(vec![]),
        ..Default::default()
    };
    assert!(tensor_from_proto(&huge, None).is_err());
}

#[test]
fn float8_int4_complex_are_unsupported_types() {
    for (code, name) in [
        (17, "FLOAT8E4M3FN"),
        (22, "INT4"),
        (21, "UINT4"),
        (14, "COMPLEX64"),
    ] {
        let t = pb::TensorProto {
            dims: vec![1],
            data_type: Some(code),
            raw_data: Some(vec![0; 8]),
            ..Default::default()
        };
        match tensor_from_proto(&t, None) {
            Err(OnnxError::UnsupportedDataType { dtype, .. }) => assert_eq!(dtype, name),
            other => panic!("{name}: expected UnsupportedDataType, got {other:?}"),
        }
    }
}

fn external(name: &str, location: &str, offset: u64, length: u64) -> pb::TensorProto {
    let kv = |k: &str, v: String| pb::StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v),
    };
    pb::TensorProto {
        name: Some(name.into()),
        dims: vec![3],
        data_type: Some(FLOAT),
        data_location: Some(pb::tensor_proto::DataLocation::External as i32),
        external_data: vec![
            kv("location", location.into()),
            kv("offset", offset.to_string()),
            kv("length", length.to_string()),
        ],
        ..Default::default()
    }
}

#[test]
fn external_data_is_read_relative_to_the_model() {
    let dir = temp_dir("external");
    let mut data = vec![0xAAu8; 8];
    data.extend([1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(dir.join("weights.bin"), &data).unwrap();
    std::fs::write(dir.join("..").join("kiln-onnx-outside.bin"), &data).unwrap();

    let mut g = graph(
        vec![node("Identity", "id", &["w"], &["y"], vec![])],
        vec![],
        vec![value_info("y", FLOAT, &[3])],
    );
    g.initializer = vec![external("w", "weights.bin", 8, 12)];
    let path = dir.join("model.onnx");
    std::fs::write(&path, bytes(&model(g.clone(), 13))).unwrap();
    let m = kiln_onnx::load_model(&path).unwrap();
    assert!(m.report.is_supported(), "{}", m.report);
    assert_eq!(
        m.graph.initializers["w"],
        Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap()
    );

    // Paths leaving the model directory, absolute paths and reads past the end are refused
    // (reported, not panicking), as is external data without a model directory.
    for (loc, off, len, why) in [
        (
            "../kiln-onnx-outside.bin",
            8,
            12,
            "leaves the model directory",
        ),
        ("/etc/passwd", 0, 12, "relative"),
        ("weights.bin", 16, 12, "past the end"),
    ] {
        g.initializer = vec![external("w", loc, off, len)];
        let m = kiln_onnx::parse_model(&bytes(&model(g.clone(), 13)), Some(&dir)).unwrap();
        let msg = m.report.to_string();
        assert!(msg.contains(why), "{loc}: {msg}");
    }
    let m = kiln_onnx::parse_model(&bytes(&model(g, 13)), None).unwrap();
    assert!(
        m.report.to_string().contains("external data"),
        "{}",
        m.report
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sequence_and_optional_value_files() {
    let seq = pb::SequenceProto {
        elem_type: Some(1),
        tensor_values: vec![
            float_tensor("a", &[1], &[1.0]),
            float_tensor("b", &[2], &[2.0, 3.0]),
        ],
        ..Default::default()
    };
    let ty = ValueType::Sequence(Box::new(ValueType::Tensor(TensorFact::default())));
    match value_from_pb(&seq.encode_to_vec(), &ty).unwrap() {
        Value::Sequence(v) => {
            assert_eq!(v.len(), 2);
            assert_eq!(v[1], Tensor::from_vec(&[2], vec![2.0f32, 3.0]).unwrap());
        }
        other => panic!("expected a sequence, got {other:?}"),
    }
    let empty = pb::OptionalProto {
        elem_type: Some(0),
        ..Default::default()
    };
    let oty = ValueType::Optional(Box::new(ValueType::Tensor(TensorFact::default())));
    assert_eq!(
        value_from_pb(&empty.encode_to_vec(), &oty).unwrap(),
        Value::Optional(None)
    );
    let full = pb::OptionalProto {
        elem_type: Some(1),
        tensor_value: Some(float_tensor("x", &[], &[4.0])),
        ..Default::default()
    };
    assert_eq!(
        value_from_pb(&full.encode_to_vec(), &oty).unwrap(),
        Value::Optional(Some(Box::new(Value::Tensor(Tensor::scalar(4.0f32)))))
    );
    // Garbage is a decode error, not a panic.
    assert!(matches!(
        value_from_pb(&[0xff, 0xff, 0xff], &ty),
        Err(OnnxError::Decode { .. })
    ));
}

#[test]
fn sparse_tensors_densify_and_huge_ones_are_refused() {
    let sp = pb::SparseTensorProto {
        values: Some(float_tensor("sp", &[2], &[5.0, 6.0])),
        indices: Some(pb::TensorProto {
            dims: vec![2, 2],
            data_type: Some(INT64),
            int64_data: vec![0, 1, 1, 0],
            ..Default::default()
        }),
        dims: vec![2, 2],
    };
    let t = kiln_onnx::sparse_from_proto(&sp, None).unwrap();
    assert_eq!(
        t,
        Tensor::from_vec(&[2, 2], vec![0.0f32, 5.0, 6.0, 0.0]).unwrap()
    );
    let mut flat = sp.clone();
    flat.indices = Some(pb::TensorProto {
        dims: vec![2],
        data_type: Some(INT64),
        int64_data: vec![1, 2],
        ..Default::default()
    });
    assert_eq!(kiln_onnx::sparse_from_proto(&flat, None).unwrap(), t);
    let mut out_of_range = sp.clone();
    out_of_range.indices = Some(pb::TensorProto {
        dims: vec![2],
        data_type: Some(INT64),
        int64_data: vec![1, 4],
        ..Default::default()
    });
    assert!(kiln_onnx::sparse_from_proto(&out_of_range, None).is_err());
    let mut huge = sp;
    huge.dims = vec![1 << 20, 1 << 20];
    assert!(kiln_onnx::sparse_from_proto(&huge, None).is_err());
}
