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

    /// Buffers for [`OverlapAdd::convolve_window`], reusable across rows.
    pub(crate) fn workspace(&self) -> Workspace {
        Workspace {
            time: vec![0.0; self.n_fft],
            freq: self.forward.make_output_vec(),
            scratch_forward: self.forward.make_scratch_vec(),
            scratch_inverse: self.inverse.make_scratch_vec(),
        }
    }

    /// Writes the full linear convolution of `x` with the taps into `out`
    /// (`out.len() == x.len() + n_taps − 1`).
    #[cfg(test)]
    pub(crate) fn convolve(&self, x: &[f64], out: &mut [f64]) {
        debug_assert_eq!(out.len(), x.len() + self.n_taps - 1);
        self.convolve_window(x, 0, out, &mut self.workspace());
    }

    /// Writes samples `first .. first + out.len()` of the full linear convolution
    /// of `x` with the taps into `out`. Blocks whose outputs all fall outside
    /// that window are not transformed, and each output sample is assigned by
    /// the first block reaching it and then only added to.
    pub(crate) fn convolve_window(&self, x: &[f64], first: usize, out: &mut [f64], work: &mut Workspace) {
        let end = first + out.len();
        debug_assert!(end < x.len() + self.n_taps);
        let block = self.n_fft - self.n_taps + 1;
        // Window samples before `assigned` hold an earlier block's contribution.
        let mut assigned = first;
        let time = &mut work.time;
        let freq = &mut work.freq;
        for start in (0..x.len()).step_by(block) {
            let seg = &x[start..(start + block).min(x.len())];
            let (lo, hi) = (start.max(first), (start + seg.len() + self.n_taps - 1).min(end));
            if lo >= hi {
                continue;
            }
            time[..seg.len()].copy_from_slice(seg);
            time[seg.len()..].fill(0.0);
            self.forward
                .process_with_scratch(time, freq, &mut work.scratch_forward)
                .expect("buffer lengths come from the plan");
            multiply_spectra(freq, &self.spectrum);
            // Real input and real taps give real DC and Nyquist bins; clear rounding noise
            // that the inverse transform would otherwise reject.
            freq[0].im = 0.0;
            if let Some(last) = freq.last_mut() {
                last.im = 0.0;
            }
            self.inverse
                .process_with_scratch(freq, time, &mut work.scratch_inverse)
                .expect("buffer lengths come from the plan");
            let split = assigned.clamp(lo, hi);
            for (o, t) in out[lo - first..split - first].iter_mut().zip(&time[lo - start..]) {
                *o += t;
            }
            out[split - first..hi - first].copy_from_slice(&time[split - start..hi - start]);
            assigned = assigned.max(hi);
        }
    }
}

/// Reusable buffers of one [`OverlapAdd`].
pub(crate) struct Workspace {
    time: Vec<f64>,
    freq: Vec<Complex<f64>>,
    scratch_forward: Vec<Complex<f64>>,
    scratch_inverse: Vec<Complex<f64>>,
}

/// `spectrum[k] *= filter[k]`, with AVX2 two bins at a time where available.
/// Both paths round alike: `(a.re·b.re − a.im·b.im, a.im·b.re + a.re·b.im)`
/// without fused multiply-adds, which is num-complex's product.
fn multiply_spectra(spectrum: &mut [Complex<f64>], filter: &[Complex<f64>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, as checked just above.
        return unsafe { multiply_spectra_avx2(spectrum, filter) };
    }
    for (f, h) in spectrum.iter_mut().zip(filter) {
        *f *= h;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn multiply_spectra_avx2(spectrum: &mut [Complex<f64>], filter: &[Complex<f64>]) {
    use std::arch::x86_64::*;
    let n = spectrum.len().min(filter.len());
    let (a_ptr, b_ptr) = (spectrum.as_mut_ptr().cast::<f64>(), filter.as_ptr().cast::<f64>());
    let mut k = 0;
    while k + 2 <= n {
        // SAFETY: bins k and k + 1 lie inside both slices (k + 2 ≤ n).
        unsafe {
            let a = _mm256_loadu_pd(a_ptr.add(2 * k));
            let b = _mm256_loadu_pd(b_ptr.add(2 * k));
            let t1 = _mm256_mul_pd(a, _mm256_movedup_pd(b));
            let t2 = _mm256_mul_pd(_mm256_permute_pd(a, 0b0101), _mm256_permute_pd(b, 0b1111));
            _mm256_storeu_pd(a_ptr.add(2 * k), _mm256_addsub_pd(t1, t2));
        }
        k += 2;
    }
    for (f, h) in spectrum[k..n].iter_mut().zip(&filter[k..n]) {
        *f *= h;
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

    /// Any window of the full convolution equals that part of the full one, for
    /// windows starting and ending inside, across and at the ends of blocks.
    #[test]
    fn windows_equal_the_full_convolution() {
        let taps: Vec<f64> = (0..37).map(|i| (i as f64 * 0.3).cos()).collect();
        let x: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.071).sin() + (i % 7) as f64)
            .collect();
        let conv = OverlapAdd::new(&taps, x.len());
        let mut full = vec![0.0; x.len() + taps.len() - 1];
        conv.convolve(&x, &mut full);
        let mut work = conv.workspace();
        for (first, len) in [
            (0, 1),
            (0, full.len()),
            (18, 1000),
            (100, 300),
            (500, 536),
            (1035, 1),
            (64, 0),
        ] {
            let mut out = vec![f64::NAN; len];
            conv.convolve_window(&x, first, &mut out, &mut work);
            assert_eq!(out, full[first..first + len], "window {first} + {len}");
        }
    }

    #[test]
    fn vectorised_spectrum_product_equals_num_complex() {
        let a: Vec<Complex<f64>> = (0..11)
            .map(|i| Complex::new((i as f64).sin(), (i as f64 * 0.7).cos()))
            .collect();
        let b: Vec<Complex<f64>> = (0..11)
            .map(|i| Complex::new((i as f64 * 1.3).cos(), -(i as f64).sin()))
            .collect();
        let mut ours = a.clone();
        multiply_spectra(&mut ours, &b);
        let expected: Vec<Complex<f64>> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        assert_eq!(ours, expected);
    }
}
