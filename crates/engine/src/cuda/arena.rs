//! Device memory planning of one execution context: every activation gets an offset in one
//! allocation; values whose lifetimes do not overlap share bytes (greedy, largest first),
//! and the layers' scratch space is one region after them.

use kiln_kernels::cuda::memory::align_up;

/// One value to place: size in bytes and the layer range [first, last] it is live in.
#[derive(Clone, Debug)]
pub(crate) struct Interval {
    pub bytes: usize,
    pub first: usize,
    pub last: usize,
}

/// Offsets of each interval and the total bytes.
pub(crate) fn place(items: &[Interval]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].bytes.cmp(&items[a].bytes).then(a.cmp(&b)));
    let mut offsets = vec![0usize; items.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0usize;
    for i in order {
        let it = &items[i];
        let size = align_up(it.bytes.max(1));
        // Ranges used by already placed values whose lifetimes overlap this one.
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| items[j].first <= it.last && it.first <= items[j].last)
            .map(|&j| (offsets[j], offsets[j] + align_up(items[j].bytes.max(1))))
            .collect();
        busy.sort_unstable();
        let mut at = 0usize;
        for (lo, hi) in busy {
            if at + size <= lo {
                break;
            }
            at = at.max(hi);
        }
        offsets[i] = at;
        total = total.max(at + size);
        placed.push(i);
    }
    (offsets, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_and_overlapping_ones_do_not() {
        let items = vec![
            Interval {
                bytes: 1000,
                first: 0,
                last: 1,
            },
            Interval {
                bytes: 1000,
                first: 2,
                last: 3,
            },
            Interval {
                bytes: 500,
                first: 1,
                last: 2,
            },
        ];
        let (off, total) = place(&items);
        assert_eq!(off[0], off[1], "disjoint lifetimes share");
        let r = |i: usize| (off[i], off[i] + align_up(items[i].bytes));
        for (a, b) in [(0, 2), (1, 2)] {
            let (x, y) = (r(a), r(b));
            assert!(x.1 <= y.0 || y.1 <= x.0, "{a} and {b} overlap in memory");
        }
        assert_eq!(total, align_up(1000) + align_up(500));
    }
}
