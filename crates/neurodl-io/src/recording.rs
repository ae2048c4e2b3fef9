//! The data model shared by every reader and writer: a continuous recording.
//!
//! A recording is described by a [`RecordingInfo`] (channels, sampling rate,
//! start time, subject, annotations) and its samples are read lazily, a sample
//! range and a channel subset at a time, through [`RecordingReader`].
//!
//! # Units and sample type
//! Samples are **physical values in SI units as `f64`**: volts for EEG, EOG,
//! EMG, ECG, ECoG and sEEG channels, whatever the file stored (µV, mV, integer
//! counts with a gain...). Other channels (stimulus, respiration, temperature)
//! keep the unit the file gives them, reported in [`ChannelInfo::unit`].
//! `f64` is what MNE-Python uses, so preprocessing downstream can match it
//! bit-for-bit in float64; conversion to `f32` for deep learning happens at
//! batching time, not here.
//!
//! # Time
//! Annotation onsets are seconds from the first sample, not sample indices, so
//! they stay correct when a later step crops or resamples the signal.
//! `meas_date` anchors that zero to wall-clock time when the file records it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file format a recording was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// European Data Format (1992), 16-bit.
    #[serde(rename = "EDF")]
    Edf,
    /// EDF+ (2003): EDF with an annotations signal, continuous (`EDF+C`) or discontinuous (`EDF+D`).
    #[serde(rename = "EDF+")]
    EdfPlus,
    /// BioSemi Data Format, 24-bit EDF.
    #[serde(rename = "BDF")]
    Bdf,
    /// BDF with EDF+ annotations (`BDF+C`/`BDF+D`).
    #[serde(rename = "BDF+")]
    BdfPlus,
    /// Brain Products BrainVision (`.vhdr` + `.vmrk` + binary data).
    #[serde(rename = "BrainVision")]
    BrainVision,
    /// EEGLAB `.set` (MAT v5) with embedded data or a `.fdt` companion.
    #[serde(rename = "EEGLAB")]
    Eeglab,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Format::Edf => "EDF",
            Format::EdfPlus => "EDF+",
            Format::Bdf => "BDF",
            Format::BdfPlus => "BDF+",
            Format::BrainVision => "BrainVision",
            Format::Eeglab => "EEGLAB",
        };
        f.write_str(name)
    }
}

/// What a channel measures; names and meaning follow MNE-Python's channel types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Scalp electroencephalography.
    Eeg,
    /// Electrooculography.
    Eog,
    /// Electromyography.
    Emg,
    /// Electrocardiography.
    Ecg,
    /// Electrocorticography.
    Ecog,
    /// Stereo-EEG (depth electrodes).
    Seeg,
    /// Respiration.
    Resp,
    /// Trigger / stimulus / status channel.
    Stim,
    /// Anything else.
    Misc,
}

impl ChannelType {
    /// All types, in the order summaries list them.
    pub const ALL: [ChannelType; 9] = [
        ChannelType::Eeg,
        ChannelType::Eog,
        ChannelType::Emg,
        ChannelType::Ecg,
        ChannelType::Ecog,
        ChannelType::Seeg,
        ChannelType::Resp,
        ChannelType::Stim,
        ChannelType::Misc,
    ];

    /// The lowercase name MNE and BIDS use (`eeg`, `stim`...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Eeg => "eeg",
            ChannelType::Eog => "eog",
            ChannelType::Emg => "emg",
            ChannelType::Ecg => "ecg",
            ChannelType::Ecog => "ecog",
            ChannelType::Seeg => "seeg",
            ChannelType::Resp => "resp",
            ChannelType::Stim => "stim",
            ChannelType::Misc => "misc",
        }
    }

    /// Parses a type name as MNE or a BIDS `channels.tsv` spells it (case-insensitive;
    /// BIDS names such as `VEOG`, `HEOG`, `TRIG`, `EKG` are accepted).
    pub fn parse(name: &str) -> Option<ChannelType> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "eeg" => ChannelType::Eeg,
            "eog" | "veog" | "heog" => ChannelType::Eog,
            "emg" => ChannelType::Emg,
            "ecg" | "ekg" => ChannelType::Ecg,
            "ecog" => ChannelType::Ecog,
            "seeg" => ChannelType::Seeg,
            "resp" => ChannelType::Resp,
            "stim" | "trig" | "trigger" | "status" => ChannelType::Stim,
            "misc" | "other" => ChannelType::Misc,
            _ => return None,
        })
    }

    /// True for channels whose samples are electric potentials, stored in volts.
    pub fn is_voltage(self) -> bool {
        matches!(
            self,
            ChannelType::Eeg
                | ChannelType::Eog
                | ChannelType::Emg
                | ChannelType::Ecg
                | ChannelType::Ecog
                | ChannelType::Seeg
        )
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One channel of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// The label as stored in the file, with padding removed.
    pub name: String,
    /// What the channel measures.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Unit of the samples [`RecordingReader::read_segment`] returns (`"V"` for voltages).
    pub unit: String,
    /// The channel's own sampling rate in the file, in Hz. Usually equal to
    /// [`RecordingInfo::sfreq`]; EDF allows a different rate per channel.
    pub sfreq: f64,
    /// Sensor position `[x, y, z]` in metres in the file's head frame, when the file stores one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<[f64; 3]>,
}

/// A labelled stretch of time: an event (duration 0) or an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Seconds from the first sample of the recording.
    pub onset: f64,
    /// Seconds; 0 for an instantaneous event.
    pub duration: f64,
    /// The label (e.g. `T1`, `Stimulus/S  1`, `boundary`).
    pub description: String,
}

/// Who was recorded. Every field is optional: files often anonymise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectInfo {
    /// Subject identifier (EDF+ patient code, BIDS `sub-` label...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sex as recorded (`M`, `F`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Birth date, when the file records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// Further attributes (e.g. the columns of BIDS `participants.tsv`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Everything known about a recording except its samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// The format it was read from.
    pub format: Format,
    /// The file that was opened (for BrainVision, the `.vhdr`).
    pub path: PathBuf,
    /// Channels, in file order (EDF+ annotation signals are not channels).
    pub channels: Vec<ChannelInfo>,
    /// Sampling rate of the sample grid `read_segment` returns, in Hz
    /// (the highest channel rate when channels differ).
    pub sfreq: f64,
    /// Number of samples per channel on that grid.
    pub n_samples: usize,
    /// Wall-clock time of the first sample, as recorded (no time zone: EDF stores local time).
    pub meas_date: Option<NaiveDateTime>,
    /// The person recorded.
    pub subject: SubjectInfo,
    /// Session label, when known (BIDS `ses-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Events and intervals, sorted by onset.
    pub annotations: Vec<Annotation>,
    /// Format-specific header fields worth keeping (EDF recording id, BIDS sidecar keys...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// Oddities the reader tolerated (as MNE does) but a user should know about,
    /// e.g. a channel whose digital range is zero, or duplicate channel names that were renamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RecordingInfo {
    /// Duration in seconds (`n_samples / sfreq`).
    pub fn duration_s(&self) -> f64 {
        self.n_samples as f64 / self.sfreq
    }

    /// Channel names, in order.
    pub fn channel_names(&self) -> Vec<&str> {
        self.channels.iter().map(|c| c.name.as_str()).collect()
    }

    /// Index of the channel called `name` (exact match).
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }

    /// Indices of the channels of the given types, in order.
    pub fn picks_by_type(&self, kinds: &[ChannelType]) -> Vec<usize> {
        (0..self.channels.len())
            .filter(|&i| kinds.contains(&self.channels[i].kind))
            .collect()
    }

    /// Number of annotations for each description, sorted by description.
    pub fn annotation_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for a in &self.annotations {
            *counts.entry(a.description.as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// Sorts annotations by onset (stable, so equal onsets keep file order).
    pub fn sort_annotations(&mut self) {
        self.annotations.sort_by(|a, b| a.onset.total_cmp(&b.onset));
    }

    /// Checks `start..stop` and `picks` against this recording and resolves `None` to all channels.
    pub fn check_segment(&self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Vec<usize>> {
        if start > stop || stop > self.n_samples {
            return Err(Error::InvalidRequest(format!(
                "{}: sample range {start}..{stop} is outside 0..{}",
                self.path.display(),
                self.n_samples
            )));
        }
        match picks {
            None => Ok((0..self.channels.len()).collect()),
            Some(picks) => {
                if let Some(&bad) = picks.iter().find(|&&p| p >= self.channels.len()) {
                    return Err(Error::InvalidRequest(format!(
                        "{}: channel index {bad} is out of range (the recording has {} channels)",
                        self.path.display(),
                        self.channels.len()
                    )));
                }
                Ok(picks.to_vec())
            }
        }
    }
}

/// A recording held in memory: its info and all samples (channels × samples, SI units).
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Metadata.
    pub info: RecordingInfo,
    /// Samples, one row per channel of `info.channels`.
    pub data: Array2<f64>,
}

/// Lazy access to a recording on disk.
///
/// Opening a reader parses headers and annotations only; samples are read on
/// demand, so one window of a multi-gigabyte file costs one window of I/O.
pub trait RecordingReader: Send {
    /// The recording's metadata.
    fn info(&self) -> &RecordingInfo;

    /// Samples `start..stop` (on the common grid of [`RecordingInfo::sfreq`]) of the
    /// channels `picks` (indices into `info().channels`; `None` for all), as a
    /// `picks.len() × (stop - start)` array in SI units.
    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>>;

    /// Reads every sample of every channel.
    fn read_all(&mut self) -> Result<Recording> {
        let n = self.info().n_samples;
        let data = self.read_segment(0, n, None)?;
        Ok(Recording {
            info: self.info().clone(),
            data,
        })
    }
}

/// Factor that converts a value in `unit` to SI volts, for the spellings found in
/// EEG files (`uV`, `µV`, `mV`, `nV`, `V`; case-insensitive prefix letters are not
/// guessed: `MV` is not millivolts). `None` when `unit` is not a voltage.
pub fn volts_per_unit(unit: &str) -> Option<f64> {
    let u = unit.trim();
    Some(match u {
        "V" | "v" => 1.0,
        "mV" | "mv" => 1e-3,
        "uV" | "µV" | "μV" | "uv" | "microV" | "microvolts" => 1e-6,
        "nV" | "nv" => 1e-9,
        _ => return None,
    })
}

/// Renames duplicate channel names in place as MNE's `_unique_channel_names` does: the
/// k-th copy of `name` becomes `name-k`, or `name-a`, `name-b`... when that is taken.
/// Returns the names that were duplicated (for a warning), or `Err(stem)` when some copy of
/// `stem` cannot be given a free name.
pub(crate) fn make_unique_names(names: &mut [String]) -> std::result::Result<Vec<String>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut dups: Vec<String> = Vec::new();
    for n in names.iter() {
        if !seen.insert(n.clone()) && !dups.contains(n) {
            dups.push(n.clone());
        }
    }
    for stem in &dups {
        let overlaps: Vec<usize> = (0..names.len()).filter(|&i| &names[i] == stem).collect();
        for (k, &i) in overlaps.iter().enumerate() {
            let candidates = std::iter::once(k.to_string()).chain(('a'..='z').map(String::from));
            let new = candidates
                .map(|s| format!("{stem}-{s}"))
                .find(|c| !names.contains(c))
                .ok_or_else(|| stem.clone())?;
            names[i] = new;
        }
    }
    Ok(dups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_are_numbered_like_mne() {
        let mut names: Vec<String> = ["A", "B", "A", "A-1", "A"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let dups = make_unique_names(&mut names).unwrap();
        assert_eq!(dups, ["A"]);
        // `A-1` is taken by a real channel, so the second copy falls back to a letter.
        assert_eq!(names, ["A-0", "B", "A-a", "A-1", "A-2"]);
    }
}
