//! Resampling: MNE's FFT method (its default) and SciPy's polyphase `resample_poly`.

use ndarray::{Array2, ArrayView2};
use realfft::num_complex::Complex;

use crate::error::{Error, Result, check_finite};
use crate::fir::reflect_limited_pad;
use crate::window::{firwin_lowpass, kaiser};

/// Number of output samples MNE produces when resampling `n` samples by `ratio`:
/// `max(round(ratio · n), 1)` with ties to even, as Python's `round`.
pub fn resampled_len(n: usize, ratio: f64) -> usize {
    ((ratio * n as f64).round_ties_even() as usize).max(1)
}

fn check_ratio(ratio: f64) -> Result<()> {
    if !ratio.is_finite() || ratio <= 0.0 {
        return Err(Error::param(
            "ratio",
            ratio,
            "the resampling ratio must be a positive finite number",
        ));
    }
    Ok(())
}

/// Longest output row [`resample_fft`] produces (2³² samples: days of data at kHz rates).
pub const MAX_FFT_OUTPUT: usize = 1 << 32;

/// Resamples each row by `ratio` (new rate / old rate) with MNE's FFT method
/// (`mne.filter.resample(x, ratio, 1, npad="auto", window="auto", pad="auto")`):
/// the rows are padded by odd reflection to a power-of-two length, the spectrum
/// is truncated or zero-padded (halving or doubling the Nyquist bin so its
/// energy is kept), and the padding is cut back off.
pub fn resample_fft(data: ArrayView2<'_, f64>, ratio: f64) -> Result<Array2<f64>> {
    check_ratio(ratio)?;
    check_finite(data, |c| format!("#{c}"), "FFT resampling")?;
    resample_fft_finite(data, ratio)
}

/// [`resample_fft`] taking the data by value, so the input's memory is freed
/// as soon as the output is written. Results are identical to [`resample_fft`].
pub fn resample_fft_owned(data: Array2<f64>, ratio: f64) -> Result<Array2<f64>> {
    check_finite(data.view(), |c| format!("#{c}"), "FFT resampling")?;
    resample_fft_owned_finite(data, ratio)
}

/// [`resample_fft_owned`] for data the caller has already checked to be finite
/// (with its channels' names in the error), so the recording is scanned once.
///
/// The output gets a buffer of its own exact size rather than the input's
/// buffer shrunk: allocators such as mimalloc (the `neurodl` binary's) keep a
/// block shrunk by less than half at its old size, so every down-sampled
/// recording held in memory would go on costing its original size.
pub(crate) fn resample_fft_owned_finite(data: Array2<f64>, ratio: f64) -> Result<Array2<f64>> {
    check_ratio(ratio)?;
    resample_fft_finite(data.view(), ratio)
}

fn resample_fft_finite(data: ArrayView2<'_, f64>, ratio: f64) -> Result<Array2<f64>> {
    if data.ncols() == 0 {
        return Ok(data.to_owned());
    }
    let mut resampler = FftResampler::new(data.ncols(), ratio)?;
    let shape = (data.nrows(), resampler.final_len);
    // Each output sample is written once, straight after its row is computed.
    let mut out = Vec::with_capacity(shape.0 * shape.1);
    for row in data.outer_iter() {
        out.extend_from_slice(resampler.row(row));
    }
    Ok(Array2::from_shape_vec(shape, out).expect("length is rows × final_len"))
}

/// MNE's FFT resampling of rows of one length by one ratio, with plans and buffers reused.
struct FftResampler {
    final_len: usize,
    pad_l: usize,
    pad_r: usize,
    new_len: usize,
    remove_l: usize,
    gain: f64,
    shorter: bool,
    nyquist_bin: Option<usize>,
    forward: std::sync::Arc<dyn realfft::RealToComplex<f64>>,
    inverse: std::sync::Arc<dyn realfft::ComplexToReal<f64>>,
    padded: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    out_spectrum: Vec<Complex<f64>>,
    out_time: Vec<f64>,
    scratch_fwd: Vec<Complex<f64>>,
    scratch_inv: Vec<Complex<f64>>,
}

impl FftResampler {
    fn new(x_len: usize, ratio: f64) -> Result<Self> {
        let final_len = resampled_len(x_len, ratio);
        if final_len > MAX_FFT_OUTPUT {
            return Err(Error::param(
                "ratio",
                ratio,
                format!("would make {final_len} samples per channel (at most {MAX_FFT_OUTPUT})"),
            ));
        }
        // MNE's npad="auto": reflect to the next power of two of at least x_len + 2·min(x_len/8, 100).
        let min_add = (x_len / 8).min(100) * 2;
        let total_pad = (x_len + min_add).next_power_of_two() - x_len;
        let (pad_l, pad_r) = (total_pad / 2, total_pad / 2 + total_pad % 2);
        let orig_len = x_len + pad_l + pad_r;
        let new_len = resampled_len(orig_len, ratio);
        let (forward, inverse) = crate::fft_conv::plans(orig_len, new_len);
        let shorter = new_len < orig_len;
        let use_len = if shorter { new_len } else { orig_len };
        Ok(FftResampler {
            final_len,
            pad_l,
            pad_r,
            new_len,
            remove_l: (ratio * pad_l as f64).round_ties_even() as usize,
            gain: new_len as f64 / orig_len as f64,
            shorter,
            nyquist_bin: use_len.is_multiple_of(2).then_some(use_len / 2),
            padded: vec![0.0; orig_len],
            spectrum: forward.make_output_vec(),
            out_spectrum: inverse.make_input_vec(),
            out_time: vec![0.0; new_len],
            scratch_fwd: forward.make_scratch_vec(),
            scratch_inv: inverse.make_scratch_vec(),
            forward,
            inverse,
        })
    }

    /// Resamples one row; the result is valid until the next call.
    fn row(&mut self, row: ndarray::ArrayView1<'_, f64>) -> &[f64] {
        reflect_limited_pad(row, self.pad_l, self.pad_r, &mut self.padded);
        self.forward
            .process_with_scratch(&mut self.padded, &mut self.spectrum, &mut self.scratch_fwd)
            .expect("buffer lengths come from the plan");
        if let Some(k) = self.nyquist_bin {
            self.spectrum[k] *= if self.shorter { 2.0 } else { 0.5 };
        }
        let n_copy = self.out_spectrum.len().min(self.spectrum.len());
        for (o, s) in self.out_spectrum[..n_copy]
            .iter_mut()
            .zip(&self.spectrum[..n_copy])
        {
            *o = *s * self.gain;
        }
        self.out_spectrum[n_copy..].fill(Complex::new(0.0, 0.0));
        // A real signal's DC (and, for even lengths, Nyquist) bin is real: like
        // NumPy's `irfft`, only the real part is used.
        self.out_spectrum[0].im = 0.0;
        if self.new_len.is_multiple_of(2) {
            let last = self.out_spectrum.len() - 1;
            self.out_spectrum[last].im = 0.0;
        }
        self.inverse
            .process_with_scratch(&mut self.out_spectrum, &mut self.out_time, &mut self.scratch_inv)
            .expect("buffer lengths come from the plan");
        let norm = 1.0 / self.new_len as f64;
        let out = &mut self.out_time[self.remove_l..self.remove_l + self.final_len];
        for v in out.iter_mut() {
            *v *= norm;
        }
        out
    }
}

/// The anti-aliasing filter `resample_poly` designs for `up`/`down` (already
/// reduced): a Kaiser (β = 5) windowed sinc of `20·max(up, down) + 1` taps,
/// cut off at `1 / max(up, down)` of Nyquist, scaled by `up`.
pub fn polyphase_filter(up: usize, down: usize) -> Vec<f64> {
    let max_rate = up.max(down);
    let half_len = 10 * max_rate;
    let n = 2 * half_len + 1;
    let mut h = firwin_lowpass(n, 1.0 / max_rate as f64, &kaiser(n, 5.0));
    for v in &mut h {
        *v *= up as f64;
    }
    h
}

/// Largest reduced `up` or `down` accepted: the filter has `20·max(up, down) + 1` taps.
pub const MAX_POLYPHASE_RATE: usize = 100_000;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Resamples each row by `up / down` with SciPy's `resample_poly(x, up, down)`
/// defaults (Kaiser β = 5 filter, zero padding outside the signal):
/// `ceil(n · up / down)` output samples.
pub fn resample_poly(data: ArrayView2<'_, f64>, up: usize, down: usize) -> Result<Array2<f64>> {
    if up == 0 {
        return Err(Error::param("up", 0, "must be at least 1"));
    }
    if down == 0 {
        return Err(Error::param("down", 0, "must be at least 1"));
    }
    check_finite(data, |c| format!("#{c}"), "polyphase resampling")?;
    let g = gcd(up, down);
    let (up, down) = (up / g, down / g);
    if up.max(down) > MAX_POLYPHASE_RATE {
        return Err(Error::param(
            "up/down",
            format!("{up}/{down}"),
            format!(
                "needs a {}-tap anti-aliasing filter; ratios with terms above {MAX_POLYPHASE_RATE} are better served by FFT resampling",
                20 * up.max(down) + 1
            ),
        ));
    }
    if up == 1 && down == 1 {
        return Ok(data.to_owned());
    }
    let n_in = data.ncols();
    if n_in == 0 {
        return Ok(data.to_owned());
    }
    let n_out = (n_in * up).div_ceil(down);
    let h = polyphase_filter(up, down);
    let half_len = (h.len() - 1) / 2;
    // Zeros in front of the filter centre the output samples on the input grid.
    let n_pre_pad = down - half_len % down;
    let n_pre_remove = (half_len + n_pre_pad) / down;
    let mut padded = vec![0.0; n_pre_pad];
    padded.extend_from_slice(&h);
    let output_len = |len_h: usize| ((n_in - 1) * up + len_h - 1) / down + 1;
    while output_len(padded.len()) < n_out + n_pre_remove {
        padded.push(0.0);
    }
    let len_h = padded.len();
    let mut out = Array2::zeros((data.nrows(), n_out));
    for (row, mut out_row) in data.outer_iter().zip(out.outer_iter_mut()) {
        let x = row
            .as_slice()
            .map(std::borrow::Cow::Borrowed)
            .unwrap_or_else(|| row.to_vec().into());
        for (k, o) in out_row.iter_mut().enumerate() {
            // Output k is sample (k + n_pre_remove)·down of the upsampled, filtered signal:
            // Σ_j h[m − j·up]·x[j] over the taps that land on input samples.
            let m = (k + n_pre_remove) * down;
            let j_min = if m >= len_h { (m - len_h) / up + 1 } else { 0 };
            let j_max = (m / up).min(n_in - 1);
            let mut acc = 0.0;
            for j in j_min..=j_max {
                acc += padded[m - j * up] * x[j];
            }
            *o = acc;
        }
    }
    Ok(out)
}

/// Rescales event sample indices after resampling by `ratio`, as MNE does:
/// rounded (ties to even) and clipped to the last sample of the new signal.
pub fn rescale_samples(samples: &[usize], ratio: f64, new_n_samples: usize) -> Vec<usize> {
    samples
        .iter()
        .map(|&s| ((s as f64 * ratio).round_ties_even() as usize).min(new_n_samples.saturating_sub(1)))
        .collect()
}
