//! Shape inference of the array ops keeps symbolic dims.

use super::common::{infer_op, ti};
use crate::{Attribute, Attributes, DataType, Dim, Shape, TensorFact};

fn sym() -> TensorFact {
    TensorFact::new(
        DataType::F32,
        Shape(vec![Dim::Sym("batch".into()), Dim::Fixed(3), Dim::Fixed(4)]),
    )
}

fn dims(f: &[TensorFact]) -> Vec<Dim> {
    f[0].shape.as_ref().unwrap().0.clone()
}

fn ints(v: &[i64]) -> (TensorFact, Option<crate::Tensor>) {
    let t = ti(&[v.len()], v);
    (
        TensorFact::new(DataType::I64, Shape::fixed(&[v.len()])),
        Some(t),
    )
}

#[test]
fn symbolic_dims_survive() {
    let b = Dim::Sym("batch".into());
    let f = infer_op(
        "Reshape",
        Attributes::new(),
        &[(sym(), None), ints(&[0, -1])],
    )
    .unwrap();
    assert_eq!(dims(&f), vec![b.clone(), Dim::Unknown]);
    let f = infer_op("Transpose", Attributes::new(), &[(sym(), None)]).unwrap();
    assert_eq!(dims(&f), vec![Dim::Fixed(4), Dim::Fixed(3), b.clone()]);
    let f = infer_op("Unsqueeze", Attributes::new(), &[(sym(), None), ints(&[1])]).unwrap();
    assert_eq!(dims(&f)[1], Dim::Fixed(1));
    let f = infer_op("Flatten", Attributes::new(), &[(sym(), None)]).unwrap();
    assert_eq!(dims(&f), vec![b.clone(), Dim::Fixed(12)]);
    let f = infer_op(
        "Slice",
        Attributes::new(),
        &[(sym(), None), ints(&[1]), ints(&[100]), ints(&[2])],
    )
    .unwrap();
    assert_eq!(dims(&f), vec![b.clone(), Dim::Fixed(3), Dim::Fixed(3)]);
    let a = Attributes::new().with("axis", Attribute::Int(1));
    let f = infer_op("Concat", a, &[(sym(), None), (sym(), None)]).unwrap();
    assert_eq!(dims(&f), vec![b.clone(), Dim::Fixed(6), Dim::Fixed(4)]);
    let idx = (TensorFact::new(DataType::I64, Shape::fixed(&[5, 2])), None);
    let a = Attributes::new().with("axis", Attribute::Int(2));
    let f = infer_op("Gather", a, &[(sym(), None), idx]).unwrap();
    assert_eq!(
        dims(&f),
        vec![b.clone(), Dim::Fixed(3), Dim::Fixed(5), Dim::Fixed(2)]
    );
    let f = infer_op(
        "Expand",
        Attributes::new(),
        &[(sym(), None), ints(&[2, 1, 1, 1])],
    )
    .unwrap();
    assert_eq!(
        dims(&f),
        vec![Dim::Fixed(2), b.clone(), Dim::Fixed(3), Dim::Fixed(4)]
    );
    let f = infer_op("Shape", Attributes::new(), &[(sym(), None)]).unwrap();
    assert_eq!(dims(&f), vec![Dim::Fixed(3)]);
    let one = TensorFact::new(DataType::F32, Shape(vec![b.clone(), Dim::Fixed(1)]));
    let f = infer_op("Squeeze", Attributes::new(), &[(one, None), ints(&[-1])]).unwrap();
    assert_eq!(dims(&f), vec![b]);
    let f = infer_op("ConstantOfShape", Attributes::new(), &[ints(&[2, 3])]).unwrap();
    assert_eq!(f[0], TensorFact::new(DataType::F32, Shape::fixed(&[2, 3])));
}
