//! Robustness test: every array op, fed awkward inputs, returns a result or an error and
//! never panics.

use super::common::run_op;
use crate::{Attributes, Tensor};

const OPS: &[&str] = &[
    "Shape",
    "Size",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "GatherND",
    "ScatterElements",
    "ScatterND",
    "TensorScatter",
    "Expand",
    "Tile",
    "Pad",
    "ConstantOfShape",
    "Range",
    "EyeLike",
    "OneHot",
    "Trilu",
    "DepthToSpace",
    "SpaceToDepth",
    "Compress",
    "NonZero",
    "TopK",
    "Unique",
    "ReverseSequence",
    "CumSum",
    "CumProd",
    "ArgMax",
    "ArgMin",
    "CenterCropPad",
    "Col2Im",
    "Resize",
    "Identity",
];

fn pool() -> Vec<Option<Tensor>> {
    vec![
        None,
        Some(Tensor::scalar(-1i64)),
        Some(Tensor::from_vec(&[2], vec![i64::MAX, i64::MIN]).unwrap()),
        Some(Tensor::from_vec(&[3], vec![1i64, 0, -2]).unwrap()),
        Some(Tensor::zeros(crate::DataType::F32, &[0, 3])),
        Some(Tensor::from_vec(&[1, 2, 2, 2], (0..8).map(|x| x as f32).collect()).unwrap()),
        Some(Tensor::from_vec(&[2], vec![f32::NAN, 1e30]).unwrap()),
        Some(Tensor::from_vec(&[2], vec!["a".to_string(), String::new()]).unwrap()),
        Some(Tensor::from_vec(&[4], vec![true, false, true, true]).unwrap()),
    ]
}

#[test]
fn no_panics_on_awkward_inputs() {
    let pool = pool();
    let attrs = [
        Attributes::new(),
        Attributes::new().with("axis", crate::Attribute::Int(1)),
        Attributes::new().with("blocksize", crate::Attribute::Int(2)),
    ];
    let mut runs = 0;
    let mut ok = 0;
    for op in OPS {
        for a in &attrs {
            for i in 0..pool.len() {
                for j in 0..pool.len() {
                    for k in 0..3 {
                        let ins = vec![pool[i].clone(), pool[j].clone(), pool[k].clone()];
                        for n in 1..=3 {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                run_op(op, a.clone(), &ins[..n], 2)
                            }));
                            match r {
                                Ok(Ok(_)) => ok += 1,
                                Ok(Err(_)) => {}
                                Err(_) => panic!("{op} panicked on {:?}", &ins[..n]),
                            }
                            runs += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(runs > 1000);
    assert!(ok > 100, "only {ok} of {runs} runs succeeded");
    eprintln!("{ok} of {runs} runs succeeded");
}
