//! The discrete Fourier transform of one line of complex samples (shared by DFT and STFT).

use std::f64::consts::PI;

/// Twiddle factors for transforms of length `n`: `cos(2πj/n)`, `sin(2πj/n)` for `j < n`.
pub(crate) struct Twiddles {
    n: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl Twiddles {
    /// Precompute the factors for length `n`.
    pub(crate) fn new(n: usize) -> Twiddles {
        let (cos, sin) = (0..n)
            .map(|j| {
                let a = 2.0 * PI * j as f64 / n as f64;
                (a.cos(), a.sin())
            })
            .unzip();
        Twiddles { n, cos, sin }
    }

    /// `X[k] = Σ_t x[t]·e^{∓2πikt/n}` for `k < bins` (minus sign forward, plus inverse).
    /// `x` shorter than `n` is zero-padded; longer is truncated. No normalization.
    pub(crate) fn transform(
        &self,
        re: &[f64],
        im: &[f64],
        bins: usize,
        inverse: bool,
    ) -> (Vec<f64>, Vec<f64>) {
        let n = self.n;
        let sign = if inverse { 1.0 } else { -1.0 };
        let m = re.len().min(n);
        let mut out_re = vec![0.0; bins];
        let mut out_im = vec![0.0; bins];
        for k in 0..bins {
            let (mut sr, mut si) = (0.0, 0.0);
            for t in 0..m {
                let j = (k * t) % n;
                let (c, s) = (self.cos[j], sign * self.sin[j]);
                sr += re[t] * c - im[t] * s;
                si += re[t] * s + im[t] * c;
            }
            out_re[k] = sr;
            out_im[k] = si;
        }
        (out_re, out_im)
    }
}
