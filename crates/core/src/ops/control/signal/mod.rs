//! Signal processing: `DFT`, `STFT`, window functions, `MelWeightMatrix`.

mod dft;
mod fourier;
mod mel;
mod stft;
mod windows;

use crate::OpRegistry;

/// Register this sub-family: one line per op.
pub fn register(r: &mut OpRegistry) {
    r.add("DFT", dft::build);
    r.add("STFT", stft::build);
    r.add("HannWindow", windows::build_hann);
    r.add("HammingWindow", windows::build_hamming);
    r.add("BlackmanWindow", windows::build_blackman);
    r.add("MelWeightMatrix", mel::build);
}
