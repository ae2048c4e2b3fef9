//! Events from annotations, epochs around them (MNE semantics), and
//! deep-learning windows (braindecode semantics) as cheap views.

use std::collections::BTreeMap;

use ndarray::{Array3, s};
use neurodl_io::{ChannelType, Recording, RecordingInfo};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which annotation descriptions become events, and the label each gets
/// (e.g. `T1 → left`, `T2 → right`). Classes are numbered from 0 in order of
/// first appearance of each label in the mapping.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventMapping {
    /// `(description, label)` pairs.
    pub entries: Vec<(String, String)>,
}

impl EventMapping {
    /// From `(description, label)` pairs.
    pub fn new<D: Into<String>, L: Into<String>>(pairs: impl IntoIterator<Item = (D, L)>) -> Self {
        EventMapping {
            entries: pairs.into_iter().map(|(d, l)| (d.into(), l.into())).collect(),
        }
    }

    /// The labels, in class order.
    pub fn labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (_, l) in &self.entries {
            if !out.contains(&l.as_str()) {
                out.push(l);
            }
        }
        out
    }

    fn class_of(&self, description: &str) -> Option<(usize, &str)> {
        let (_, label) = self.entries.iter().find(|(d, _)| d == description)?;
        let class = self
            .labels()
            .iter()
            .position(|l| l == label)
            .expect("label comes from the mapping");
        Some((class, label))
    }
}

/// One event: an annotation that the mapping selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sample index of the onset (`round(onset · sfreq)`, ties to even, as MNE).
    pub sample: usize,
    /// Duration in samples, truncated (`int(duration · sfreq)`, as braindecode).
    pub duration_samples: usize,
    /// Class index (see [`EventMapping`]).
    pub class: usize,
    /// The label the mapping gave.
    pub label: String,
    /// The annotation's description.
    pub description: String,
}

/// Events from a recording's annotations, in onset order (MNE `events_from_annotations`
/// with an explicit mapping). Every description the mapping names must occur at
/// least once: a typo would otherwise silently drop a class.
pub fn events_from_annotations(info: &RecordingInfo, mapping: &EventMapping) -> Result<Vec<Event>> {
    if mapping.entries.is_empty() {
        return Err(Error::param(
            "mapping",
            "{}",
            "name at least one annotation description",
        ));
    }
    let present = info.annotation_counts();
    for (d, _) in &mapping.entries {
        if !present.contains_key(d.as_str()) {
            let names: Vec<&str> = present.keys().copied().collect();
            return Err(Error::param(
                "mapping",
                d,
                format!(
                    "no annotation has this description (descriptions present: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
    }
    let mut events = Vec::new();
    for a in &info.annotations {
        let Some((class, label)) = mapping.class_of(&a.description) else {
            continue;
        };
        let sample = (a.onset * info.sfreq).round_ties_even();
        if !sample.is_finite() || sample < 0.0 || sample as usize >= info.n_samples {
            // MNE drops annotations outside the data as well.
            continue;
        }
        events.push(Event {
            sample: sample as usize,
            duration_samples: (a.duration * info.sfreq).max(0.0) as usize,
            class,
            label: label.to_string(),
            description: a.description.clone(),
        });
    }
    events.sort_by_key(|e| e.sample);
    Ok(events)
}

/// Why an epoch was dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// The epoch's span extends before the first or past the last sample.
    OutOfBounds,
    /// These channels' peak-to-peak amplitude exceeded the rejection threshold
    /// ([`EpochParams::reject`]).
    PeakToPeak {
        /// Channel names, in channel order.
        channels: Vec<String>,
    },
    /// These channels' peak-to-peak amplitude was below the flat threshold
    /// ([`EpochParams::flat`]).
    Flat {
        /// Channel names, in channel order.
        channels: Vec<String>,
    },
    /// Some channels exceeded the rejection threshold and others (or the same,
    /// for NaN samples) were flat.
    PeakToPeakAndFlat {
        /// Channels above [`EpochParams::reject`], in channel order.
        too_large: Vec<String>,
        /// Channels below [`EpochParams::flat`], in channel order.
        flat: Vec<String>,
    },
}

impl DropReason {
    /// The channels MNE names in the epoch's `drop_log` entry for this drop: the
    /// too-large ones, then the flat ones (MNE checks `reject` before `flat`);
    /// empty for [`DropReason::OutOfBounds`], which MNE logs as `NO_DATA` or
    /// `TOO_SHORT` instead of channel names.
    pub fn channels(&self) -> Vec<&str> {
        match self {
            DropReason::OutOfBounds => Vec::new(),
            DropReason::PeakToPeak { channels } | DropReason::Flat { channels } => {
                channels.iter().map(String::as_str).collect()
            }
            DropReason::PeakToPeakAndFlat { too_large, flat } => {
                too_large.iter().chain(flat).map(String::as_str).collect()
            }
        }
    }
}

/// One dropped epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    /// Index into the events given to [`epochs`].
    pub event_index: usize,
    /// The event's onset sample.
    pub sample: usize,
    /// Its label.
    pub label: String,
    /// Why.
    #[serde(flatten)]
    pub reason: DropReason,
}

/// Epoching parameters (MNE `Epochs` semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochParams {
    /// Start relative to the event, in seconds (negative: before it).
    pub tmin: f64,
    /// End relative to the event, in seconds, included.
    pub tmax: f64,
    /// Baseline interval `(start, end)` in seconds relative to the event; `None`
    /// ends mean the epoch's start/end. `None` for no baseline correction.
    pub baseline: Option<(Option<f64>, Option<f64>)>,
    /// Peak-to-peak rejection thresholds per channel type, in the channels' units
    /// (volts for EEG): an epoch is dropped when any channel of that type exceeds it
    /// (strictly, as MNE's `reject`).
    pub reject: BTreeMap<ChannelType, f64>,
    /// Flat-channel thresholds per channel type, in the channels' units (MNE's `flat`,
    /// e.g. `eeg = 1e-6`): an epoch is dropped when the peak-to-peak amplitude of any
    /// channel of that type is strictly below it. Empty (the default): no flat check.
    #[serde(default)]
    pub flat: BTreeMap<ChannelType, f64>,
}

/// Epochs cut around events.
#[derive(Debug, Clone)]
pub struct Epochs {
    /// `n_epochs × n_channels × n_times`.
    pub data: Array3<f64>,
    /// The events kept, in order.
    pub events: Vec<Event>,
    /// Time of each sample relative to the event, in seconds.
    pub times: Vec<f64>,
    /// Every event that did not become an epoch, and why.
    pub dropped: Vec<Dropped>,
}

/// Cuts epochs `tmin..=tmax` around `events`, baseline-corrects the voltage
/// channels and drops epochs that leave the recording, exceed a peak-to-peak
/// threshold or have a flat channel, reporting each drop.
///
/// Thresholds apply to the baseline-corrected epoch, as in MNE. A channel with a
/// NaN sample in the epoch has no peak-to-peak amplitude and fails every
/// threshold set for its type (MNE's comparisons are false for NaN, so it would
/// keep such an epoch).
pub fn epochs(rec: &Recording, events: &[Event], params: &EpochParams) -> Result<Epochs> {
    let sfreq = rec.info.sfreq;
    if !params.tmin.is_finite() {
        return Err(Error::param("tmin", params.tmin, "must be finite"));
    }
    if !params.tmax.is_finite() || params.tmax < params.tmin {
        return Err(Error::param(
            "tmax",
            params.tmax,
            format!("must be finite and >= tmin ({})", params.tmin),
        ));
    }
    let first = (params.tmin * sfreq).round_ties_even() as i64;
    let last = (params.tmax * sfreq).round_ties_even() as i64;
    let n_times = (last - first + 1) as usize;
    if n_times > rec.info.n_samples {
        return Err(Error::param(
            "tmax",
            params.tmax,
            format!(
                "epochs of {n_times} samples ({} s to {} s) are longer than the recording ({} samples)",
                params.tmin, params.tmax, rec.info.n_samples
            ),
        ));
    }
    let times: Vec<f64> = (first..=last).map(|i| i as f64 / sfreq).collect();
    let baseline = match params.baseline {
        None => None,
        Some((b0, b1)) => {
            let lo = b0.unwrap_or(times[0]);
            let hi = b1.unwrap_or(times[n_times - 1]);
            if lo > hi {
                return Err(Error::param(
                    "baseline",
                    format!("({lo}, {hi})"),
                    "start is after end",
                ));
            }
            let start = times.iter().position(|&t| t >= lo);
            let stop = times.iter().rposition(|&t| t <= hi).map(|i| i + 1);
            match (start, stop) {
                (Some(a), Some(b)) if a < b => Some((a, b)),
                _ => {
                    return Err(Error::param(
                        "baseline",
                        format!("({lo}, {hi})"),
                        format!(
                            "selects no sample of the epoch ({} s to {} s)",
                            times[0],
                            times[n_times - 1]
                        ),
                    ));
                }
            }
        }
    };
    for (kind, thr) in &params.reject {
        if !thr.is_finite() || *thr <= 0.0 {
            return Err(Error::param(
                &format!("reject.{kind}"),
                thr,
                "must be a positive finite threshold",
            ));
        }
    }
    for (kind, thr) in &params.flat {
        // MNE accepts 0 (nothing is below it); infinity would drop every epoch.
        if !thr.is_finite() || *thr < 0.0 {
            return Err(Error::param(
                &format!("flat.{kind}"),
                thr,
                "must be a finite threshold >= 0",
            ));
        }
    }
    for (name, kinds) in [("reject", &params.reject), ("flat", &params.flat)] {
        // As MNE: a threshold for a type the recording lacks is a mistake (a
        // picked-away type, a wrong key), not something to ignore silently.
        if let Some(kind) = kinds
            .keys()
            .find(|k| !rec.info.channels.iter().any(|c| c.kind == **k))
        {
            return Err(Error::param(
                &format!("{name}.{kind}"),
                kinds[kind],
                format!("the recording has no {kind} channel to check"),
            ));
        }
    }
    let voltage: Vec<usize> = (0..rec.info.channels.len())
        .filter(|&i| rec.info.channels[i].kind.is_voltage())
        .collect();
    let n_ch = rec.info.channels.len();
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut blocks: Vec<ndarray::Array2<f64>> = Vec::new();
    for (ei, ev) in events.iter().enumerate() {
        let start = ev.sample as i64 + first;
        let stop = start + n_times as i64;
        if start < 0 || stop > rec.info.n_samples as i64 {
            dropped.push(Dropped {
                event_index: ei,
                sample: ev.sample,
                label: ev.label.clone(),
                reason: DropReason::OutOfBounds,
            });
            continue;
        }
        let mut epoch = rec.data.slice(s![.., start as usize..stop as usize]).to_owned();
        if let Some((a, b)) = baseline {
            for &c in &voltage {
                let mut row = epoch.row_mut(c);
                let mean = row.slice(s![a..b]).sum() / (b - a) as f64;
                row.mapv_inplace(|v| v - mean);
            }
        }
        let mut too_large = Vec::new();
        let mut flat = Vec::new();
        for (c, ch) in rec.info.channels.iter().enumerate() {
            let reject = params.reject.get(&ch.kind);
            let flat_below = params.flat.get(&ch.kind);
            if reject.is_none() && flat_below.is_none() {
                continue;
            }
            let ptp = peak_to_peak(epoch.row(c));
            // MNE's comparisons are strict (`np.greater`, `np.less`): a range equal
            // to a threshold passes.
            if reject.is_some_and(|&thr| ptp.is_nan() || ptp > thr) {
                too_large.push(ch.name.clone());
            }
            if flat_below.is_some_and(|&thr| ptp.is_nan() || ptp < thr) {
                flat.push(ch.name.clone());
            }
        }
        let reason = match (too_large.is_empty(), flat.is_empty()) {
            (true, true) => None,
            (false, true) => Some(DropReason::PeakToPeak { channels: too_large }),
            (true, false) => Some(DropReason::Flat { channels: flat }),
            (false, false) => Some(DropReason::PeakToPeakAndFlat { too_large, flat }),
        };
        match reason {
            None => {
                kept.push(ev.clone());
                blocks.push(epoch);
            }
            Some(reason) => dropped.push(Dropped {
                event_index: ei,
                sample: ev.sample,
                label: ev.label.clone(),
                reason,
            }),
        }
    }
    let mut data = Array3::zeros((blocks.len(), n_ch, n_times));
    for (k, b) in blocks.iter().enumerate() {
        data.slice_mut(s![k, .., ..]).assign(b);
    }
    Ok(Epochs {
        data,
        events: kept,
        times,
        dropped,
    })
}

/// Largest minus smallest sample; NaN when any sample is NaN (`f64::min`/`max`
/// would skip it and report the range of the other samples).
fn peak_to_peak(row: ndarray::ArrayView1<'_, f64>) -> f64 {
    let (lo, hi, nan) = row
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY, false), |(lo, hi, nan), &v| {
            (lo.min(v), hi.max(v), nan || v.is_nan())
        });
    if nan { f64::NAN } else { hi - lo }
}

/// A window of a recording: a view by sample range, not a copy.
///
/// 32 bytes each, so millions of windows cost tens of megabytes; the samples
/// are sliced from the (preprocessed) recording when a batch is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowRef {
    /// Index of the recording in the dataset.
    pub recording: u32,
    /// Index of the trial (event) in the recording; 0 for fixed-length windows.
    pub trial: u32,
    /// Position of the window within its trial.
    pub i_window_in_trial: u32,
    /// Class index (see [`EventMapping`]); `u32::MAX` when unlabelled.
    pub label: u32,
    /// First sample.
    pub start: u64,
    /// One past the last sample.
    pub stop: u64,
}

/// Parameters of [`create_windows_from_events`] (braindecode semantics, in samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventWindowParams {
    /// Shift of each trial's start from its event onset (negative: earlier).
    pub trial_start_offset_samples: i64,
    /// Shift of each trial's stop from its event's end (onset + duration).
    pub trial_stop_offset_samples: i64,
    /// Window length; `None`: the whole trial (one window per trial).
    pub window_size_samples: Option<usize>,
    /// Step between window starts; `None`: the window size.
    pub window_stride_samples: Option<usize>,
    /// Drop the samples at a trial's end that a whole stride does not reach
    /// (`true`), or add a last window aligned to the trial's end (`false`).
    pub drop_last_window: bool,
}

/// Windows inside trials, braindecode's `create_windows_from_events`: each
/// event's trial spans `onset + start_offset .. onset + duration + stop_offset`
/// and is cut into windows of `window_size` every `stride` samples.
pub fn create_windows_from_events(
    events: &[Event],
    n_samples: usize,
    recording: u32,
    params: &EventWindowParams,
) -> Result<Vec<WindowRef>> {
    if events.is_empty() {
        return Err(Error::param("events", "[]", "no events to cut windows from"));
    }
    let starts: Vec<i64> = events
        .iter()
        .map(|e| e.sample as i64 + params.trial_start_offset_samples)
        .collect();
    let stops: Vec<i64> = events
        .iter()
        .map(|e| (e.sample + e.duration_samples) as i64 + params.trial_stop_offset_samples)
        .collect();
    if let Some(i) = starts.iter().position(|&s| s < 0) {
        return Err(Error::param(
            "trial_start_offset_samples",
            params.trial_start_offset_samples,
            format!(
                "moves trial {i} (event at sample {}) before the recording's start",
                events[i].sample
            ),
        ));
    }
    if let Some(i) = stops.iter().position(|&s| s > n_samples as i64) {
        return Err(Error::param(
            "trial_stop_offset_samples",
            params.trial_stop_offset_samples,
            format!(
                "trial {i} would stop at sample {} past the recording's end ({n_samples} samples)",
                stops[i]
            ),
        ));
    }
    let size = match params.window_size_samples {
        Some(0) => return Err(Error::param("window_size_samples", 0, "must be at least 1")),
        Some(s) => s as i64,
        None if stops[0] - starts[0] < 1 => {
            return Err(Error::param(
                "window_size_samples",
                "none",
                format!(
                    "cannot be inferred: the first trial spans {} samples (zero-duration events need an explicit window size or trial offsets)",
                    stops[0] - starts[0]
                ),
            ));
        }
        None => stops[0] - starts[0],
    };
    let stride = match params.window_stride_samples {
        Some(0) => return Err(Error::param("window_stride_samples", 0, "must be at least 1")),
        Some(s) => s as i64,
        None => size,
    };
    if let Some(i) = (0..starts.len()).find(|&i| stops[i] - starts[i] < size) {
        return Err(Error::param(
            "window_size_samples",
            size,
            format!(
                "is longer than trial {i} ({} samples, event at sample {})",
                stops[i] - starts[i],
                events[i].sample
            ),
        ));
    }
    let mut out = Vec::new();
    for (t, ((&start, &stop), ev)) in starts.iter().zip(&stops).zip(events).enumerate() {
        let mut n_in_trial = 0u32;
        let mut last_start = start;
        let mut s = start;
        while s + size <= stop {
            out.push(window(recording, t, n_in_trial, ev.class, s, size));
            last_start = s;
            n_in_trial += 1;
            s += stride;
        }
        if !params.drop_last_window && last_start + size != stop {
            out.push(window(recording, t, n_in_trial, ev.class, stop - size, size));
        }
    }
    Ok(out)
}

fn window(recording: u32, trial: usize, i: u32, class: usize, start: i64, size: i64) -> WindowRef {
    WindowRef {
        recording,
        trial: trial as u32,
        i_window_in_trial: i,
        label: class as u32,
        start: start as u64,
        stop: (start + size) as u64,
    }
}

/// Parameters of [`create_fixed_length_windows`] (braindecode semantics, in samples).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FixedWindowParams {
    /// First sample of the first window.
    pub start_offset_samples: usize,
    /// End of the span to window (braindecode's `stop_offset_samples`, an absolute
    /// sample index despite its name); `None`: the recording's end.
    pub stop_samples: Option<usize>,
    /// Window length; `None`: the whole span (one window).
    pub window_size_samples: Option<usize>,
    /// Step between starts; `None`: the window size. Needs a window size.
    pub window_stride_samples: Option<usize>,
    /// See [`EventWindowParams::drop_last_window`] (braindecode's `on_last_window`:
    /// `true` is `"drop"`, `false` `"overlap"`). Always explicit here, where
    /// braindecode, given a size but no stride, defaults to `"drop"`.
    pub drop_last_window: bool,
    /// Class given to every window; `None`: unlabelled.
    pub label: Option<u32>,
}

/// Fixed-length windows over a whole recording, braindecode's
/// `create_fixed_length_windows`: starts from `start_offset` every `stride`
/// samples while a window fits before `stop` (default: the recording's end);
/// unless `drop_last_window`, one more window aligned to `stop`.
///
/// Window starts and stops equal braindecode 1.8.1's wherever braindecode
/// returns windows inside the recording; what it refuses (a window longer than
/// the recording, zero size or stride, a stride without a size) is refused here
/// too. Deliberately stricter, each with an error naming the parameter: a
/// `stop_samples` past the recording's end (braindecode returns windows past the
/// data), `Some(0)` as `stop_samples` (braindecode reads 0 as the recording's end,
/// with a deprecation warning), and a span shorter than the window (braindecode
/// fails with an `IndexError`, or returns no window at all with
/// `drop_last_window`).
pub fn create_fixed_length_windows(
    n_samples: usize,
    recording: u32,
    params: &FixedWindowParams,
) -> Result<Vec<WindowRef>> {
    let FixedWindowParams {
        start_offset_samples,
        stop_samples,
        window_size_samples,
        window_stride_samples,
        drop_last_window,
        label,
    } = *params;
    if let (None, Some(stride)) = (window_size_samples, window_stride_samples) {
        return Err(Error::param(
            "window_stride_samples",
            stride,
            "needs window_size_samples too (without a size the one window is the whole span, so a stride means nothing; braindecode refuses this as well)",
        ));
    }
    if stop_samples == Some(0) {
        return Err(Error::param(
            "stop_samples",
            0,
            "leaves nothing to window; leave it unset for the recording's end (braindecode reads 0 as the end)",
        ));
    }
    let stop = stop_samples.unwrap_or(n_samples);
    if stop > n_samples {
        return Err(Error::param(
            "stop_samples",
            stop,
            format!("is past the recording's end ({n_samples} samples)"),
        ));
    }
    if start_offset_samples >= stop {
        return Err(Error::param(
            "start_offset_samples",
            start_offset_samples,
            format!("must be before the stop ({stop})"),
        ));
    }
    let size = window_size_samples.unwrap_or(stop - start_offset_samples);
    if size == 0 {
        return Err(Error::param("window_size_samples", 0, "must be at least 1"));
    }
    if size > stop - start_offset_samples {
        return Err(Error::param(
            "window_size_samples",
            size,
            format!(
                "is longer than the span to window (samples {start_offset_samples}..{stop}, {} samples)",
                stop - start_offset_samples
            ),
        ));
    }
    let stride = window_stride_samples.unwrap_or(size);
    if stride == 0 {
        return Err(Error::param("window_stride_samples", 0, "must be at least 1"));
    }
    let last_potential = stop - size;
    let mut starts: Vec<usize> = (start_offset_samples..=last_potential).step_by(stride).collect();
    if !drop_last_window && *starts.last().expect("size fits, so one start exists") < last_potential {
        starts.push(last_potential);
    }
    Ok(starts
        .into_iter()
        .enumerate()
        .map(|(i, s)| WindowRef {
            recording,
            trial: 0,
            i_window_in_trial: i as u32,
            label: label.unwrap_or(u32::MAX),
            start: s as u64,
            stop: (s + size) as u64,
        })
        .collect())
}
