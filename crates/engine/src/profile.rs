//! Optimization profiles (TensorRT's min/opt/max shapes): for inputs with symbolic
//! dimensions, the range of shapes an engine accepts and the shape it is tuned for. The
//! builder tunes at `opt`, the plan records the ranges, and every run checks its inputs
//! against them.

use crate::EngineError;
use kiln_core::{Dim, ValueInfo, ValueType};
use std::collections::HashMap;

/// The accepted shapes of one input: every dimension `d` of a run's input must satisfy
/// `min[d] <= d <= max[d]`; `opt` is the shape tactics are timed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeProfile {
    /// Input name.
    pub input: String,
    /// Smallest accepted shape.
    pub min: Vec<usize>,
    /// Shape the build tunes for.
    pub opt: Vec<usize>,
    /// Largest accepted shape.
    pub max: Vec<usize>,
}

impl ShapeProfile {
    /// Problems of this profile against the graph input it names (empty when valid): the
    /// same rank as the declared shape, fixed dimensions equal in all three shapes, and
    /// `min <= opt <= max` per dimension.
    pub fn problems(&self, inputs: &[ValueInfo]) -> Vec<String> {
        let name = &self.input;
        let Some(vi) = inputs.iter().find(|v| &v.name == name) else {
            let known: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
            return vec![format!(
                "profile for '{name}': not an input of the graph (inputs: {})",
                known.join(", ")
            )];
        };
        let mut out = Vec::new();
        let ranks = [self.min.len(), self.opt.len(), self.max.len()];
        if ranks.iter().any(|&r| r != ranks[0]) {
            out.push(format!(
                "profile for '{name}': min, opt and max have ranks {}, {} and {}",
                ranks[0], ranks[1], ranks[2]
            ));
            return out;
        }
        let declared = match &vi.ty {
            ValueType::Tensor(f) => f.shape.clone(),
            _ => None,
        };
        if let Some(shape) = &declared {
            if shape.0.len() != ranks[0] {
                out.push(format!(
                    "profile for '{name}': rank {} but the input is declared {shape}",
                    ranks[0]
                ));
                return out;
            }
            for (i, d) in shape.0.iter().enumerate() {
                if let Dim::Fixed(n) = d {
                    if self.min[i] != *n || self.opt[i] != *n || self.max[i] != *n {
                        out.push(format!(
                            "profile for '{name}': dimension {i} is fixed at {n} in the model"
                        ));
                    }
                }
            }
        }
        for i in 0..ranks[0] {
            if !(self.min[i] <= self.opt[i] && self.opt[i] <= self.max[i]) {
                out.push(format!(
                    "profile for '{name}': dimension {i} needs min <= opt <= max, got {} / {} / {}",
                    self.min[i], self.opt[i], self.max[i]
                ));
            }
            if self.min[i] == 0 {
                out.push(format!(
                    "profile for '{name}': dimension {i} has min 0 (at least 1)"
                ));
            }
        }
        out
    }

    /// Why a run's input of `shape` is outside this profile (`None`: inside).
    pub fn rejects(&self, shape: &[usize]) -> Option<String> {
        if shape.len() != self.min.len() {
            return Some(format!(
                "input '{}': rank {} but the engine's profile has rank {}",
                self.input,
                shape.len(),
                self.min.len()
            ));
        }
        let bad: Vec<String> = shape
            .iter()
            .enumerate()
            .filter(|&(i, &n)| n < self.min[i] || n > self.max[i])
            .map(|(i, &n)| {
                format!(
                    "dimension {i} is {n}, allowed {}..={}",
                    self.min[i], self.max[i]
                )
            })
            .collect();
        (!bad.is_empty()).then(|| {
            format!(
                "input '{}': shape {shape:?} is outside the engine's profile (min {:?}, max {:?}): {}",
                self.input,
                self.min,
                self.max,
                bad.join("; ")
            )
        })
    }
}

/// Build profiles from `--min-shapes`, `--opt-shapes` and `--max-shapes` maps: each input
/// needs all three. One error lists every problem.
pub fn profiles_from_shapes(
    min: &HashMap<String, Vec<usize>>,
    opt: &HashMap<String, Vec<usize>>,
    max: &HashMap<String, Vec<usize>>,
) -> Result<Vec<ShapeProfile>, EngineError> {
    let mut names: Vec<&String> = min.keys().chain(opt.keys()).chain(max.keys()).collect();
    names.sort();
    names.dedup();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for name in names {
        match (min.get(name), opt.get(name), max.get(name)) {
            (Some(a), Some(b), Some(c)) => out.push(ShapeProfile {
                input: name.clone(),
                min: a.clone(),
                opt: b.clone(),
                max: c.clone(),
            }),
            (a, b, c) => {
                let absent: Vec<&str> = [(a, "min"), (b, "opt"), (c, "max")]
                    .iter()
                    .filter(|(v, _)| v.is_none())
                    .map(|(_, w)| *w)
                    .collect();
                problems.push(format!(
                    "profile for '{name}': missing its {} shape",
                    absent.join(" and ")
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(EngineError::Config(problems.join("; ")))
    }
}

/// Check `profiles` against the graph's inputs; one error lists every problem.
pub(crate) fn validate(profiles: &[ShapeProfile], inputs: &[ValueInfo]) -> Result<(), EngineError> {
    let mut problems: Vec<String> = profiles.iter().flat_map(|p| p.problems(inputs)).collect();
    let mut seen = std::collections::HashSet::new();
    for p in profiles {
        if !seen.insert(&p.input) {
            problems.push(format!("two profiles for input '{}'", p.input));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Config(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{DataType, Shape, TensorFact};

    fn input() -> Vec<ValueInfo> {
        vec![ValueInfo {
            name: "x".to_string(),
            ty: ValueType::Tensor(TensorFact {
                dtype: Some(DataType::F32),
                shape: Some(Shape(vec![Dim::Sym("N".to_string()), Dim::Fixed(3)])),
            }),
        }]
    }

    fn profile(min: [usize; 2], opt: [usize; 2], max: [usize; 2]) -> ShapeProfile {
        ShapeProfile {
            input: "x".to_string(),
            min: min.to_vec(),
            opt: opt.to_vec(),
            max: max.to_vec(),
        }
    }

    #[test]
    fn valid_profiles_pass_and_bad_ones_say_why() {
        assert!(
            profile([1, 3], [8, 3], [32, 3])
                .problems(&input())
                .is_empty()
        );
        let p = profile([4, 3], [2, 3], [8, 3]).problems(&input());
        assert!(p[0].contains("min <= opt <= max"), "{p:?}");
        let p = profile([1, 4], [1, 3], [1, 3]).problems(&input());
        assert!(p[0].contains("fixed at 3"), "{p:?}");
        let mut q = profile([1, 3], [1, 3], [1, 3]);
        q.input = "y".to_string();
        assert!(q.problems(&input())[0].contains("not an input"));
    }

    #[test]
    fn runs_outside_the_range_are_rejected() {
        let p = profile([1, 3], [8, 3], [16, 3]);
        assert_eq!(p.rejects(&[16, 3]), None);
        let why = p.rejects(&[17, 3]).unwrap();
        assert!(why.contains("dimension 0 is 17, allowed 1..=16"), "{why}");
        assert!(p.rejects(&[4]).unwrap().contains("rank 1"));
    }

    #[test]
    fn each_input_needs_all_three_shapes() {
        let m = |v: Vec<usize>| HashMap::from([("x".to_string(), v)]);
        let e = profiles_from_shapes(&m(vec![1, 3]), &m(vec![2, 3]), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing its max shape"), "{e}");
        let ok = profiles_from_shapes(&m(vec![1, 3]), &m(vec![2, 3]), &m(vec![4, 3])).unwrap();
        assert_eq!(ok, vec![profile([1, 3], [2, 3], [4, 3])]);
    }
}
