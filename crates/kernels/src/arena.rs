//! The run-time arena of an execution context: f32 buffers of layer outputs whose values are
//! dead (by the engine's liveness analysis) come back here and are handed out again to later
//! layers, so a steady-state run allocates (and page-faults and zeroes) nothing big.

use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers smaller than this many elements are not worth keeping.
const MIN_ELEMENTS: usize = 1024;

/// At most this many free buffers are kept.
const MAX_BUFFERS: usize = 64;

/// A pool of reusable f32 buffers (best fit by capacity). One per execution context.
#[derive(Debug, Default)]
pub struct Arena {
    inner: Mutex<Pool>,
}

/// The free buffers, each with how many of its leading elements were ever written (so a
/// buffer grows back to that length without zero-filling), and the same count for the
/// buffers lent out, by address (with their capacity, so that an unrelated buffer that
/// later gets the same address is not taken for one of them).
#[derive(Debug, Default)]
struct Pool {
    free: Vec<(Vec<f32>, usize)>,
    lent: HashMap<usize, (usize, usize)>,
}

/// Lent buffers tracked at most (entries of buffers dropped elsewhere would pile up).
const MAX_LENT: usize = 4096;

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
        let mut pool = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let best = pool
            .free
            .iter()
            .enumerate()
            .filter(|(_, (v, _))| v.capacity() >= len)
            .min_by_key(|(_, (v, _))| v.capacity())
            .map(|(i, _)| i);
        let (v, init) = match best.map(|i| pool.free.swap_remove(i)) {
            Some((mut v, init)) => {
                if init >= len {
                    // SAFETY: len <= init <= capacity, and the first `init` elements were all
                    // written while the buffer was in use (f32 has no invalid bit patterns).
                    unsafe { v.set_len(len) };
                    (v, init)
                } else {
                    // SAFETY: as above for the first `init` elements; the rest is zero-filled.
                    unsafe { v.set_len(init) };
                    v.resize(len, 0.0);
                    (v, len)
                }
            }
            None => (vec![0.0; len], len),
        };
        if pool.lent.len() >= MAX_LENT {
            pool.lent.clear();
        }
        pool.lent.insert(v.as_ptr() as usize, (init, v.capacity()));
        v
    }

    /// Return a buffer for reuse (small ones, and any beyond the pool's bound, are freed).
    pub fn give(&self, v: Vec<f32>) {
        let mut pool = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let init = match pool.lent.remove(&(v.as_ptr() as usize)) {
            Some((init, cap)) if cap == v.capacity() => init.max(v.len()),
            _ => v.len(),
        };
        if v.capacity() >= MIN_ELEMENTS && pool.free.len() < MAX_BUFFERS {
            pool.free.push((v, init));
        }
    }

    /// Bytes held in free buffers.
    pub fn held_bytes(&self) -> u64 {
        let pool = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        pool.free
            .iter()
            .map(|(v, _)| (v.capacity() * 4) as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regrown_buffers_keep_their_values_and_zero_only_new_elements() {
        let a = Arena::new();
        a.give(vec![3.0; 4096]);
        let v = a.take(1024);
        assert_eq!(v.len(), 1024);
        a.give(v);
        // Back to 4096: the elements written before are reused as they are (stale values).
        let w = a.take(4096);
        assert_eq!(w.len(), 4096);
        assert!(w.iter().all(|&x| x == 3.0));
        a.give(w);
        // A foreign buffer at any address counts only its own length as written.
        let mut f = Vec::with_capacity(8192);
        f.extend(std::iter::repeat_n(1.0f32, 2048));
        a.give(f);
        let g = a.take(8000);
        assert_eq!(g.len(), 8000);
        assert!(g[..2048].iter().all(|&x| x == 1.0) && g[2048..].iter().all(|&x| x == 0.0));
    }

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
