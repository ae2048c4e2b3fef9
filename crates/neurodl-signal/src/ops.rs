//! Operations on a whole [`Recording`]: they keep the channel list, sampling
//! rate, sample count and annotations consistent with the samples.
//!
//! Which channels an operation touches follows MNE: filters and resampling
//! act on data channels (EEG, sEEG, ECoG) unless told otherwise; references
//! are computed from and applied to EEG channels; stimulus channels are
//! resampled by keeping their codes rather than interpolating them.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis, s};
use neurodl_io::{Annotation, ChannelInfo, ChannelType, Recording};

use crate::error::{Error, Result, check_finite, check_rows_finite};
use crate::fir::{FirFilter, FirSpec, design_fir, design_notch};
use crate::iir::{Band, butter_sos};
use crate::resample::{resample_fft, resample_fft_owned_finite, resample_poly, resampled_len};

/// Channel types MNE treats as "data" by default when filtering (`picks=None`).
pub const DATA_TYPES: [ChannelType; 3] = [ChannelType::Eeg, ChannelType::Seeg, ChannelType::Ecog];

fn data_rows(rec: &Recording) -> Vec<usize> {
    rec.info.picks_by_type(&DATA_TYPES)
}

/// Applies a designed FIR filter to the data channels, zero-phase.
pub fn apply_fir(rec: &mut Recording, filter: &FirFilter) -> Result<()> {
    if (filter.sfreq - rec.info.sfreq).abs() > 1e-9 * rec.info.sfreq {
        return Err(Error::param(
            "sfreq",
            filter.sfreq,
            format!(
                "filter was designed for another rate than the recording's {} Hz",
                rec.info.sfreq
            ),
        ));
    }
    let rows = data_rows(rec);
    let names: Vec<String> = rec.info.channels.iter().map(|c| c.name.clone()).collect();
    filter.apply_rows(rec.data.view_mut(), &rows, |i| names[i].clone())
}

/// Band-pass (or high-/low-pass with one edge `None`) with MNE's default FIR.
pub fn filter_fir(rec: &mut Recording, l_freq: Option<f64>, h_freq: Option<f64>) -> Result<()> {
    let spec = FirSpec {
        l_freq,
        h_freq,
        l_trans_bandwidth: None,
        h_trans_bandwidth: None,
        filter_length: None,
    };
    let filter = design_fir(rec.info.sfreq, &spec)?;
    apply_fir(rec, &filter)
}

/// MNE-default FIR notch at `freq` and its harmonics below Nyquist.
pub fn notch(rec: &mut Recording, freq: f64) -> Result<()> {
    let nyq = rec.info.sfreq / 2.0;
    if !freq.is_finite() || freq <= 0.0 || freq >= nyq {
        return Err(Error::param(
            "notch",
            freq,
            format!("must lie strictly between 0 and the Nyquist frequency ({nyq} Hz)"),
        ));
    }
    // Harmonics whose stop band (and 0.5 Hz transition) still fits below Nyquist.
    let freqs: Vec<f64> = (1..)
        .map(|k| k as f64 * freq)
        .take_while(|f| f + f / 400.0 + 0.5 < nyq)
        .collect();
    if freqs.is_empty() {
        return Err(Error::param(
            "notch",
            freq,
            format!("its stop band does not fit below Nyquist ({nyq} Hz)"),
        ));
    }
    let filter = design_notch(rec.info.sfreq, &freqs, None, 1.0, None)?;
    apply_fir(rec, &filter)
}

/// Butterworth filter of the data channels, forward-backward (`zero_phase`,
/// SciPy `sosfiltfilt`) or causal (`sosfilt`).
pub fn filter_iir(rec: &mut Recording, order: usize, band: Band, zero_phase: bool) -> Result<()> {
    let sos = butter_sos(order, band, rec.info.sfreq)?;
    let rows = data_rows(rec);
    let names: Vec<String> = rec.info.channels.iter().map(|c| c.name.clone()).collect();
    if zero_phase {
        sos.sosfiltfilt_rows(rec.data.view_mut(), &rows, |i| names[i].clone())
    } else {
        sos.sosfilt_rows(rec.data.view_mut(), &rows, |i| names[i].clone())
    }
}

/// How to resample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResampleMethod {
    /// MNE's default FFT method (`Raw.resample(sfreq)`).
    #[default]
    Fft,
    /// SciPy's `resample_poly`; needs a rational ratio of whole rates.
    Polyphase,
}

/// Resamples to `new_sfreq` Hz. Annotations keep their onsets in seconds (as
/// in MNE), so they stay attached to the same moments; stimulus channels keep
/// their codes (first non-zero value of each new sample's span, as MNE).
pub fn resample(rec: &mut Recording, new_sfreq: f64, method: ResampleMethod) -> Result<()> {
    if !new_sfreq.is_finite() || new_sfreq <= 0.0 {
        return Err(Error::param(
            "sfreq",
            new_sfreq,
            "the target rate must be a positive finite number",
        ));
    }
    let old = rec.info.sfreq;
    let ratio = new_sfreq / old;
    let stim: Vec<usize> = rec.info.picks_by_type(&[ChannelType::Stim]);
    let other: Vec<usize> = (0..rec.info.channels.len())
        .filter(|i| !stim.contains(i))
        .collect();
    let names: Vec<String> = rec.info.channels.iter().map(|c| c.name.clone()).collect();
    if stim.is_empty() && method == ResampleMethod::Fft {
        // The usual case: every row is resampled alike, in the recording's own buffer.
        check_rows_finite(rec.data.view(), &other, |r| names[r].clone(), "resampling")?;
        rec.data = resample_fft_owned_finite(std::mem::take(&mut rec.data), ratio)?;
        set_rate(rec, new_sfreq);
        return Ok(());
    }
    check_rows_finite(rec.data.view(), &other, |r| names[r].clone(), "resampling")?;
    let picked = rec.data.select(Axis(0), &other);
    let resampled = match method {
        ResampleMethod::Fft => resample_fft(picked.view(), ratio)?,
        ResampleMethod::Polyphase => {
            let (up, down) = rational_ratio(new_sfreq, old)?;
            resample_poly(picked.view(), up, down)?
        }
    };
    drop(picked);
    let n_new = resampled.ncols();
    let mut out = Array2::zeros((rec.info.channels.len(), n_new));
    for (k, &i) in other.iter().enumerate() {
        out.row_mut(i).assign(&resampled.row(k));
    }
    for &i in &stim {
        let codes = resample_stim(rec.data.row(i).to_vec(), ratio, n_new);
        out.row_mut(i).assign(&ndarray::Array1::from(codes));
    }
    rec.data = out;
    set_rate(rec, new_sfreq);
    Ok(())
}

fn set_rate(rec: &mut Recording, sfreq: f64) {
    rec.info.n_samples = rec.data.ncols();
    rec.info.sfreq = sfreq;
    for c in &mut rec.info.channels {
        c.sfreq = sfreq;
    }
}

/// `up/down` in lowest terms for two rates that are whole numbers of milli-hertz.
fn rational_ratio(new_sfreq: f64, old_sfreq: f64) -> Result<(usize, usize)> {
    let to_mhz = |f: f64, name: &str| -> Result<usize> {
        let m = (f * 1000.0).round();
        if (m - f * 1000.0).abs() > 1e-6 || m <= 0.0 || m > 1e12 {
            return Err(Error::param(
                name,
                f,
                "polyphase resampling needs rates that are whole multiples of 0.001 Hz; use method = \"fft\"",
            ));
        }
        Ok(m as usize)
    };
    let (a, b) = (to_mhz(new_sfreq, "sfreq")?, to_mhz(old_sfreq, "recording sfreq")?);
    let g = gcd(a, b);
    Ok((a / g, b / g))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// MNE's `_resample_stim_channels`: each new sample takes the first non-zero
/// code in its span of old samples (else the span's first value), so short
/// triggers survive down-sampling.
fn resample_stim(x: Vec<f64>, ratio: f64, n_new: usize) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return vec![0.0; n_new];
    }
    let picks: Vec<usize> = (0..n_new)
        .map(|i| ((i as f64 / ratio) as usize).min(n - 1))
        .collect();
    (0..n_new)
        .map(|i| {
            let (a, b) = (picks[i], if i + 1 < n_new { picks[i + 1] } else { n });
            x[a..b.max(a + 1).min(n)]
                .iter()
                .copied()
                .find(|v| *v != 0.0)
                .unwrap_or(x[a])
        })
        .collect()
}

/// Number of samples `resample` will produce for `n` samples at `old` → `new` Hz with the FFT method.
pub fn resampled_n_samples(n: usize, old_sfreq: f64, new_sfreq: f64) -> usize {
    resampled_len(n, new_sfreq / old_sfreq)
}

fn resolve_names(rec: &Recording, names: &[String], param: &str) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            rec.info.channel_index(n).ok_or_else(|| {
                Error::param(
                    param,
                    n,
                    format!(
                        "no such channel (channels: {})",
                        rec.info.channel_names().join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn eeg_rows(rec: &Recording, param: &str) -> Result<Vec<usize>> {
    let rows = rec.info.picks_by_type(&[ChannelType::Eeg]);
    if rows.is_empty() {
        return Err(Error::param(
            param,
            "eeg",
            "the recording has no EEG channels to re-reference",
        ));
    }
    Ok(rows)
}

/// Average reference: subtracts, at each sample, the mean of all EEG channels from every EEG channel.
pub fn set_average_reference(rec: &mut Recording) -> Result<()> {
    let rows = eeg_rows(rec, "reference")?;
    let mean = rec
        .data
        .select(Axis(0), &rows)
        .mean_axis(Axis(0))
        .expect("at least one EEG row");
    for &r in &rows {
        let mut row = rec.data.row_mut(r);
        row -= &mean;
    }
    Ok(())
}

/// Re-references EEG channels to the mean of the named channels (one name for
/// a single reference electrode, several for e.g. linked mastoids). The
/// reference channels stay in the recording (a single one becomes zero), as in MNE.
pub fn set_reference(rec: &mut Recording, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Err(Error::param(
            "reference",
            "[]",
            "name at least one channel, or use \"average\"",
        ));
    }
    let refs = resolve_names(rec, names, "reference")?;
    let rows = eeg_rows(rec, "reference")?;
    let mean = rec
        .data
        .select(Axis(0), &refs)
        .mean_axis(Axis(0))
        .expect("at least one reference row");
    for &r in &rows {
        let mut row = rec.data.row_mut(r);
        row -= &mean;
    }
    Ok(())
}

/// One bipolar derivation: `anode − cathode`, called `name`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bipolar {
    /// Channel the cathode is subtracted from.
    pub anode: String,
    /// Channel subtracted.
    pub cathode: String,
    /// Name of the new channel; `"anode-cathode"` when `None`.
    #[serde(default)]
    pub name: Option<String>,
}

/// Bipolar derivations, appended as new EEG channels; the channels used are then
/// dropped (MNE's `set_bipolar_reference(..., drop_refs=True)`).
pub fn set_bipolar_reference(rec: &mut Recording, pairs: &[Bipolar]) -> Result<()> {
    if pairs.is_empty() {
        return Err(Error::param(
            "bipolar",
            "[]",
            "give at least one anode/cathode pair",
        ));
    }
    let mut new_rows = Vec::new();
    let mut new_channels = Vec::new();
    let mut used = Vec::new();
    for p in pairs {
        let a = resolve_names(rec, std::slice::from_ref(&p.anode), "anode")?[0];
        let c = resolve_names(rec, std::slice::from_ref(&p.cathode), "cathode")?[0];
        if a == c {
            return Err(Error::param(
                "cathode",
                &p.cathode,
                "equals the anode: the derivation would be zero",
            ));
        }
        let name = p
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", p.anode, p.cathode));
        // A name may reuse one of the channels the derivations consume (they are dropped).
        let collides = rec
            .info
            .channel_index(&name)
            .is_some_and(|i| i != a && i != c && !used.contains(&i))
            || new_channels.iter().any(|n: &ChannelInfo| n.name == name);
        if collides {
            return Err(Error::param(
                "name",
                &name,
                "a channel of that name already exists",
            ));
        }
        new_rows.push(&rec.data.row(a) - &rec.data.row(c));
        let mut info = rec.info.channels[a].clone();
        info.name = name;
        info.position = None;
        new_channels.push(info);
        used.extend([a, c]);
    }
    let keep: Vec<usize> = (0..rec.info.channels.len())
        .filter(|i| !used.contains(i))
        .collect();
    let mut data = Array2::zeros((keep.len() + new_rows.len(), rec.info.n_samples));
    for (k, &i) in keep.iter().enumerate() {
        data.row_mut(k).assign(&rec.data.row(i));
    }
    for (k, row) in new_rows.iter().enumerate() {
        data.row_mut(keep.len() + k).assign(row);
    }
    let mut channels: Vec<ChannelInfo> = keep.iter().map(|&i| rec.info.channels[i].clone()).collect();
    channels.extend(new_channels);
    rec.info.channels = channels;
    rec.data = data;
    Ok(())
}

fn keep_rows(rec: &mut Recording, keep: &[usize]) {
    rec.data = rec.data.select(Axis(0), keep);
    rec.info.channels = keep.iter().map(|&i| rec.info.channels[i].clone()).collect();
}

/// Keeps only the named channels, in the order given.
pub fn pick_channels(rec: &mut Recording, names: &[String]) -> Result<()> {
    let rows = resolve_names(rec, names, "pick")?;
    keep_rows(rec, &rows);
    Ok(())
}

/// Keeps only channels of the given types (in recording order).
pub fn pick_types(rec: &mut Recording, kinds: &[ChannelType]) -> Result<()> {
    let rows = rec.info.picks_by_type(kinds);
    if rows.is_empty() {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        return Err(Error::param(
            "pick_types",
            kinds.join(","),
            "no channel of these types in the recording",
        ));
    }
    keep_rows(rec, &rows);
    Ok(())
}

/// Removes the named channels.
pub fn drop_channels(rec: &mut Recording, names: &[String]) -> Result<()> {
    let drop = resolve_names(rec, names, "drop")?;
    let keep: Vec<usize> = (0..rec.info.channels.len())
        .filter(|i| !drop.contains(i))
        .collect();
    keep_rows(rec, &keep);
    Ok(())
}

/// Renames channels (`old → new`); new names must not collide.
pub fn rename_channels(rec: &mut Recording, mapping: &BTreeMap<String, String>) -> Result<()> {
    let olds: Vec<String> = mapping.keys().cloned().collect();
    let rows = resolve_names(rec, &olds, "rename")?;
    for (row, old) in rows.into_iter().zip(&olds) {
        rec.info.channels[row].name = mapping[old].clone();
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &rec.info.channels {
        if !seen.insert(c.name.as_str()) {
            return Err(Error::param(
                "rename",
                &c.name,
                "two channels would share this name",
            ));
        }
    }
    Ok(())
}

/// Keeps the time span `tmin..=tmax` seconds (MNE `Raw.crop`, `tmax` included;
/// `None` for the end). Annotations are shifted to the new start, clipped to
/// the kept span, and dropped when entirely outside it.
pub fn crop(rec: &mut Recording, tmin: f64, tmax: Option<f64>) -> Result<()> {
    let sfreq = rec.info.sfreq;
    let last_t = (rec.info.n_samples.max(1) - 1) as f64 / sfreq;
    if !tmin.is_finite() || tmin < 0.0 || tmin > last_t {
        return Err(Error::param(
            "tmin",
            tmin,
            format!("must lie within 0..={last_t} s (the recording's last sample)"),
        ));
    }
    let tmax_v = tmax.unwrap_or(last_t);
    if !tmax_v.is_finite() || tmax_v < tmin || tmax_v > last_t + 0.5 / sfreq {
        return Err(Error::param(
            "tmax",
            tmax_v,
            format!("must lie within tmin ({tmin} s)..={last_t} s"),
        ));
    }
    let start = (tmin * sfreq).round_ties_even() as usize;
    let stop = ((tmax_v * sfreq).round_ties_even() as usize + 1).min(rec.info.n_samples);
    rec.data = rec.data.slice(s![.., start..stop]).to_owned();
    rec.info.n_samples = stop - start;
    let (t0, t1) = (start as f64 / sfreq, stop as f64 / sfreq);
    let mut kept = Vec::new();
    for a in &rec.info.annotations {
        let end = a.onset + a.duration;
        let inside = if a.duration == 0.0 {
            a.onset >= t0 && a.onset < t1
        } else {
            end > t0 && a.onset < t1
        };
        if inside {
            let onset = a.onset.max(t0);
            kept.push(Annotation {
                onset: onset - t0,
                duration: end.min(t1) - onset,
                description: a.description.clone(),
            });
        }
    }
    rec.info.annotations = kept;
    if let Some(d) = rec.info.meas_date {
        rec.info.meas_date = Some(d + chrono_seconds(t0));
    }
    Ok(())
}

fn chrono_seconds(t: f64) -> chrono::TimeDelta {
    chrono::TimeDelta::microseconds((t * 1e6).round() as i64)
}

/// Multiplies the samples of the channels of the given types by `factor`
/// (e.g. 1e6 for volts → microvolts, as braindecode's examples do before standardising).
/// The channel unit is updated when it is volts and the factor is a metric prefix.
pub fn scale(rec: &mut Recording, factor: f64, kinds: &[ChannelType]) -> Result<()> {
    if !factor.is_finite() || factor == 0.0 {
        return Err(Error::param("factor", factor, "must be finite and non-zero"));
    }
    for r in rec.info.picks_by_type(kinds) {
        rec.data.row_mut(r).mapv_inplace(|v| v * factor);
        let c = &mut rec.info.channels[r];
        if c.unit == "V" {
            let unit = [(1e3, "mV"), (1e6, "uV"), (1e9, "nV")]
                .iter()
                .find(|(f, _)| *f == factor)
                .map(|(_, u)| *u);
            if let Some(u) = unit {
                c.unit = u.to_string();
            }
        }
    }
    Ok(())
}

/// Per-channel z-scoring of the data channels over the whole recording:
/// `(x − mean) / std` with the population standard deviation. Constant
/// channels are only centred (their standard deviation is 0).
pub fn zscore(rec: &mut Recording) -> Result<()> {
    let rows = data_rows(rec);
    check_finite(
        rec.data.select(Axis(0), &rows).view(),
        |i| rec.info.channels[rows[i]].name.clone(),
        "z-scoring",
    )?;
    for r in rows {
        let mut row = rec.data.row_mut(r);
        let n = row.len().max(1) as f64;
        let mean = row.sum() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = var.sqrt();
        let div = if std > 0.0 { std } else { 1.0 };
        row.mapv_inplace(|v| (v - mean) / div);
    }
    Ok(())
}

/// braindecode's `exponential_moving_standardize` on the data channels (see
/// [`crate::standardize::exponential_moving_standardize`]).
pub fn exponential_moving_standardize(
    rec: &mut Recording,
    factor_new: f64,
    init_block_size: Option<usize>,
    eps: f64,
) -> Result<()> {
    for_data_rows(rec, "exponential moving standardisation", |rows| {
        crate::standardize::exponential_moving_standardize_in_place(rows, factor_new, init_block_size, eps)
    })
}

/// braindecode's `exponential_moving_demean` on the data channels.
pub fn exponential_moving_demean(
    rec: &mut Recording,
    factor_new: f64,
    init_block_size: Option<usize>,
) -> Result<()> {
    for_data_rows(rec, "exponential moving demeaning", |rows| {
        crate::standardize::exponential_moving_demean_in_place(rows, factor_new, init_block_size)
    })
}

/// Runs `f` on each maximal run of consecutive data-channel rows, in place
/// (usually one run: all channels), after checking those rows are finite.
fn for_data_rows(
    rec: &mut Recording,
    operation: &str,
    mut f: impl FnMut(ndarray::ArrayViewMut2<'_, f64>) -> Result<()>,
) -> Result<()> {
    let rows = data_rows(rec);
    check_rows_finite(
        rec.data.view(),
        &rows,
        |r| rec.info.channels[r].name.clone(),
        operation,
    )?;
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len() && rows[j] == rows[j - 1] + 1 {
            j += 1;
        }
        f(rec.data.slice_mut(s![rows[i]..rows[j - 1] + 1, ..]))?;
        i = j;
    }
    Ok(())
}
