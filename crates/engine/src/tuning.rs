//! Timing tactics on random inputs.

use kiln_core::{DataType, Tensor, TensorFact, Value};
use kiln_kernels::{Backend, RunContext, Tactic};
use std::time::Instant;

/// Deterministic xorshift generator for tuning inputs.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Largest tensor generated for tuning (elements).
const MAX_ELEMENTS: usize = 64 << 20;

/// A random tensor of the fact's type and concrete shape (uniform in [-1, 1) for floats,
/// zeros otherwise); `None` when the fact is not concrete.
pub(crate) fn random_tensor(fact: &TensorFact, rng: &mut Rng) -> Option<Tensor> {
    let dims = fact.shape.as_ref()?.as_fixed()?;
    let dtype = fact.dtype?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    if n > MAX_ELEMENTS {
        return None;
    }
    match dtype {
        DataType::F32 => Tensor::from_vec(&dims, (0..n).map(|_| rng.next_f32()).collect()).ok(),
        DataType::F64 => {
            Tensor::from_vec(&dims, (0..n).map(|_| rng.next_f32() as f64).collect()).ok()
        }
        DataType::String => None,
        other => Some(Tensor::zeros(other, &dims)),
    }
}

/// Best (minimum) time in microseconds of `tactic` over at least `iters` runs after one
/// warm-up (more for short layers); `None` if it fails.
pub(crate) fn time_tactic(
    backend: &dyn Backend,
    tactic: &dyn Tactic,
    inputs: &[Option<&Value>],
    iters: usize,
) -> Option<f64> {
    let ctx = RunContext::default();
    if let Err(e) = backend.execute(tactic, inputs, &ctx) {
        tracing::debug!(tactic = tactic.name(), error = %e, "tactic failed while tuning");
        return None;
    }
    // At least `iters` runs, and for short layers more (up to MAX_RUNS, until MIN_TOTAL_US
    // of measured time): the minimum of a few sub-millisecond runs is at the mercy of
    // scheduler noise, which would pick tactics at random.
    const MIN_TOTAL_US: f64 = 3000.0;
    const MAX_RUNS: usize = 40;
    let mut best = f64::INFINITY;
    let (mut runs, mut total) = (0, 0.0);
    while runs < iters.max(1) || (total < MIN_TOTAL_US && runs < MAX_RUNS) {
        let t0 = Instant::now();
        backend.execute(tactic, inputs, &ctx).ok()?;
        let us = t0.elapsed().as_secs_f64() * 1e6;
        best = best.min(us);
        total += us;
        runs += 1;
    }
    Some(best)
}
