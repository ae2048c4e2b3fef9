//! From the experiment's dataset declaration to a window store: recordings found, read,
//! preprocessed (in parallel), their events turned into trials and the trials into windows.
//!
//! The store keeps each preprocessed recording once (`f64`, channels × samples) and every
//! window as a 32-byte [`WindowRef`] into it; samples are copied only when a batch is built
//! (converted to `f32` there), so millions of windows cost little memory. Trials keep their
//! subject, session and run so that splits can be made, and checked, at trial level.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, s};
use neurodl_eval::TrialMeta;
use neurodl_io::bids::BidsDataset;
use neurodl_io::open_recording;
use neurodl_signal::events::{
    EventMapping, EventWindowParams, WindowRef, create_windows_from_events, events_from_annotations,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrainError};
use crate::experiment::{DatasetSpec, Experiment, WindowSpec};

/// One recording the dataset declares, with the ids the protocols split by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecording {
    /// The data file.
    pub path: PathBuf,
    /// Subject id.
    pub subject: String,
    /// Session id (`"0"` when the dataset has no sessions, as MOABB names it).
    pub session: String,
    /// Run id (the BIDS run, else the file name's stem).
    pub run: String,
}

/// The recordings a dataset declaration names, in a stable order (sorted by path).
pub fn discover(spec: &DatasetSpec) -> Result<Vec<SourceRecording>> {
    let mut out = Vec::new();
    if let Some(root) = &spec.bids_root {
        let ds = BidsDataset::open(root)?;
        for r in ds.recordings() {
            if !spec.subjects.is_empty() && !spec.subjects.contains(&r.entities.subject) {
                continue;
            }
            if spec.task.is_some() && r.entities.task != spec.task {
                continue;
            }
            out.push(SourceRecording {
                path: r.path.clone(),
                subject: r.entities.subject.clone(),
                session: r.entities.session.clone().unwrap_or_else(|| "0".into()),
                run: match (&r.entities.task, &r.entities.run) {
                    (Some(t), Some(run)) => format!("{t}-{run}"),
                    (None, Some(run)) => run.clone(),
                    _ => stem(&r.path),
                },
            });
        }
        if out.is_empty() {
            return Err(TrainError::Dataset(format!(
                "no EEG recordings under BIDS root {} match the selection (subjects {:?}, task {:?})",
                root.display(),
                spec.subjects,
                spec.task
            )));
        }
    } else {
        let files: Vec<PathBuf> = if let Some(pattern) = &spec.glob {
            let paths =
                glob::glob(pattern).map_err(|e| TrainError::Dataset(format!("glob `{pattern}`: {e}")))?;
            let mut files = Vec::new();
            for p in paths {
                files.push(p.map_err(|e| TrainError::Dataset(format!("glob `{pattern}`: {e}")))?);
            }
            if files.is_empty() {
                return Err(TrainError::Dataset(format!("glob `{pattern}` matches no file")));
            }
            files
        } else {
            spec.files.clone()
        };
        for path in files {
            if !path.is_file() {
                return Err(TrainError::Dataset(format!("{}: no such file", path.display())));
            }
            let (subject, run) = ids_from_file_name(&path);
            let subject = match &spec.subject {
                Some(s) => s.clone(),
                None => subject.map(Ok).unwrap_or_else(|| header_subject(&path))?,
            };
            out.push(SourceRecording {
                path,
                subject,
                session: "0".into(),
                run,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = out.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(TrainError::Dataset(format!(
            "{} is listed twice: its trials would land on both sides of a split",
            w[0].path.display()
        )));
    }
    Ok(out)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `S001R04.edf` (PhysioNet's naming) → subject `S001`, run `R04`; otherwise no subject and
/// the stem as run.
fn ids_from_file_name(path: &Path) -> (Option<String>, String) {
    let stem = stem(path);
    let bytes = stem.as_bytes();
    if let Some(r) = stem.rfind(['R', 'r'])
        && r > 0
        && r + 1 < bytes.len()
        && bytes[r + 1..].iter().all(u8::is_ascii_digit)
    {
        return (Some(stem[..r].to_string()), stem[r..].to_string());
    }
    (None, stem)
}

fn header_subject(path: &Path) -> Result<String> {
    let reader = open_recording(path)?;
    Ok(reader
        .info()
        .subject
        .id
        .clone()
        .filter(|id| !id.is_empty() && id != "X")
        .unwrap_or_else(|| stem(path)))
}

/// A preprocessed recording held by the store.
#[derive(Debug)]
pub struct StoredRecording {
    /// Where it came from.
    pub source: SourceRecording,
    /// SHA-256 of the data file, hex.
    pub sha256: String,
    /// Channel names after preprocessing.
    pub channels: Vec<String>,
    /// Sampling rate after preprocessing.
    pub sfreq: f64,
    /// Samples, channels × time.
    pub data: Array2<f64>,
}

/// The preprocessed recordings, their trials and windows.
#[derive(Debug)]
pub struct WindowStore {
    /// Class labels, in class order.
    pub labels: Vec<String>,
    /// The recordings.
    pub recordings: Vec<StoredRecording>,
    /// One entry per trial (event), with the ids the protocols split by.
    pub trials: Vec<TrialMeta>,
    /// Every window; `trial_of_window[i]` indexes `trials`.
    pub windows: Vec<WindowRef>,
    /// The trial each window belongs to.
    pub trial_of_window: Vec<usize>,
    /// Samples per window.
    pub n_times: usize,
}

impl WindowStore {
    /// Reads, preprocesses and windows every recording of the experiment's dataset
    /// (recordings in parallel).
    pub fn build(exp: &Experiment, sources: Vec<SourceRecording>) -> Result<Self> {
        let mapping = EventMapping::new(exp.events.iter().map(|(d, l)| (d.clone(), l.clone())));
        let labels: Vec<String> = mapping.labels().into_iter().map(String::from).collect();
        let loaded: Vec<Result<(StoredRecording, Vec<neurodl_signal::events::Event>)>> = sources
            .into_par_iter()
            .map(|source| {
                let sha256 = hash_file(&source.path)?;
                let mut reader = open_recording(&source.path)?;
                let signal_err = |e| TrainError::Signal {
                    path: source.path.clone(),
                    error: e,
                };
                let rec = exp
                    .preprocessing
                    .read_and_apply(reader.as_mut())
                    .map_err(signal_err)?;
                let events = events_from_annotations(&rec.info, &mapping).map_err(signal_err)?;
                Ok((
                    StoredRecording {
                        sha256,
                        channels: rec.info.channels.iter().map(|c| c.name.clone()).collect(),
                        sfreq: rec.info.sfreq,
                        data: rec.data,
                        source,
                    },
                    events,
                ))
            })
            .collect();
        let mut recordings = Vec::with_capacity(loaded.len());
        let mut events_per_recording = Vec::with_capacity(loaded.len());
        for item in loaded {
            let (rec, events) = item?;
            recordings.push(rec);
            events_per_recording.push(events);
        }
        let first = &recordings[0];
        for r in &recordings[1..] {
            if r.channels != first.channels {
                return Err(TrainError::Dataset(format!(
                    "{} has channels [{}] after preprocessing but {} has [{}]: pick the same channels in every recording",
                    r.source.path.display(),
                    r.channels.join(", "),
                    first.source.path.display(),
                    first.channels.join(", ")
                )));
            }
            if r.sfreq != first.sfreq {
                return Err(TrainError::Dataset(format!(
                    "{} is sampled at {} Hz after preprocessing but {} at {} Hz: add a resample step",
                    r.source.path.display(),
                    r.sfreq,
                    first.source.path.display(),
                    first.sfreq
                )));
            }
        }
        let params = window_params(&exp.windows, first.sfreq)?;
        let mut trials = Vec::new();
        let mut windows = Vec::new();
        let mut trial_of_window = Vec::new();
        let mut n_times = None;
        for (ri, (rec, events)) in recordings.iter().zip(&events_per_recording).enumerate() {
            let ws =
                create_windows_from_events(events, rec.data.ncols(), ri as u32, &params).map_err(|e| {
                    TrainError::Signal {
                        path: rec.source.path.clone(),
                        error: e,
                    }
                })?;
            let first_trial = trials.len();
            for (ti, ev) in events.iter().enumerate() {
                trials.push(TrialMeta {
                    subject: rec.source.subject.clone(),
                    session: rec.source.session.clone(),
                    run: rec.source.run.clone(),
                    recording: ri as u32,
                    trial: ti as u32,
                    class: ev.class,
                });
            }
            for w in ws {
                let len = (w.stop - w.start) as usize;
                match n_times {
                    None => n_times = Some(len),
                    Some(n) if n != len => {
                        return Err(TrainError::Dataset(format!(
                            "{}: windows of {len} samples, but earlier recordings have {n}: set [windows] window_size_s so every window has the same length",
                            rec.source.path.display()
                        )));
                    }
                    Some(_) => {}
                }
                trial_of_window.push(first_trial + w.trial as usize);
                windows.push(w);
            }
        }
        Ok(WindowStore {
            labels,
            recordings,
            trials,
            windows,
            trial_of_window,
            n_times: n_times.expect("create_windows_from_events refuses empty event lists"),
        })
    }

    /// A store over one recording and windows already cut from it (prediction on new data).
    pub fn single(
        rec: neurodl_io::Recording,
        windows: Vec<WindowRef>,
        labels: Vec<String>,
        n_times: usize,
    ) -> Self {
        let source = SourceRecording {
            path: rec.info.path.clone(),
            subject: rec.info.subject.id.clone().unwrap_or_default(),
            session: rec.info.session.clone().unwrap_or_else(|| "0".into()),
            run: stem(&rec.info.path),
        };
        let trial_of_window = vec![0; windows.len()];
        WindowStore {
            labels,
            recordings: vec![StoredRecording {
                source,
                sha256: String::new(),
                channels: rec.info.channels.iter().map(|c| c.name.clone()).collect(),
                sfreq: rec.info.sfreq,
                data: rec.data,
            }],
            trials: Vec::new(),
            windows,
            trial_of_window,
            n_times,
        }
    }

    /// Number of channels.
    pub fn n_chans(&self) -> usize {
        self.recordings[0].channels.len()
    }

    /// Sampling rate.
    pub fn sfreq(&self) -> f64 {
        self.recordings[0].sfreq
    }

    /// The windows of the given trials, in trial order then window order.
    pub fn windows_of_trials(&self, trials: &[usize]) -> Vec<usize> {
        let mut wanted = vec![false; self.trials.len()];
        for &t in trials {
            wanted[t] = true;
        }
        (0..self.windows.len())
            .filter(|&w| wanted[self.trial_of_window[w]])
            .collect()
    }

    /// Class of each of the given windows.
    pub fn classes(&self, windows: &[usize]) -> Vec<usize> {
        windows.iter().map(|&w| self.windows[w].label as usize).collect()
    }

    /// Windows as one `f32` buffer `[windows.len(), n_chans, n_times]`, row-major: a batch.
    pub fn batch_f32(&self, windows: &[usize]) -> Vec<f32> {
        let (c, t) = (self.n_chans(), self.n_times);
        let mut out = Vec::with_capacity(windows.len() * c * t);
        for &w in windows {
            let win = self.windows[w];
            let data = &self.recordings[win.recording as usize].data;
            for row in data.slice(s![.., win.start as usize..win.stop as usize]).rows() {
                out.extend(row.iter().map(|&v| v as f32));
            }
        }
        out
    }

    /// Windows as `f64` trials `[windows.len(), n_chans, n_times]`, for the classical baselines.
    pub fn trials_f64(&self, windows: &[usize]) -> Array3<f64> {
        let (c, t) = (self.n_chans(), self.n_times);
        let mut out = Array3::zeros((windows.len(), c, t));
        for (k, &w) in windows.iter().enumerate() {
            let win = self.windows[w];
            let data = &self.recordings[win.recording as usize].data;
            out.slice_mut(s![k, .., ..])
                .assign(&data.slice(s![.., win.start as usize..win.stop as usize]));
        }
        out
    }
}

/// Seconds to samples, rounded half away from zero like Python's `int(round(...))` for the
/// positive values braindecode users pass.
fn to_samples(seconds: f64, sfreq: f64) -> i64 {
    (seconds * sfreq).round() as i64
}

/// The windowing of `spec` in samples at `sfreq`.
pub(crate) fn window_params(spec: &WindowSpec, sfreq: f64) -> Result<EventWindowParams> {
    let positive = |key: &str, s: f64| -> Result<usize> {
        let n = to_samples(s, sfreq);
        if n < 1 {
            return Err(TrainError::Dataset(format!(
                "[windows] {key} = {s} s is less than one sample at {sfreq} Hz"
            )));
        }
        Ok(n as usize)
    };
    Ok(EventWindowParams {
        trial_start_offset_samples: to_samples(spec.trial_start_offset_s, sfreq),
        trial_stop_offset_samples: to_samples(spec.trial_stop_offset_s, sfreq),
        window_size_samples: spec
            .window_size_s
            .map(|s| positive("window_size_s", s))
            .transpose()?,
        window_stride_samples: spec
            .window_stride_s
            .map(|s| positive("window_stride_s", s))
            .transpose()?,
        drop_last_window: spec.drop_last_window,
    })
}

/// SHA-256 of a file, hex: the run record names exactly which data it saw.
pub fn hash_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| TrainError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physionet_names_give_subject_and_run() {
        assert_eq!(
            ids_from_file_name(Path::new("x/S001R04.edf")),
            (Some("S001".into()), "R04".into())
        );
        assert_eq!(
            ids_from_file_name(Path::new("x/recording.edf")),
            (None, "recording".into())
        );
        assert_eq!(ids_from_file_name(Path::new("x/R04.edf")), (None, "R04".into()));
    }
}
