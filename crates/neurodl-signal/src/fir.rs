//! Zero-phase FIR filtering with MNE-Python's `filter_data` defaults.
//!
//! MNE's defaults (`method="fir"`, `phase="zero"`, `fir_window="hamming"`,
//! `fir_design="firwin"`, `filter_length="auto"`, transition bands `"auto"`,
//! `pad="reflect_limited"`) are what most published EEG pipelines ran, often
//! without knowing it; this module reproduces them:
//!
//! * transition bandwidths: `min(max(0.25·l_freq, 2 Hz), l_freq)` below the
//!   pass band and `min(max(0.25·h_freq, 2 Hz), Nyquist − h_freq)` above it;
//! * length: `ceil(3.3 / narrowest transition · sfreq)` samples, made odd
//!   (3.3 is the Hamming window's transition-width factor);
//! * taps: for every gain step of the ideal response, a windowed-sinc low-pass
//!   sized for that step's own transition, added to or subtracted from the
//!   response, centred in the full length;
//! * application: the signal is extended at both ends by `len − 1` samples of
//!   odd reflection about the end samples (zeros beyond the signal's own
//!   length), convolved, and the delay of `(len − 1)/2` removed.

use ndarray::ArrayViewMut2;

use crate::error::{Error, Result};
use crate::fft_conv::OverlapAdd;
use crate::window::{firwin_lowpass, hamming};

/// Transition-width factor of the Hamming window (MNE's `_length_factors["hamming"]`).
const HAMMING_LENGTH_FACTOR: f64 = 3.3;

/// Which band edges a FIR filter has, in Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirSpec {
    /// High-pass edge (pass band starts here); `None` for no high-pass.
    pub l_freq: Option<f64>,
    /// Low-pass edge (pass band ends here); `None` for no low-pass.
    /// With both set and `l_freq > h_freq`, the filter is a band-stop from `h_freq` to `l_freq`.
    pub h_freq: Option<f64>,
    /// Width of the lower transition band in Hz; `None` for MNE's `"auto"`.
    pub l_trans_bandwidth: Option<f64>,
    /// Width of the upper transition band in Hz; `None` for MNE's `"auto"`.
    pub h_trans_bandwidth: Option<f64>,
    /// Number of taps; `None` for MNE's `"auto"`. Must be odd.
    pub filter_length: Option<usize>,
}

impl FirSpec {
    /// A band-pass (or, with `l_freq > h_freq`, band-stop) with automatic transitions and length.
    pub fn bandpass(l_freq: f64, h_freq: f64) -> Self {
        FirSpec {
            l_freq: Some(l_freq),
            h_freq: Some(h_freq),
            l_trans_bandwidth: None,
            h_trans_bandwidth: None,
            filter_length: None,
        }
    }

    /// A high-pass at `l_freq` with automatic transition and length.
    pub fn highpass(l_freq: f64) -> Self {
        FirSpec {
            l_freq: Some(l_freq),
            h_freq: None,
            ..FirSpec::bandpass(0.0, 0.0)
        }
    }

    /// A low-pass at `h_freq` with automatic transition and length.
    pub fn lowpass(h_freq: f64) -> Self {
        FirSpec {
            l_freq: None,
            h_freq: Some(h_freq),
            ..FirSpec::bandpass(0.0, 0.0)
        }
    }
}

/// A designed linear-phase FIR filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FirFilter {
    /// The taps (odd length, symmetric).
    pub taps: Vec<f64>,
    /// The sampling rate it was designed for, in Hz.
    pub sfreq: f64,
}

fn check_positive_finite(param: &str, value: f64) -> Result<()> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::param(param, value, "must be a positive finite number"));
    }
    Ok(())
}

/// `ceil(factor / narrowest transition · sfreq)` made odd, as MNE's `"auto"` length.
fn auto_length(min_transition_hz: f64, sfreq: f64) -> usize {
    let seconds = HAMMING_LENGTH_FACTOR / min_transition_hz;
    let n = ((seconds * sfreq).ceil() as usize).max(1);
    n + (n - 1) % 2
}

/// Longest filter designed automatically: beyond it the transition band asked
/// for is so narrow that the taps alone would take gigabytes.
const MAX_AUTO_LENGTH: usize = 50_000_000;

fn resolve_length(spec_length: Option<usize>, min_transition_hz: f64, sfreq: f64) -> Result<usize> {
    match spec_length {
        None => {
            let n = auto_length(min_transition_hz, sfreq);
            if n > MAX_AUTO_LENGTH {
                return Err(Error::param(
                    "transition bandwidth",
                    format!("{min_transition_hz} Hz"),
                    format!("needs a {n}-tap filter (at most {MAX_AUTO_LENGTH}); widen the transition band"),
                ));
            }
            Ok(n)
        }
        Some(0) => Err(Error::param("filter_length", 0, "must be positive")),
        Some(n) if n % 2 == 0 => Err(Error::param(
            "filter_length",
            n,
            "must be odd for a zero-phase filter",
        )),
        Some(n) => Ok(n),
    }
}

/// Designs the FIR filter MNE's `create_filter(None, sfreq, l_freq, h_freq)` would
/// (method `"fir"`, zero phase, Hamming window, firwin design).
pub fn design_fir(sfreq: f64, spec: &FirSpec) -> Result<FirFilter> {
    check_positive_finite("sfreq", sfreq)?;
    let nyq = sfreq / 2.0;
    if let Some(l) = spec.l_freq {
        check_positive_finite("l_freq", l)?;
    }
    if let Some(h) = spec.h_freq {
        check_positive_finite("h_freq", h)?;
        if h >= nyq {
            return Err(Error::param(
                "h_freq",
                h,
                format!("must be below the Nyquist frequency ({nyq} Hz at sfreq {sfreq} Hz)"),
            ));
        }
    }
    if let Some(l) = spec.l_freq
        && spec.h_freq.is_none()
        && l >= nyq
    {
        return Err(Error::param(
            "l_freq",
            l,
            format!("must be below the Nyquist frequency ({nyq} Hz at sfreq {sfreq} Hz)"),
        ));
    }
    for (name, v) in [
        ("l_trans_bandwidth", spec.l_trans_bandwidth),
        ("h_trans_bandwidth", spec.h_trans_bandwidth),
    ] {
        if let Some(v) = v {
            check_positive_finite(name, v)?;
        }
    }
    let (freq, gain, length) = match (spec.l_freq, spec.h_freq) {
        (None, None) => {
            return Err(Error::param(
                "l_freq/h_freq",
                "None/None",
                "at least one band edge is needed",
            ));
        }
        (None, Some(h)) => {
            let tb = spec
                .h_trans_bandwidth
                .unwrap_or_else(|| (0.25 * h).max(2.0).min(nyq - h));
            let stop = h + tb;
            check_stop_high("h_trans_bandwidth", tb, stop, nyq)?;
            let mut freq = vec![0.0, h, stop];
            let mut gain = vec![1.0, 1.0, 0.0];
            if stop != nyq {
                freq.push(nyq);
                gain.push(0.0);
            }
            (freq, gain, resolve_length(spec.filter_length, tb, sfreq)?)
        }
        (Some(l), None) => {
            let tb = spec
                .l_trans_bandwidth
                .unwrap_or_else(|| (0.25 * l).max(2.0).min(l));
            let stop = l - tb;
            check_stop_low("l_trans_bandwidth", tb, stop)?;
            let mut freq = vec![stop, l, nyq];
            let mut gain = vec![0.0, 1.0, 1.0];
            if stop != 0.0 {
                freq.insert(0, 0.0);
                gain.insert(0, 0.0);
            }
            (freq, gain, resolve_length(spec.filter_length, tb, sfreq)?)
        }
        (Some(l), Some(h)) if l < h => {
            let ltb = spec
                .l_trans_bandwidth
                .unwrap_or_else(|| (0.25 * l).max(2.0).min(l));
            let htb = spec
                .h_trans_bandwidth
                .unwrap_or_else(|| (0.25 * h).max(2.0).min(nyq - h));
            let (s1, s2) = (l - ltb, h + htb);
            check_stop_low("l_trans_bandwidth", ltb, s1)?;
            check_stop_high("h_trans_bandwidth", htb, s2, nyq)?;
            let mut freq = vec![s1, l, h, s2];
            let mut gain = vec![0.0, 1.0, 1.0, 0.0];
            if s2 != nyq {
                freq.push(nyq);
                gain.push(0.0);
            }
            if s1 != 0.0 {
                freq.insert(0, 0.0);
                gain.insert(0, 0.0);
            }
            (
                freq,
                gain,
                resolve_length(spec.filter_length, ltb.min(htb), sfreq)?,
            )
        }
        (Some(l), Some(h)) if l > h => {
            // Band-stop: pass below `h`, stop between `h + tb` and `l − tb`, pass above `l`.
            // MNE swaps the roles here: the transition next to the lower edge `h_freq`
            // is `h_trans_bandwidth`, the one next to the upper edge `l_freq` is `l_trans_bandwidth`.
            let ltb = spec
                .h_trans_bandwidth
                .unwrap_or_else(|| (0.25 * h).max(2.0).min(h));
            let htb = spec
                .l_trans_bandwidth
                .unwrap_or_else(|| (0.25 * l).max(2.0).min(nyq - l));
            let bands = [StopBand {
                pass_low: h,
                stop_low: h + ltb,
                stop_high: l - htb,
                pass_high: l,
            }];
            let (freq, gain) = stop_band_response(&bands, nyq)?;
            (
                freq,
                gain,
                resolve_length(spec.filter_length, ltb.min(htb), sfreq)?,
            )
        }
        (Some(l), Some(_)) => {
            return Err(Error::param(
                "l_freq",
                l,
                "equals h_freq: neither a band-pass nor a band-stop",
            ));
        }
    };
    let taps = firwin_from_response(length, &freq, &gain, sfreq)?;
    Ok(FirFilter { taps, sfreq })
}

fn check_stop_low(param: &str, tb: f64, stop: f64) -> Result<()> {
    if stop < 0.0 {
        return Err(Error::param(
            param,
            tb,
            format!("puts the lower stop frequency below 0 Hz ({stop} Hz)"),
        ));
    }
    Ok(())
}

fn check_stop_high(param: &str, tb: f64, stop: f64, nyq: f64) -> Result<()> {
    if stop > nyq {
        return Err(Error::param(
            param,
            tb,
            format!("puts the upper stop frequency ({stop} Hz) above Nyquist ({nyq} Hz)"),
        ));
    }
    Ok(())
}

/// One stop band of a (multi-)band-stop filter, in Hz.
struct StopBand {
    pass_low: f64,
    stop_low: f64,
    stop_high: f64,
    pass_high: f64,
}

fn stop_band_response(bands: &[StopBand], nyq: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(bands.len() * 4 + 2);
    for b in bands {
        if b.stop_low > b.stop_high {
            return Err(Error::param(
                "notch_widths",
                b.stop_high - b.stop_low,
                "transition bands overlap: the stop band would have negative width",
            ));
        }
        if b.pass_low < 0.0 || b.pass_high > nyq {
            return Err(Error::param(
                "freqs",
                format!("{}..{}", b.pass_low, b.pass_high),
                format!("stop band with its transitions must lie within 0..{nyq} Hz"),
            ));
        }
        points.extend([
            (b.pass_low, 1.0),
            (b.stop_low, 0.0),
            (b.stop_high, 0.0),
            (b.pass_high, 1.0),
        ]);
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points[0].0 != 0.0 {
        points.insert(0, (0.0, 1.0));
    }
    if points[points.len() - 1].0 != nyq {
        points.push((nyq, 1.0));
    }
    let gain: Vec<f64> = points.iter().map(|p| p.1).collect();
    if gain.windows(3).any(|w| (w[2] - 2.0 * w[1] + w[0]).abs() > 1.0) {
        return Err(Error::param(
            "freqs",
            format!(
                "{:?}",
                bands
                    .iter()
                    .map(|b| (b.pass_low + b.pass_high) / 2.0)
                    .collect::<Vec<_>>()
            ),
            "stop bands are not sufficiently separated",
        ));
    }
    Ok((points.iter().map(|p| p.0).collect(), gain))
}

/// MNE's `_firwin_design`: the ideal piecewise-constant response `freq`/`gain`
/// (Hz, starting at 0 and ending at Nyquist, gains 0 or 1) built from one
/// windowed-sinc low-pass per gain step, each as long as its transition needs.
fn firwin_from_response(n: usize, freq_hz: &[f64], gain: &[f64], sfreq: f64) -> Result<Vec<f64>> {
    let nyq = sfreq / 2.0;
    let freq: Vec<f64> = freq_hz.iter().map(|f| f / nyq).collect();
    let mut h = vec![0.0; n];
    let last = freq.len() - 1;
    let (mut prev_freq, mut prev_gain) = (freq[last], gain[last]);
    if prev_gain == 1.0 {
        h[n / 2] = 1.0;
    }
    for i in (0..last).rev() {
        let (this_freq, this_gain) = (freq[i], gain[i]);
        if this_gain != prev_gain {
            let transition = (prev_freq - this_freq) / 2.0;
            let mut this_n = (HAMMING_LENGTH_FACTOR / transition).round_ties_even() as usize;
            this_n += 1 - this_n % 2;
            if this_n > n {
                return Err(Error::param(
                    "filter_length",
                    n,
                    format!(
                        "too short for the {:.2} Hz transition band, which requires {this_n} samples",
                        transition * sfreq
                    ),
                ));
            }
            let lowpass = firwin_lowpass(this_n, (prev_freq + this_freq) / 2.0, &hamming(this_n));
            let offset = (n - this_n) / 2;
            let sign = if this_gain == 0.0 { -1.0 } else { 1.0 };
            for (dst, src) in h[offset..n - offset].iter_mut().zip(&lowpass) {
                *dst += sign * src;
            }
        }
        prev_gain = this_gain;
        prev_freq = this_freq;
    }
    Ok(h)
}

/// Designs MNE's FIR notch (`notch_filter(method="fir")`): a multi-band-stop
/// removing `freqs` (Hz), each `notch_width` wide (default `freq / 200`), with
/// `trans_bandwidth` (default 1 Hz) split over both sides.
pub fn design_notch(
    sfreq: f64,
    freqs: &[f64],
    notch_widths: Option<f64>,
    trans_bandwidth: f64,
    filter_length: Option<usize>,
) -> Result<FirFilter> {
    check_positive_finite("sfreq", sfreq)?;
    check_positive_finite("trans_bandwidth", trans_bandwidth)?;
    if freqs.is_empty() {
        return Err(Error::param(
            "freqs",
            "[]",
            "give at least one frequency to remove",
        ));
    }
    let nyq = sfreq / 2.0;
    let tb_2 = trans_bandwidth / 2.0;
    let mut bands = Vec::with_capacity(freqs.len());
    for &f in freqs {
        check_positive_finite("freqs", f)?;
        if f >= nyq {
            return Err(Error::param(
                "freqs",
                f,
                format!("must be below the Nyquist frequency ({nyq} Hz)"),
            ));
        }
        let nw = match notch_widths {
            Some(w) if !w.is_finite() || w < 0.0 => {
                return Err(Error::param("notch_widths", w, "must be a finite number >= 0"));
            }
            Some(w) => w,
            None => f / 200.0,
        };
        let low = f - nw / 2.0 - tb_2;
        let high = f + nw / 2.0 + tb_2;
        bands.push(StopBand {
            pass_low: low,
            stop_low: low + tb_2,
            stop_high: high - tb_2,
            pass_high: high,
        });
    }
    let (freq, gain) = stop_band_response(&bands, nyq)?;
    let length = resolve_length(filter_length, tb_2, sfreq)?;
    let taps = firwin_from_response(length, &freq, &gain, sfreq)?;
    Ok(FirFilter { taps, sfreq })
}

impl FirFilter {
    /// Filters each row of `data` in place, zero-phase, with MNE's
    /// `reflect_limited` edge padding. Rows must be finite.
    pub fn apply(&self, data: ArrayViewMut2<'_, f64>) -> Result<()> {
        let rows: Vec<usize> = (0..data.nrows()).collect();
        self.apply_rows(data, &rows, |c| format!("#{c}"))
    }

    /// Filters the rows `rows` of `data` in place (others are left alone);
    /// `row_name` names a row in errors.
    pub fn apply_rows(
        &self,
        mut data: ArrayViewMut2<'_, f64>,
        rows: &[usize],
        row_name: impl Fn(usize) -> String,
    ) -> Result<()> {
        crate::error::check_rows_finite(data.view(), rows, &row_name, "FIR filtering")?;
        let n_times = data.ncols();
        if n_times == 0 || self.taps.len() == 1 {
            let g = self.taps.first().copied().unwrap_or(1.0);
            for &r in rows {
                data.row_mut(r).mapv_inplace(|v| v * g);
            }
            return Ok(());
        }
        let n_edge = self.taps.len().min(n_times) - 1;
        let n_ext = n_times + 2 * n_edge;
        let conv = OverlapAdd::new(&self.taps, n_ext);
        let mut work = conv.workspace();
        let mut padded = vec![0.0; n_ext];
        let mut staged = Vec::new();
        let shift = (self.taps.len() - 1) / 2 + n_edge;
        for &r in rows {
            let mut row = data.row_mut(r);
            reflect_limited_pad(row.view(), n_edge, n_edge, &mut padded);
            // The delay-compensated output window is written straight into the row.
            match row.as_slice_mut() {
                Some(out) => conv.convolve_window(&padded, shift, out, &mut work),
                None => {
                    staged.resize(n_times, 0.0);
                    conv.convolve_window(&padded, shift, &mut staged, &mut work);
                    row.iter_mut().zip(&staged).for_each(|(v, s)| *v = *s);
                }
            }
        }
        Ok(())
    }
}

/// Odd reflection about each end sample, `left` samples before and `right`
/// after, with zeros where the signal is too short to reflect that far
/// (MNE's `_smart_pad(..., "reflect_limited")`).
pub(crate) fn reflect_limited_pad(
    x: ndarray::ArrayView1<'_, f64>,
    left: usize,
    right: usize,
    out: &mut [f64],
) {
    let n = x.len();
    debug_assert_eq!(out.len(), n + left + right);
    let owned;
    let x: &[f64] = match x.as_slice() {
        Some(s) => s,
        None => {
            owned = x.to_vec();
            &owned
        }
    };
    let (first, last) = (x[0], x[n - 1]);
    let avail_l = left.min(n - 1);
    let zeros_l = left - avail_l;
    out[..zeros_l].fill(0.0);
    // out[zeros_l + j] = 2·x[0] − x[avail_l − j]
    for (o, v) in out[zeros_l..left].iter_mut().zip(x[1..=avail_l].iter().rev()) {
        *o = 2.0 * first - v;
    }
    out[left..left + n].copy_from_slice(x);
    let avail_r = right.min(n - 1);
    let r0 = left + n;
    // out[r0 + j] = 2·x[n−1] − x[n − 2 − j]
    for (o, v) in out[r0..r0 + avail_r]
        .iter_mut()
        .zip(x[n - 1 - avail_r..n - 1].iter().rev())
    {
        *o = 2.0 * last - v;
    }
    out[r0 + avail_r..].fill(0.0);
}
