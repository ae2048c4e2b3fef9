//! Preprocessing pipelines: an ordered list of named steps with parameters,
//! serialisable to TOML so an experiment file can declare one and a run
//! record can store exactly what was applied.
//!
//! ```toml
//! [[step]]
//! op = "pick_types"
//! types = ["eeg"]
//!
//! [[step]]
//! op = "filter"            # MNE-default zero-phase FIR unless method = "iir"
//! l_freq = 4.0
//! h_freq = 38.0
//!
//! [[step]]
//! op = "resample"
//! sfreq = 100.0
//!
//! [[step]]
//! op = "exponential_moving_standardize"
//! factor_new = 0.001
//! init_block_size = 1000
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use neurodl_io::{ChannelType, Recording, RecordingInfo, RecordingReader};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fir::{FirSpec, design_fir};
use crate::iir::Band;
use crate::ops::{self, Bipolar, ResampleMethod};

/// Filter implementation of a [`Step::Filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMethod {
    /// MNE's default zero-phase FIR (`filter_data` defaults).
    #[default]
    Fir,
    /// Butterworth in second-order sections (SciPy).
    Iir,
}

fn default_true() -> bool {
    true
}
fn default_factor_new() -> f64 {
    1e-3
}
fn default_eps() -> f64 {
    1e-4
}
fn default_eeg() -> Vec<ChannelType> {
    vec![ChannelType::Eeg]
}

/// One preprocessing step. In a pipeline file, `op` names the step and the
/// other keys of its `[[step]]` table are its parameters.
///
/// (In serde terms the enum is externally tagged; [`Pipeline`] moves the tag
/// into the `op` key. Deserialising each step from its own table, rather than
/// through serde's buffered internally-tagged path, keeps error messages
/// naming the offending key.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Keep channels of these types.
    PickTypes {
        /// Channel types (`eeg`, `eog`, `stim`...).
        types: Vec<ChannelType>,
    },
    /// Keep these channels, in this order.
    PickChannels {
        /// Channel names.
        channels: Vec<String>,
    },
    /// Remove these channels.
    DropChannels {
        /// Channel names.
        channels: Vec<String>,
    },
    /// Rename channels (old name → new name).
    RenameChannels {
        /// Old → new.
        mapping: BTreeMap<String, String>,
    },
    /// Keep `tmin..=tmax` seconds.
    Crop {
        /// Start in seconds.
        #[serde(default)]
        tmin: f64,
        /// End in seconds (included); absent: the end of the recording.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tmax: Option<f64>,
    },
    /// Band-pass, high-pass (no `h_freq`), low-pass (no `l_freq`) or band-stop (`l_freq > h_freq`).
    Filter {
        /// High-pass edge in Hz.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        l_freq: Option<f64>,
        /// Low-pass edge in Hz.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        h_freq: Option<f64>,
        /// `fir` (default) or `iir`.
        #[serde(default)]
        method: FilterMethod,
        /// Butterworth order (IIR only; default 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<usize>,
        /// IIR only: forward-backward (default) or causal.
        #[serde(default = "default_true")]
        zero_phase: bool,
        /// FIR only: lower transition width in Hz (default MNE's "auto").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        l_trans_bandwidth: Option<f64>,
        /// FIR only: upper transition width in Hz (default MNE's "auto").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        h_trans_bandwidth: Option<f64>,
    },
    /// Remove a line frequency and its harmonics (MNE FIR notch).
    Notch {
        /// Line frequency in Hz (50 or 60).
        freq: f64,
    },
    /// Resample to `sfreq` Hz.
    Resample {
        /// Target rate in Hz.
        sfreq: f64,
        /// `fft` (MNE, default) or `polyphase` (SciPy).
        #[serde(default)]
        method: ResampleMethod,
    },
    /// Average reference over EEG channels.
    AverageReference {},
    /// Reference EEG channels to the mean of these channels.
    Reference {
        /// Reference channel names.
        channels: Vec<String>,
    },
    /// Bipolar derivations.
    Bipolar {
        /// `anode`, `cathode` and optional `name` of each derivation.
        pairs: Vec<Bipolar>,
    },
    /// Multiply channels of some types by a factor (1e6: volts → microvolts).
    Scale {
        /// The factor.
        factor: f64,
        /// Channel types (default `["eeg"]`).
        #[serde(default = "default_eeg")]
        types: Vec<ChannelType>,
    },
    /// Per-channel z-score over the whole recording.
    Zscore {},
    /// braindecode's `exponential_moving_standardize`.
    ExponentialMovingStandardize {
        /// Weight of the new sample (default 0.001).
        #[serde(default = "default_factor_new")]
        factor_new: f64,
        /// Samples standardised as one block at the start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        init_block_size: Option<usize>,
        /// Floor of the standard deviation (default 1e-4).
        #[serde(default = "default_eps")]
        eps: f64,
    },
    /// braindecode's `exponential_moving_demean`.
    ExponentialMovingDemean {
        /// Weight of the new sample (default 0.001).
        #[serde(default = "default_factor_new")]
        factor_new: f64,
        /// Samples demeaned as one block at the start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        init_block_size: Option<usize>,
    },
}

/// About how many bytes of raw samples [`Pipeline::read_and_apply`] reads at a
/// time: a block this size stays in the CPU's cache from one step to the next.
const STREAM_BLOCK_BYTES: usize = 1 << 20;

/// At most this many blocks per recording: each block reads the file's records
/// again (from the reader's memory for small files, from the file for long ones).
const MAX_STREAM_BLOCKS: usize = 16;

impl Step {
    /// Whether the step's result for a channel depends only on that channel's own
    /// samples and info (and on the sampling rate), so running it on a subset of
    /// the channels gives those channels' rows of running it on all of them.
    fn is_channelwise(&self) -> bool {
        matches!(
            self,
            Step::Crop { .. }
                | Step::Filter { .. }
                | Step::Notch { .. }
                | Step::Resample { .. }
                | Step::Scale { .. }
                | Step::Zscore {}
                | Step::ExponentialMovingStandardize { .. }
                | Step::ExponentialMovingDemean { .. }
        )
    }

    /// The step's `op` name.
    pub fn name(&self) -> &'static str {
        match self {
            Step::PickTypes { .. } => "pick_types",
            Step::PickChannels { .. } => "pick_channels",
            Step::DropChannels { .. } => "drop_channels",
            Step::RenameChannels { .. } => "rename_channels",
            Step::Crop { .. } => "crop",
            Step::Filter { .. } => "filter",
            Step::Notch { .. } => "notch",
            Step::Resample { .. } => "resample",
            Step::AverageReference {} => "average_reference",
            Step::Reference { .. } => "reference",
            Step::Bipolar { .. } => "bipolar",
            Step::Scale { .. } => "scale",
            Step::Zscore {} => "zscore",
            Step::ExponentialMovingStandardize { .. } => "exponential_moving_standardize",
            Step::ExponentialMovingDemean { .. } => "exponential_moving_demean",
        }
    }

    /// Applies the step to `rec` in place.
    pub fn apply(&self, rec: &mut Recording) -> Result<()> {
        match self {
            Step::PickTypes { types } => ops::pick_types(rec, types),
            Step::PickChannels { channels } => ops::pick_channels(rec, channels),
            Step::DropChannels { channels } => ops::drop_channels(rec, channels),
            Step::RenameChannels { mapping } => ops::rename_channels(rec, mapping),
            Step::Crop { tmin, tmax } => ops::crop(rec, *tmin, *tmax),
            Step::Filter {
                l_freq,
                h_freq,
                method: FilterMethod::Fir,
                order,
                l_trans_bandwidth,
                h_trans_bandwidth,
                ..
            } => {
                if let Some(o) = order {
                    return Err(Error::param("order", o, "only applies to method = \"iir\""));
                }
                let spec = FirSpec {
                    l_freq: *l_freq,
                    h_freq: *h_freq,
                    l_trans_bandwidth: *l_trans_bandwidth,
                    h_trans_bandwidth: *h_trans_bandwidth,
                    filter_length: None,
                };
                let filter = design_fir(rec.info.sfreq, &spec)?;
                ops::apply_fir(rec, &filter)
            }
            Step::Filter {
                l_freq,
                h_freq,
                method: FilterMethod::Iir,
                order,
                zero_phase,
                ..
            } => {
                let band = match (*l_freq, *h_freq) {
                    (Some(low), Some(high)) if low > high => Band::Bandstop { low: high, high: low },
                    (Some(low), Some(high)) => Band::Bandpass { low, high },
                    (Some(cutoff), None) => Band::Highpass { cutoff },
                    (None, Some(cutoff)) => Band::Lowpass { cutoff },
                    (None, None) => {
                        return Err(Error::param(
                            "l_freq/h_freq",
                            "none",
                            "give at least one band edge",
                        ));
                    }
                };
                ops::filter_iir(rec, order.unwrap_or(4), band, *zero_phase)
            }
            Step::Notch { freq } => ops::notch(rec, *freq),
            Step::Resample { sfreq, method } => ops::resample(rec, *sfreq, *method),
            Step::AverageReference {} => ops::set_average_reference(rec),
            Step::Reference { channels } => ops::set_reference(rec, channels),
            Step::Bipolar { pairs } => ops::set_bipolar_reference(rec, pairs),
            Step::Scale { factor, types } => ops::scale(rec, *factor, types),
            Step::Zscore {} => ops::zscore(rec),
            Step::ExponentialMovingStandardize {
                factor_new,
                init_block_size,
                eps,
            } => ops::exponential_moving_standardize(rec, *factor_new, *init_block_size, *eps),
            Step::ExponentialMovingDemean {
                factor_new,
                init_block_size,
            } => ops::exponential_moving_demean(rec, *factor_new, *init_block_size),
        }
    }
}

/// An ordered list of steps; as TOML, an array of `[[step]]` tables.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "toml::Table", into = "toml::Table")]
pub struct Pipeline {
    /// The steps, applied in order.
    pub steps: Vec<Step>,
}

impl TryFrom<toml::Table> for Pipeline {
    type Error = String;

    fn try_from(mut doc: toml::Table) -> std::result::Result<Self, String> {
        let steps = match doc.remove("step") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(other) => {
                return Err(format!(
                    "`step` must be an array of tables ([[step]]), not {}",
                    other.type_str()
                ));
            }
        };
        if let Some(key) = doc.keys().next() {
            return Err(format!(
                "unknown top-level key `{key}` (a pipeline holds only [[step]] tables)"
            ));
        }
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let n = i + 1;
                let toml::Value::Table(mut table) = item else {
                    return Err(format!("step {n}: must be a table ([[step]])"));
                };
                let op = match table.remove("op") {
                    Some(toml::Value::String(op)) => op,
                    Some(other) => {
                        return Err(format!(
                            "step {n}: `op` must be a string, not {}",
                            other.type_str()
                        ));
                    }
                    None => {
                        return Err(format!(
                            "step {n}: missing `op` (the step's name, e.g. op = \"filter\")"
                        ));
                    }
                };
                let mut tagged = toml::Table::new();
                tagged.insert(op.clone(), toml::Value::Table(table));
                toml::Value::Table(tagged).try_into::<Step>().map_err(|e| {
                    format!(
                        "step {n} (op = \"{op}\"): {}",
                        e.to_string().trim_end().replace('\n', " ")
                    )
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Pipeline { steps })
    }
}

impl From<Pipeline> for toml::Table {
    fn from(p: Pipeline) -> toml::Table {
        let steps = p
            .steps
            .iter()
            .map(|step| {
                let mut table = toml::Table::new();
                table.insert("op".into(), toml::Value::String(step.name().into()));
                if let Ok(toml::Value::Table(tagged)) = toml::Value::try_from(step)
                    && let Some((_, toml::Value::Table(params))) = tagged.into_iter().next()
                {
                    table.extend(params);
                }
                toml::Value::Table(table)
            })
            .collect();
        let mut doc = toml::Table::new();
        doc.insert("step".into(), toml::Value::Array(steps));
        doc
    }
}

impl Pipeline {
    /// Parses a pipeline from TOML; `source_name` (a path or `<string>`) appears in errors.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self> {
        let err = |message: String| Error::Pipeline {
            source_name: source_name.to_string(),
            message,
        };
        let doc: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        Pipeline::try_from(doc).map_err(err)
    }

    /// Reads a pipeline file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| neurodl_io::Error::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The pipeline as TOML (parses back to an equal pipeline).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(&toml::Table::from(self.clone())).expect("a table of steps serialises to TOML")
    }

    /// Applies every step to `rec`, in order. An error names the step (1-based) that failed.
    pub fn apply(&self, rec: &mut Recording) -> Result<()> {
        self.apply_steps(0, rec)
    }

    /// Applies the steps from index `first` on.
    fn apply_steps(&self, first: usize, rec: &mut Recording) -> Result<()> {
        for (i, step) in self.steps.iter().enumerate().skip(first) {
            step.apply(rec).map_err(|e| Error::Step {
                index: i + 1,
                op: step.name().to_string(),
                error: Box::new(e),
            })?;
        }
        Ok(())
    }

    /// Reads a recording and applies the pipeline: the same result as
    /// `reader.read_all()` followed by [`Pipeline::apply`], bit for bit, with
    /// less memory.
    ///
    /// The leading steps that treat every channel on its own (filters,
    /// resampling, scaling, standardisation, cropping) run on a few channels at a
    /// time, straight after those channels are read, and only their output is
    /// kept. A recording down-sampled from 160 to 100 Hz then never holds its raw
    /// samples in memory at once, and each block of channels stays in cache from
    /// one step to the next. The remaining steps (references, channel picks)
    /// run on the assembled recording.
    pub fn read_and_apply(&self, reader: &mut dyn RecordingReader) -> Result<Recording> {
        let n_channelwise = self.steps.iter().take_while(|s| s.is_channelwise()).count();
        let info = reader.info().clone();
        let n_channels = info.channels.len();
        let block = (STREAM_BLOCK_BYTES / (info.n_samples.max(1) * size_of::<f64>()))
            .max(n_channels.div_ceil(MAX_STREAM_BLOCKS))
            .max(1);
        if n_channelwise == 0 || block >= n_channels {
            let mut rec = reader.read_all()?;
            self.apply(&mut rec)?;
            return Ok(rec);
        }
        let mut data: Vec<f64> = Vec::new();
        let mut channels = Vec::with_capacity(n_channels);
        let mut assembled: Option<RecordingInfo> = None;
        for first in (0..n_channels).step_by(block) {
            let picks: Vec<usize> = (first..(first + block).min(n_channels)).collect();
            let mut part = Recording {
                data: reader.read_segment(0, info.n_samples, Some(&picks))?,
                info: RecordingInfo {
                    channels: picks.iter().map(|&p| info.channels[p].clone()).collect(),
                    ..info.clone()
                },
            };
            for (i, step) in self.steps[..n_channelwise].iter().enumerate() {
                step.apply(&mut part).map_err(|e| Error::Step {
                    index: i + 1,
                    op: step.name().to_string(),
                    error: Box::new(e),
                })?;
            }
            if data.capacity() == 0 {
                data.reserve_exact(n_channels * part.data.ncols());
            }
            // Every block went through the same steps, so all agree on the sample count.
            debug_assert!(
                assembled
                    .as_ref()
                    .is_none_or(|a| a.n_samples == part.info.n_samples)
            );
            match part.data.as_slice() {
                Some(rows) => data.extend_from_slice(rows),
                None => data.extend(part.data.iter()),
            }
            channels.append(&mut part.info.channels);
            assembled.get_or_insert(part.info);
        }
        let mut info = assembled.expect("a recording with channels has at least one block");
        info.channels = channels;
        let shape = (n_channels, info.n_samples);
        let mut rec = Recording {
            info,
            data: ndarray::Array2::from_shape_vec(shape, data).expect("blocks fill channels × samples"),
        };
        self.apply_steps(n_channelwise, &mut rec)?;
        Ok(rec)
    }

    /// Applies the pipeline to many recordings in parallel (one task per recording),
    /// returning each result in input order.
    pub fn apply_all(&self, recordings: Vec<Recording>) -> Vec<Result<Recording>> {
        recordings
            .into_par_iter()
            .map(|mut r| self.apply(&mut r).map(|()| r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_defaults() {
        let text = r#"
[[step]]
op = "pick_types"
types = ["eeg"]

[[step]]
op = "filter"
l_freq = 4.0
h_freq = 38.0

[[step]]
op = "filter"
l_freq = 1.0
method = "iir"
order = 5
zero_phase = false

[[step]]
op = "resample"
sfreq = 100.0
method = "polyphase"

[[step]]
op = "average_reference"

[[step]]
op = "exponential_moving_standardize"
init_block_size = 1000
"#;
        let p = Pipeline::from_toml_str(text, "<test>").unwrap();
        assert_eq!(p.steps.len(), 6);
        assert_eq!(
            p.steps[5],
            Step::ExponentialMovingStandardize {
                factor_new: 1e-3,
                init_block_size: Some(1000),
                eps: 1e-4
            }
        );
        let again = Pipeline::from_toml_str(&p.to_toml_string(), "<round trip>").unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn unknown_ops_and_keys_are_errors_naming_them() {
        let err = Pipeline::from_toml_str("[[step]]\nop = \"bandpas\"\n", "p.toml").unwrap_err();
        assert!(
            err.to_string().contains("p.toml") && err.to_string().contains("bandpas"),
            "{err}"
        );
        let err = Pipeline::from_toml_str("[[step]]\nop = \"notch\"\nfreq = 50.0\nfreqs = 3\n", "p.toml")
            .unwrap_err();
        assert!(err.to_string().contains("freqs"), "{err}");
        let err =
            Pipeline::from_toml_str("[[step]]\nop = \"resample\"\nsfreq = \"fast\"\n", "p.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("step 1 (op = \"resample\")") && msg.contains("`sfreq`"),
            "{msg}"
        );
        let err = Pipeline::from_toml_str("[[step]]\nsfreq = 3\n", "p.toml").unwrap_err();
        assert!(err.to_string().contains("missing `op`"), "{err}");
        let err = Pipeline::from_toml_str("steps = []\n", "p.toml").unwrap_err();
        assert!(err.to_string().contains("`steps`"), "{err}");
    }
}
