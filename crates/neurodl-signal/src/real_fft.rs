//! Real FFTs of even length whose real/complex conversion step is vectorised.
//!
//! `realfft` computes a real FFT of length n as a complex FFT of length n/2
//! (`rustfft`, vectorised) plus a pass that untangles the two interleaved
//! halves (its twiddle step). That pass is scalar complex arithmetic, and on
//! the filter and resampling sizes of EEG preprocessing (2 048, 20 480 and
//! 32 768 points) it was 30–40 % of each transform on the development
//! machine. This module runs the same pass with AVX2, two bins per register,
//! performing realfft 3.5's operations in its order (no fused multiply-adds),
//! so its results are bit-for-bit those of `realfft` (tested below); without
//! AVX2, or for lengths too short to vectorise, `realfft` itself runs.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, ComplexToRealEven, FftError, RealToComplex, RealToComplexEven};
use rustfft::{Fft, FftPlanner};

/// Shortest length given the vectorised pass (shorter ones gain nothing from it).
const MIN_VECTOR_LEN: usize = 16;

/// `e^{-2πi·index/len}`, computed as realfft computes it.
fn twiddle(index: usize, len: usize) -> Complex<f64> {
    let angle = -2.0 * std::f64::consts::PI / len as f64 * index as f64;
    Complex::new(angle.cos(), angle.sin())
}

fn twiddle_count(len: usize) -> usize {
    if len.is_multiple_of(4) {
        len / 4
    } else {
        len / 4 + 1
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The forward real FFT plan for `len` samples: vectorised where possible.
pub(crate) fn plan_forward(len: usize, planner: &mut FftPlanner<f64>) -> Arc<dyn RealToComplex<f64>> {
    if len.is_multiple_of(2) && len >= MIN_VECTOR_LEN && has_avx2() {
        Arc::new(ForwardEven::new(len, planner))
    } else if len.is_multiple_of(2) {
        Arc::new(RealToComplexEven::new(len, planner))
    } else {
        Arc::new(realfft::RealToComplexOdd::new(len, planner))
    }
}

/// The inverse real FFT plan for `len` samples: vectorised where possible.
pub(crate) fn plan_inverse(len: usize, planner: &mut FftPlanner<f64>) -> Arc<dyn ComplexToReal<f64>> {
    if len.is_multiple_of(2) && len >= MIN_VECTOR_LEN && has_avx2() {
        Arc::new(InverseEven::new(len, planner))
    } else if len.is_multiple_of(2) {
        Arc::new(ComplexToRealEven::new(len, planner))
    } else {
        Arc::new(realfft::ComplexToRealOdd::new(len, planner))
    }
}

/// A real FFT of even length `len` as a complex FFT of `len / 2` and a twiddle pass.
struct HalfLength {
    len: usize,
    /// The twiddle pass's factors for k = 1 … twiddle_count − 1, as realfft's.
    twiddles: Vec<Complex<f64>>,
    fft: Arc<dyn Fft<f64>>,
    scratch_len: usize,
}

impl HalfLength {
    fn new(len: usize, fft: Arc<dyn Fft<f64>>, twiddle_of: impl Fn(usize) -> Complex<f64>) -> Self {
        HalfLength {
            len,
            twiddles: (1..twiddle_count(len)).map(twiddle_of).collect(),
            scratch_len: fft.get_outofplace_scratch_len(),
            fft,
        }
    }
}

/// Forward transform of an even number of real samples (only built when AVX2 is present);
/// twiddles `½·e^{-2πik/len}`.
struct ForwardEven(HalfLength);

impl ForwardEven {
    fn new(len: usize, planner: &mut FftPlanner<f64>) -> Self {
        ForwardEven(HalfLength::new(len, planner.plan_fft_forward(len / 2), |i| {
            twiddle(i, len) * 0.5
        }))
    }
}

/// Inverse transform to an even number of real samples (only built when AVX2 is present);
/// twiddles `e^{+2πik/len}`.
struct InverseEven(HalfLength);

impl InverseEven {
    fn new(len: usize, planner: &mut FftPlanner<f64>) -> Self {
        InverseEven(HalfLength::new(len, planner.plan_fft_inverse(len / 2), |i| {
            twiddle(i, len).conj()
        }))
    }
}

/// Reinterprets an even-length real buffer as its interleaved complex pairs.
fn as_complex(x: &mut [f64]) -> &mut [Complex<f64>] {
    debug_assert!(x.len().is_multiple_of(2));
    // SAFETY: `Complex<f64>` is `#[repr(C)]` { re, im }: two f64s, alignment of f64.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<Complex<f64>>(), x.len() / 2) }
}

impl RealToComplex<f64> for ForwardEven {
    fn process(&self, input: &mut [f64], output: &mut [Complex<f64>]) -> Result<(), FftError> {
        let mut scratch = self.make_scratch_vec();
        self.process_with_scratch(input, output, &mut scratch)
    }

    fn process_with_scratch(
        &self,
        input: &mut [f64],
        output: &mut [Complex<f64>],
        scratch: &mut [Complex<f64>],
    ) -> Result<(), FftError> {
        if input.len() != self.0.len {
            return Err(FftError::InputBuffer(self.0.len, input.len()));
        }
        if output.len() != self.complex_len() {
            return Err(FftError::OutputBuffer(self.complex_len(), output.len()));
        }
        if scratch.len() < self.0.scratch_len {
            return Err(FftError::ScratchBuffer(self.0.scratch_len, scratch.len()));
        }
        let half = self.0.len / 2;
        self.0
            .fft
            .process_outofplace_with_scratch(as_complex(input), &mut output[..half], scratch);
        let first = output[0];
        output[0] = Complex::new(first.re + first.im, 0.0);
        output[half] = Complex::new(first.re - first.im, 0.0);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this plan is only built when the CPU has AVX2 (`plan_forward`).
        unsafe {
            avx2::untangle_forward(output, &self.0.twiddles)
        };
        if output.len() % 2 == 1 {
            let centre = output.len() / 2;
            output[centre].im = -output[centre].im;
        }
        Ok(())
    }

    fn get_scratch_len(&self) -> usize {
        self.0.scratch_len
    }

    fn len(&self) -> usize {
        self.0.len
    }

    fn make_input_vec(&self) -> Vec<f64> {
        vec![0.0; self.0.len]
    }

    fn make_output_vec(&self) -> Vec<Complex<f64>> {
        vec![Complex::new(0.0, 0.0); self.complex_len()]
    }

    fn make_scratch_vec(&self) -> Vec<Complex<f64>> {
        vec![Complex::new(0.0, 0.0); self.0.scratch_len]
    }
}

impl ComplexToReal<f64> for InverseEven {
    fn process(&self, input: &mut [Complex<f64>], output: &mut [f64]) -> Result<(), FftError> {
        let mut scratch = self.make_scratch_vec();
        self.process_with_scratch(input, output, &mut scratch)
    }

    fn process_with_scratch(
        &self,
        input: &mut [Complex<f64>],
        output: &mut [f64],
        scratch: &mut [Complex<f64>],
    ) -> Result<(), FftError> {
        if input.len() != self.complex_len() {
            return Err(FftError::InputBuffer(self.complex_len(), input.len()));
        }
        if output.len() != self.0.len {
            return Err(FftError::OutputBuffer(self.0.len, output.len()));
        }
        if scratch.len() < self.0.scratch_len {
            return Err(FftError::ScratchBuffer(self.0.scratch_len, scratch.len()));
        }
        // A real signal's DC and Nyquist bins are real; like realfft, transform
        // without their imaginary parts and report that they were not zero.
        let last = input.len() - 1;
        let first_invalid = std::mem::replace(&mut input[0].im, 0.0) != 0.0;
        let last_invalid = std::mem::replace(&mut input[last].im, 0.0) != 0.0;
        let (first, end) = (input[0], input[last]);
        let (sum, diff) = (first + end, first - end);
        input[0] = Complex::new(sum.re - sum.im, diff.re - diff.im);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this plan is only built when the CPU has AVX2 (`plan_inverse`).
        unsafe {
            avx2::tangle_inverse(input, &self.0.twiddles)
        };
        if input.len() % 2 == 1 {
            let centre = input.len() / 2;
            let doubled = input[centre] + input[centre];
            input[centre] = doubled.conj();
        }
        let half = self.0.len / 2;
        self.0
            .fft
            .process_outofplace_with_scratch(&mut input[..half], as_complex(output), scratch);
        if first_invalid || last_invalid {
            return Err(FftError::InputValues(first_invalid, last_invalid));
        }
        Ok(())
    }

    fn get_scratch_len(&self) -> usize {
        self.0.scratch_len
    }

    fn len(&self) -> usize {
        self.0.len
    }

    fn make_input_vec(&self) -> Vec<Complex<f64>> {
        vec![Complex::new(0.0, 0.0); self.complex_len()]
    }

    fn make_output_vec(&self) -> Vec<f64> {
        vec![0.0; self.0.len]
    }

    fn make_scratch_vec(&self) -> Vec<Complex<f64>> {
        vec![Complex::new(0.0, 0.0); self.0.scratch_len]
    }
}

/// The twiddle passes, two bins per 256-bit register. Bin k (from the front)
/// pairs with bin n/2 − k (from the back); for each pair, with w its twiddle,
/// s = a + b and d = a − b, realfft computes
/// `r = s.im·w.re + d.re·w.im` and `i = s.im·w.im − d.re·w.re`, which here are
/// one register `o = [r, i]` per bin: `[s.im, s.im]·[w.re, w.im]` plus or minus
/// `[d.re, d.re]·[w.im, w.re]`, with the same roundings.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use realfft::num_complex::Complex;

    /// `[r, i]` for two bins, and `[s.re, d.im]` (what both passes combine it with).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rotate(a: __m256d, b: __m256d, w: __m256d) -> (__m256d, __m256d) {
        let sum = _mm256_add_pd(a, b);
        let diff = _mm256_sub_pd(a, b);
        let t1 = _mm256_mul_pd(_mm256_permute_pd(sum, 0b1111), w);
        let t2 = _mm256_mul_pd(_mm256_movedup_pd(diff), _mm256_permute_pd(w, 0b0101));
        // [t1.re + t2.re, t1.im − t2.im]: addsub subtracts in even lanes, so negate t2
        // (exact: x − (−y) is x + y).
        let o = _mm256_addsub_pd(t1, _mm256_xor_pd(t2, _mm256_set1_pd(-0.0)));
        (o, _mm256_blend_pd(sum, diff, 0b1010))
    }

    /// Flips the sign of each bin's imaginary part.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn negate_im(x: __m256d) -> __m256d {
        _mm256_xor_pd(x, _mm256_set_pd(-0.0, 0.0, -0.0, 0.0))
    }

    /// Swaps the two bins of a register (front-to-back order of the pair partners).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn swap_bins(x: __m256d) -> __m256d {
        _mm256_permute2f128_pd(x, x, 1)
    }

    /// Visits the pairs (k, n/2 − k) for k = 1 … twiddles.len(): two at a time
    /// through `vector`, a last odd one through `scalar`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn for_pairs(
        bins: &mut [Complex<f64>],
        twiddles: &[Complex<f64>],
        vector: impl Fn(__m256d, __m256d, __m256d) -> (__m256d, __m256d),
        scalar: impl Fn(Complex<f64>, Complex<f64>, Complex<f64>) -> (Complex<f64>, Complex<f64>),
    ) {
        let half = bins.len() - 1;
        let n_pairs = twiddles.len();
        debug_assert!(n_pairs < half.div_ceil(2) + 1);
        let ptr = bins.as_mut_ptr().cast::<f64>();
        let mut k = 1;
        while k < n_pairs {
            // SAFETY: k + 1 ≤ n_pairs < half/2 + 1 keeps the front bins k, k + 1 and the
            // back bins half − k − 1, half − k inside `bins` and disjoint.
            unsafe {
                let front = ptr.add(2 * k);
                let back = ptr.add(2 * (half - k - 1));
                let a = _mm256_loadu_pd(front);
                let b = swap_bins(_mm256_loadu_pd(back));
                let w = _mm256_loadu_pd(twiddles.as_ptr().add(k - 1).cast::<f64>());
                let (new_a, new_b) = vector(a, b, w);
                _mm256_storeu_pd(front, new_a);
                _mm256_storeu_pd(back, swap_bins(new_b));
            }
            k += 2;
        }
        if k == n_pairs {
            let (a, b) = scalar(bins[k], bins[half - k], twiddles[k - 1]);
            bins[k] = a;
            bins[half - k] = b;
        }
    }

    /// realfft's post-processing after the half-length forward FFT.
    #[target_feature(enable = "avx2")]
    pub(super) fn untangle_forward(output: &mut [Complex<f64>], twiddles: &[Complex<f64>]) {
        let half_v = _mm256_set1_pd(0.5);
        for_pairs(
            output,
            twiddles,
            |a, b, w| {
                let (o, sd) = rotate(a, b, w);
                let h = _mm256_mul_pd(half_v, sd);
                (_mm256_add_pd(h, o), negate_im(_mm256_sub_pd(h, o)))
            },
            |a, b, w| {
                let (sum, diff) = (a + b, a - b);
                let r = sum.im * w.re + diff.re * w.im;
                let i = sum.im * w.im - diff.re * w.re;
                let (hs, hd) = (0.5 * sum.re, 0.5 * diff.im);
                (Complex::new(hs + r, hd + i), Complex::new(hs - r, i - hd))
            },
        );
    }

    /// realfft's pre-processing before the half-length inverse FFT.
    #[target_feature(enable = "avx2")]
    pub(super) fn tangle_inverse(input: &mut [Complex<f64>], twiddles: &[Complex<f64>]) {
        for_pairs(
            input,
            twiddles,
            |a, b, w| {
                let (o, sd) = rotate(a, b, w);
                (_mm256_sub_pd(sd, o), negate_im(_mm256_add_pd(sd, o)))
            },
            |a, b, w| {
                let (sum, diff) = (a + b, a - b);
                let r = sum.im * w.re + diff.re * w.im;
                let i = sum.im * w.im - diff.re * w.re;
                (
                    Complex::new(sum.re - r, diff.im - i),
                    Complex::new(sum.re + r, -i - diff.im),
                )
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Every length the pipelines use and the awkward ones around them: results
    /// must be realfft's to the bit, forward and inverse.
    #[test]
    fn equals_realfft_bit_for_bit() {
        let mut lengths: Vec<usize> = (2..=80).collect();
        lengths.extend([126, 128, 130, 1022, 1024, 2048, 4098, 20_480, 32_768]);
        for n in lengths {
            let mut planner = FftPlanner::new();
            let ours_f = plan_forward(n, &mut planner);
            let ours_i = plan_inverse(n, &mut planner);
            let mut theirs = realfft::RealFftPlanner::<f64>::new();
            let (ref_f, ref_i) = (theirs.plan_fft_forward(n), theirs.plan_fft_inverse(n));
            let x = signal(n, n as u64);
            let (mut a, mut b) = (x.clone(), x);
            let (mut spec_a, mut spec_b) = (ours_f.make_output_vec(), ref_f.make_output_vec());
            ours_f.process(&mut a, &mut spec_a).unwrap();
            ref_f.process(&mut b, &mut spec_b).unwrap();
            assert_eq!(spec_a, spec_b, "forward, n = {n}");
            let (mut out_a, mut out_b) = (vec![0.0; n], vec![0.0; n]);
            let mut spec_c = spec_a.clone();
            ours_i.process(&mut spec_a, &mut out_a).unwrap();
            ref_i.process(&mut spec_b, &mut out_b).unwrap();
            assert_eq!(out_a, out_b, "inverse, n = {n}");
            // A non-real DC bin is reported, after transforming without it, as realfft does.
            spec_c[0].im = 1.0;
            let mut spec_d = spec_c.clone();
            let ours = ours_i.process(&mut spec_c, &mut out_a);
            let reference = ref_i.process(&mut spec_d, &mut out_b);
            assert_eq!(ours.is_err(), reference.is_err(), "n = {n}");
            assert_eq!(out_a, out_b, "inverse with a bad DC bin, n = {n}");
        }
    }
}
