//! Unit tests of the sequence and optional ops.

use crate::{Attribute, Attributes, EvalContext, Node, Tensor, Value};

fn eval(op: &str, attrs: Attributes, inputs: &[Option<&Value>]) -> crate::Result<Vec<Value>> {
    let names = vec!["x".to_string(); inputs.len()];
    let node = Node::builtin("n", op, attrs, names, vec!["y".into()])?;
    node.op.eval_values(inputs, &EvalContext::default())
}

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_vec(shape, v).unwrap()
}

#[test]
fn insert_erase_at_with_negative_positions() {
    let seq = Value::Sequence(vec![t(&[1], vec![1.0]), t(&[1], vec![2.0])]);
    let x = Value::Tensor(t(&[1], vec![9.0]));
    let pos = Value::Tensor(Tensor::scalar(-1i64));
    let out = eval(
        "SequenceInsert",
        Attributes::new(),
        &[Some(&seq), Some(&x), Some(&pos)],
    )
    .unwrap();
    let Value::Sequence(s) = &out[0] else {
        panic!()
    };
    assert_eq!(s[1], t(&[1], vec![9.0]));
    let out = eval(
        "SequenceErase",
        Attributes::new(),
        &[Some(&out[0]), Some(&pos)],
    )
    .unwrap();
    let at = eval(
        "SequenceAt",
        Attributes::new(),
        &[Some(&out[0]), Some(&pos)],
    )
    .unwrap();
    assert_eq!(at[0], Value::Tensor(t(&[1], vec![9.0])));
    let bad = Value::Tensor(Tensor::scalar(5i64));
    assert!(eval("SequenceAt", Attributes::new(), &[Some(&seq), Some(&bad)]).is_err());
}

#[test]
fn split_and_concat_round_trip() {
    let x = Value::Tensor(t(&[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let two = Value::Tensor(Tensor::scalar(2i64));
    let out = eval(
        "SplitToSequence",
        Attributes::new(),
        &[Some(&x), Some(&two)],
    )
    .unwrap();
    let Value::Sequence(s) = &out[0] else {
        panic!()
    };
    assert_eq!(
        s.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let attrs = Attributes::new().with("axis", Attribute::Int(0));
    let back = eval("ConcatFromSequence", attrs, &[Some(&out[0])]).unwrap();
    assert_eq!(back[0], x);
    let attrs = Attributes::new()
        .with("keepdims", Attribute::Int(0))
        .with("axis", Attribute::Int(1));
    let out = eval("SplitToSequence", attrs, &[Some(&x)]).unwrap();
    let Value::Sequence(s) = &out[0] else {
        panic!()
    };
    assert_eq!(s[1], t(&[3], vec![2.0, 4.0, 6.0]));
    let attrs = Attributes::new()
        .with("axis", Attribute::Int(-1))
        .with("new_axis", Attribute::Int(1));
    let stacked = eval("ConcatFromSequence", attrs, &[Some(&out[0])]).unwrap();
    assert_eq!(stacked[0], x);
}

#[test]
fn optionals() {
    let x = Value::Tensor(t(&[1], vec![1.0]));
    let o = eval("Optional", Attributes::new(), &[Some(&x)]).unwrap();
    let has = eval("OptionalHasElement", Attributes::new(), &[Some(&o[0])]).unwrap();
    assert_eq!(has[0], Value::Tensor(Tensor::scalar(true)));
    let none = eval("OptionalHasElement", Attributes::new(), &[None]).unwrap();
    assert_eq!(none[0], Value::Tensor(Tensor::scalar(false)));
    let got = eval("OptionalGetElement", Attributes::new(), &[Some(&o[0])]).unwrap();
    assert_eq!(got[0], x);
    let empty = Value::Optional(None);
    assert!(eval("OptionalGetElement", Attributes::new(), &[Some(&empty)]).is_err());
}
