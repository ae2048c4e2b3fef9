//! Linear convolution by overlap-add FFTs, for long FIR filters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};

/// Real FFT plans by length, with the complex planner under them.
struct Plans {
    complex: rustfft::FftPlanner<f64>,
    forward: HashMap<usize, Arc<dyn RealToComplex<f64>>>,
    inverse: HashMap<usize, Arc<dyn ComplexToReal<f64>>>,
}

thread_local! {
    /// Planning an FFT computes its twiddle factors and picks kernels, which costs
    /// about as much as a few transforms; plans are cached by length, so one set
    /// per thread serves every channel and recording of the same length.
    static PLANS: RefCell<Plans> = RefCell::new(Plans {
        complex: rustfft::FftPlanner::new(),
        forward: HashMap::new(),
        inverse: HashMap::new(),
    });
}

/// Forward and inverse real FFT plans of length `n_forward` and `n_inverse`, from the
/// thread's cache (see [`crate::real_fft`] for what they run).
pub(crate) fn plans(
    n_forward: usize,
    n_inverse: usize,
) -> (Arc<dyn RealToComplex<f64>>, Arc<dyn ComplexToReal<f64>>) {
    PLANS.with(|p| {
        let p = &mut *p.borrow_mut();
        let forward = p
            .forward
            .entry(n_forward)
            .or_insert_with(|| crate::real_fft::plan_forward(n_forward, &mut p.complex))
            .clone();
        let inverse = p
            .inverse
            .entry(n_inverse)
            .or_insert_with(|| crate::real_fft::plan_inverse(n_inverse, &mut p.complex))
            .clone();
        (forward, inverse)
    })
}

/// A filter's spectrum and FFT plans, reused for every row of a recording.
pub(crate) struct OverlapAdd {
    n_taps: usize,
    n_fft: usize,
    spectrum: Vec<Complex<f64>>,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
}

impl OverlapAdd {
    /// Plans the convolution of signals of length `n_signal` with `taps`.
    ///
    /// The block length is the power of two minimising MNE's cost model
    /// (multiplications plus a penalty for very long FFTs); it only affects
    /// speed and rounding, never the result beyond the last bits.
    pub(crate) fn new(taps: &[f64], n_signal: usize) -> Self {
        let n_taps = taps.len();
        let min_fft = 2 * n_taps - 1;
        let n_fft = if n_signal >= min_fft {
            let lo = (min_fft as f64).log2().ceil() as u32;
            let hi = (n_signal as f64).log2().ceil() as u32;
            (lo..=hi)
                .map(|p| 1usize << p)
                .min_by(|&a, &b| cost(a, n_taps, n_signal).total_cmp(&cost(b, n_taps, n_signal)))
                .unwrap_or(min_fft.next_power_of_two())
        } else {
            (n_signal + n_taps - 1).next_power_of_two()
        };
        let (forward, inverse) = plans(n_fft, n_fft);
        let mut padded = vec![0.0; n_fft];
        padded[..n_taps].copy_from_slice(taps);
        let mut spectrum = forward.make_output_vec();
        forward
            .process(&mut padded, &mut spectrum)
            .expect("buffer lengths come from the plan");
        // Fold the inverse FFT's missing 1/n into the filter once.
        let scale = 1.0 / n_fft as f64;
        for c in &mut spectrum {
            *c *= scale;
        }
        OverlapAdd {
            n_taps,
            n_fft,
            spectrum,
            forward,
            inverse,
        }
    }

    /// Writes the full linear convolution of `x` with the taps into `out`
    /// (`out.len() == x.len() + n_taps − 1`).
    pub(crate) fn convolve(&self, x: &[f64], out: &mut [f64]) {
        debug_assert_eq!(out.len(), x.len() + self.n_taps - 1);
        out.fill(0.0);
        let block = self.n_fft - self.n_taps + 1;
        let mut time = vec![0.0; self.n_fft];
        let mut freq = self.forward.make_output_vec();
        let mut scratch_f = self.forward.make_scratch_vec();
        let mut scratch_i = self.inverse.make_scratch_vec();
        for start in (0..x.len()).step_by(block) {
            let seg = &x[start..(start + block).min(x.len())];
            time[..seg.len()].copy_from_slice(seg);
            time[seg.len()..].fill(0.0);
            self.forward
                .process_with_scratch(&mut time, &mut freq, &mut scratch_f)
                .expect("buffer lengths come from the plan");
            for (f, h) in freq.iter_mut().zip(&self.spectrum) {
                *f *= h;
            }
            // Real input and real taps give real DC and Nyquist bins; clear rounding noise
            // that the inverse transform would otherwise reject.
            freq[0].im = 0.0;
            if let Some(last) = freq.last_mut() {
                last.im = 0.0;
            }
            self.inverse
                .process_with_scratch(&mut freq, &mut time, &mut scratch_i)
                .expect("buffer lengths come from the plan");
            let n_valid = (seg.len() + self.n_taps - 1).min(out.len() - start);
            for (o, t) in out[start..start + n_valid].iter_mut().zip(&time[..n_valid]) {
                *o += t;
            }
        }
    }
}

fn cost(n_fft: usize, n_taps: usize, n_signal: usize) -> f64 {
    let n = n_fft as f64;
    (n_signal as f64 / (n_fft - n_taps + 1) as f64).ceil() * n * (n.log2() + 1.0) + 4e-5 * n * n_signal as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_direct_convolution() {
        let taps: Vec<f64> = (0..7).map(|i| (i as f64 * 0.7).sin()).collect();
        let x: Vec<f64> = (0..100)
            .map(|i| (i as f64 * 0.13).cos() + i as f64 * 0.01)
            .collect();
        let conv = OverlapAdd::new(&taps, x.len());
        let mut out = vec![0.0; x.len() + taps.len() - 1];
        conv.convolve(&x, &mut out);
        for (n, o) in out.iter().enumerate() {
            let direct: f64 = (0..taps.len())
                .filter(|&k| n >= k && n - k < x.len())
                .map(|k| taps[k] * x[n - k])
                .sum();
            assert!((o - direct).abs() < 1e-12, "sample {n}: {o} vs {direct}");
        }
    }
}
