//! The run-time arena of an execution context: f32 buffers of layer outputs whose values are
//! dead (by the engine's liveness analysis) come back here and are handed out again to later
//! layers, so a steady-state run allocates (and page-faults and zeroes) nothing big.

use std::sync::Mutex;

/// Buffers smaller than this many elements are not worth keeping.
const MIN_ELEMENTS: usize = 1024;

/// At most this many free buffers are kept.
const MAX_BUFFERS: usize = 64;

/// A pool of reusable f32 buffers (best fit by capacity). One per execution context.
#[derive(Debug, Default)]
pub struct Arena {
    free: Mutex<Vec<Vec<f32>>>,
}

impl Clone for Arena {
    /// A clone starts empty: buffers belong to one context.
    fn clone(&self) -> Arena {
        Arena::default()
    }
}

impl Arena {
    /// An empty arena.
    pub fn new() -> Arena {
        Arena::default()
    }

    /// A buffer of exactly `len` elements whose contents are unspecified (stale values of an
    /// earlier layer): for kernels that overwrite every element.
    pub fn take(&self, len: usize) -> Vec<f32> {
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            best.map(|i| free.swap_remove(i))
        };
        match reused {
            Some(mut v) => {
                if v.len() >= len {
                    v.truncate(len);
                } else {
                    v.resize(len, 0.0);
                }
                v
            }
            None => vec![0.0; len],
        }
    }

    /// Return a buffer for reuse (small ones, and any beyond the pool's bound, are freed).
    pub fn give(&self, v: Vec<f32>) {
        if v.capacity() < MIN_ELEMENTS {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < MAX_BUFFERS {
            free.push(v);
        }
    }

    /// Bytes held in free buffers.
    pub fn held_bytes(&self) -> u64 {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.iter().map(|v| (v.capacity() * 4) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_fit_reuse() {
        let a = Arena::new();
        a.give(vec![1.0; 4096]);
        a.give(vec![2.0; 2048]);
        let v = a.take(1500);
        assert_eq!(v.len(), 1500);
        assert!(
            v.capacity() >= 2048 && v.capacity() < 4096,
            "smallest that fits"
        );
        let w = a.take(5000);
        assert_eq!(w.len(), 5000);
        assert!(a.held_bytes() >= 4096 * 4);
        a.give(vec![0.0; 10]);
        assert_eq!(a.held_bytes(), 4096 * 4, "tiny buffers are not kept");
    }
}
