//! Writing BIDS-EEG datasets (BIDS 1.9.0): recordings as EDF+ (or BDF+) with their
//! sidecars, in the layout [`BidsDataset::open`](crate::bids::BidsDataset::open) and
//! MNE-BIDS read.
//!
//! ```text
//! root/
//!   dataset_description.json        Name, BIDSVersion 1.9.0, DatasetType raw, GeneratedBy neurodl
//!   participants.tsv / .json        one row per subject written
//!   README                          when BidsWriteOptions::readme is set
//!   task-<T>_events.json            what the events.tsv columns mean (one per task)
//!   sub-<S>/[ses-<E>/]eeg/
//!     sub-<S>[_ses-<E>]_task-<T>[_acq-<A>][_run-<R>]_eeg.edf       the samples (µV for voltages)
//!     …_eeg.json                    SamplingFrequency, PowerLineFrequency, EEGReference, counts…
//!     …_channels.tsv                name, type, units, sampling_frequency, status
//!     …_events.tsv                  onset, duration, trial_type, sample, value (from annotations)
//!     sub-<S>[_ses-<E>][_acq-<A>]_electrodes.tsv + _coordsystem.json   when channels have positions
//! ```
//!
//! Every file is written atomically (a temporary sibling renamed into place), and
//! `dataset_description.json` — the file that makes a folder a BIDS dataset — is
//! written last, by [`BidsWriter::finish`]: a folder whose writing was interrupted
//! is visibly not a dataset. [`BidsWriter`] can be shared between threads
//! (`write_recording` takes `&self`), so recordings can be produced and written in
//! parallel.
//!
//! ```no_run
//! use neurodl_io::bids::BidsEntities;
//! use neurodl_io::bids_write::{BidsWriteOptions, BidsWriter, EegSidecar};
//!
//! # let recording: neurodl_io::Recording = unimplemented!();
//! let writer = BidsWriter::create("out".as_ref(), BidsWriteOptions::new("My dataset"))?;
//! let entities = BidsEntities { subject: "01".into(), task: Some("rest".into()), ..Default::default() };
//! writer.write_recording(&entities, &recording, &EegSidecar::new("Cz", Some(50.0)))?;
//! let summary = writer.finish()?;
//! println!("{} recordings", summary.n_recordings);
//! # Ok::<(), neurodl_io::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::atomic::AtomicFile;
use crate::bids::BidsEntities;
use crate::edf::{EdfVariant, WriteReport, write_edf};
use crate::error::{Error, IoContext, Result};
use crate::recording::{ChannelType, Recording};

/// The BIDS version the files follow.
pub const BIDS_VERSION: &str = "1.9.0";

/// Dataset-level choices.
#[derive(Debug, Clone, PartialEq)]
pub struct BidsWriteOptions {
    /// `Name` in `dataset_description.json`.
    pub name: String,
    /// `Authors` in `dataset_description.json` (omitted when empty).
    pub authors: Vec<String>,
    /// Description of how the data were made, in `GeneratedBy[0].Description` (omitted when `None`).
    pub generated_by_description: Option<String>,
    /// Text of the dataset's `README` (none written when `None`).
    pub readme: Option<String>,
    /// Replace an existing dataset at the root (see [`BidsWriter::create`]).
    pub overwrite: bool,
    /// EDF+ (16-bit, `.edf`) or BDF+ (24-bit, `.bdf`).
    pub format: EdfVariant,
    /// `value` column code of each `trial_type`. Empty: each recording numbers its own
    /// sorted distinct descriptions from 1, as `mne.events_from_annotations` does. Non-empty:
    /// every description written must have a code.
    pub event_values: BTreeMap<String, i64>,
    /// Descriptions of `participants.tsv` columns, for `participants.json`.
    pub participant_columns: BTreeMap<String, String>,
    /// `EEGCoordinateSystemDescription` of the `_coordsystem.json` written with electrode positions.
    pub coordinate_system_description: String,
}

impl BidsWriteOptions {
    /// Defaults for a dataset called `name`: EDF+, no overwrite, automatic event values.
    pub fn new(name: impl Into<String>) -> Self {
        BidsWriteOptions {
            name: name.into(),
            authors: Vec::new(),
            generated_by_description: None,
            readme: None,
            overwrite: false,
            format: EdfVariant::EdfPlus,
            event_values: BTreeMap::new(),
            participant_columns: BTreeMap::new(),
            coordinate_system_description: "neurodl head frame: origin at the centre of the head, x towards \
                the right preauricular point, y towards the nasion, z up (RAS, as MNE-Python's head \
                coordinates)"
                .into(),
        }
    }
}

/// The per-recording `_eeg.json` fields the data file cannot supply.
///
/// The writer adds `TaskName` (unless set here), `SamplingFrequency`, the channel counts,
/// `RecordingDuration` and `RecordingType` from the recording itself.
#[derive(Debug, Clone, PartialEq)]
pub struct EegSidecar {
    /// `TaskName`; `None` uses the `task-` label.
    pub task_name: Option<String>,
    /// `EEGReference` (REQUIRED by BIDS): e.g. `Cz`, `average`, `left mastoid`, `n/a`.
    pub eeg_reference: String,
    /// `PowerLineFrequency` in Hz (REQUIRED); `None` writes `n/a`.
    pub power_line_frequency: Option<f64>,
    /// `SoftwareFilters` (REQUIRED); `None` writes `n/a` (no filter applied).
    pub software_filters: Option<Value>,
    /// Any other keys (`Manufacturer`, `TaskDescription`, `EEGPlacementScheme`…). They may
    /// not repeat a key the writer computes.
    pub extra: Map<String, Value>,
}

impl EegSidecar {
    /// A sidecar with the two required facts the file does not hold.
    pub fn new(eeg_reference: impl Into<String>, power_line_frequency: Option<f64>) -> Self {
        EegSidecar {
            task_name: None,
            eeg_reference: eeg_reference.into(),
            power_line_frequency,
            software_filters: None,
            extra: Map::new(),
        }
    }
}

/// Keys of `_eeg.json` the writer computes from the recording.
const COMPUTED_KEYS: [&str; 12] = [
    "TaskName",
    "SamplingFrequency",
    "PowerLineFrequency",
    "EEGReference",
    "SoftwareFilters",
    "EEGChannelCount",
    "EOGChannelCount",
    "ECGChannelCount",
    "EMGChannelCount",
    "MiscChannelCount",
    "TriggerChannelCount",
    "RecordingDuration",
];

/// What [`BidsWriter::write_recording`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenRecording {
    /// The `_eeg.edf` / `_eeg.bdf` file.
    pub data_file: PathBuf,
    /// Every file written for this recording, the data file first.
    pub files: Vec<PathBuf>,
    /// The EDF writer's report (quantisation error, padding).
    pub report: WriteReport,
}

/// What a finished dataset holds.
#[derive(Debug, Clone, PartialEq)]
pub struct BidsSummary {
    /// The dataset's root.
    pub root: PathBuf,
    /// Subjects written.
    pub n_subjects: usize,
    /// Recordings written.
    pub n_recordings: usize,
    /// Their total duration, seconds.
    pub total_duration_s: f64,
    /// Annotations written to `events.tsv` files.
    pub n_events: usize,
}

#[derive(Default)]
struct State {
    participants: BTreeMap<String, BTreeMap<String, String>>,
    /// Electrode files written, with their content, to catch recordings of one session that disagree.
    electrodes: BTreeMap<PathBuf, String>,
    /// Distinct `trial_type`s per task.
    tasks: BTreeMap<String, BTreeSet<String>>,
    written: BTreeSet<PathBuf>,
    total_duration_s: f64,
    n_events: usize,
}

/// Writes one BIDS dataset; create it, write recordings (from any thread), then [`finish`](Self::finish).
pub struct BidsWriter {
    root: PathBuf,
    options: BidsWriteOptions,
    state: Mutex<State>,
}

impl BidsWriter {
    /// Prepares `root` (created if missing).
    ///
    /// An existing non-empty `root` is refused unless [`BidsWriteOptions::overwrite`] is set,
    /// and even then only when it is a BIDS dataset (holds `dataset_description.json`): its
    /// `sub-*` folders, `participants.tsv`/`.json`, `dataset_description.json`, `README` and
    /// top-level `task-*` sidecars are removed; anything else (`derivatives/`, `code/`,
    /// `sourcedata/`, other files) is kept.
    pub fn create(root: &Path, options: BidsWriteOptions) -> Result<Self> {
        if options.name.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "BIDS dataset name (dataset_description.json `Name`) must not be empty".into(),
            ));
        }
        if root.exists() {
            if !root.is_dir() {
                return Err(Error::InvalidRequest(format!(
                    "{}: exists and is not a folder",
                    root.display()
                )));
            }
            let mut entries: Vec<_> = std::fs::read_dir(root)
                .at(root)?
                .collect::<std::io::Result<_>>()
                .at(root)?;
            entries.sort_by_key(|e| e.file_name());
            if !entries.is_empty() {
                if !options.overwrite {
                    return Err(Error::InvalidRequest(format!(
                        "{}: folder exists and is not empty (ask to overwrite to replace a BIDS dataset there)",
                        root.display()
                    )));
                }
                if !root.join("dataset_description.json").is_file() {
                    return Err(Error::InvalidRequest(format!(
                        "{}: refusing to overwrite a non-empty folder that is not a BIDS dataset \
                         (no dataset_description.json); choose an empty or new folder",
                        root.display()
                    )));
                }
                for entry in entries {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let path = entry.path();
                    let is_dir = path.is_dir();
                    let ours = if is_dir {
                        name.starts_with("sub-")
                    } else {
                        matches!(
                            name.as_str(),
                            "dataset_description.json" | "participants.tsv" | "participants.json" | "README"
                        ) || name.starts_with("task-")
                    };
                    if !ours {
                        continue;
                    }
                    if is_dir {
                        std::fs::remove_dir_all(&path).at(&path)?;
                    } else {
                        std::fs::remove_file(&path).at(&path)?;
                    }
                }
            }
        }
        std::fs::create_dir_all(root).at(root)?;
        Ok(BidsWriter {
            root: root.to_path_buf(),
            options,
            state: Mutex::new(State::default()),
        })
    }

    /// The dataset's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets `participants.tsv` columns of subject `subject` (label without `sub-`), merged over
    /// any set before. Subjects written without a call get a row too (with `sex` when the
    /// recording knows it).
    pub fn set_participant(&self, subject: &str, columns: BTreeMap<String, String>) -> Result<()> {
        check_label("subject", subject)?;
        for (k, v) in &columns {
            if k == "participant_id" || k.is_empty() || has_tsv_breaker(k) || has_tsv_breaker(v) {
                return Err(Error::InvalidRequest(format!(
                    "participants.tsv column `{k}` = `{v}`: column names must be non-empty, not \
                     participant_id, and neither may contain tabs or line breaks"
                )));
            }
        }
        self.lock()
            .participants
            .entry(subject.to_string())
            .or_default()
            .extend(columns);
        Ok(())
    }

    /// Writes one recording and its sidecars under its entities' folder.
    ///
    /// Entities must be BIDS labels (letters and digits; `run` digits only) with a task, and
    /// no entity other than `sub`, `ses`, `task`, `acq`, `run` (raw EEG allows no others).
    pub fn write_recording(
        &self,
        entities: &BidsEntities,
        recording: &Recording,
        sidecar: &EegSidecar,
    ) -> Result<WrittenRecording> {
        check_label("subject", &entities.subject)?;
        let task = entities
            .task
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest(format!("{entities}: a BIDS EEG recording needs a task")))?;
        check_label("task", task)?;
        for (key, value) in [
            ("session", &entities.session),
            ("acquisition", &entities.acquisition),
        ] {
            if let Some(v) = value {
                check_label(key, v)?;
            }
        }
        if let Some(run) = &entities.run
            && (run.is_empty() || !run.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Error::InvalidRequest(format!(
                "run label `{run}` must be a non-negative integer (digits only)"
            )));
        }
        if let Some(key) = entities.other.keys().next() {
            return Err(Error::InvalidRequest(format!(
                "{entities}: entity `{key}` is not allowed in a raw BIDS EEG file name (only sub, ses, task, acq, run)"
            )));
        }
        for key in sidecar.extra.keys() {
            if COMPUTED_KEYS.contains(&key.as_str()) || key == "RecordingType" {
                return Err(Error::InvalidRequest(format!(
                    "_eeg.json key `{key}` is computed by the writer (or set through EegSidecar's own fields); \
                     remove it from `extra`"
                )));
            }
        }
        let info = &recording.info;
        if let Some(c) = info
            .channels
            .iter()
            .find(|c| has_tsv_breaker(&c.name) || has_tsv_breaker(&c.unit))
        {
            return Err(Error::InvalidRequest(format!(
                "{}: channel `{}` (unit `{}`) has a tab or line break, which channels.tsv cannot hold",
                info.path.display(),
                c.name.escape_debug(),
                c.unit.escape_debug()
            )));
        }
        let events = self.events_tsv(recording)?;

        let mut folder = self.root.join(format!("sub-{}", entities.subject));
        let mut prefix = format!("sub-{}", entities.subject);
        if let Some(ses) = &entities.session {
            folder.push(format!("ses-{ses}"));
            prefix.push_str(&format!("_ses-{ses}"));
        }
        folder.push("eeg");
        let electrodes_prefix = match &entities.acquisition {
            Some(acq) => format!("{prefix}_acq-{acq}"),
            None => prefix.clone(),
        };
        let mut stem = format!("{prefix}_task-{task}");
        if let Some(acq) = &entities.acquisition {
            stem.push_str(&format!("_acq-{acq}"));
        }
        if let Some(run) = &entities.run {
            stem.push_str(&format!("_run-{run}"));
        }
        let ext = match self.options.format {
            EdfVariant::EdfPlus => "edf",
            EdfVariant::BdfPlus => "bdf",
        };
        let data_file = folder.join(format!("{stem}_eeg.{ext}"));
        let electrodes = electrodes_tsv(recording);
        let electrodes_path = folder.join(format!("{electrodes_prefix}_electrodes.tsv"));
        // Claim the file names before writing anything, so a refusal leaves no files behind and
        // two threads never write the same session's electrodes.
        let write_electrodes = {
            let mut state = self.lock();
            if state.written.contains(&data_file) {
                return Err(Error::InvalidRequest(format!(
                    "{}: this recording ({entities}) was already written",
                    data_file.display()
                )));
            }
            let first = match (&electrodes, state.electrodes.get(&electrodes_path)) {
                (Some(new), Some(previous)) if new != previous => {
                    return Err(Error::InvalidRequest(format!(
                        "{}: recordings of one session (and acquisition) have different electrode \
                         positions; give them different `acq` labels",
                        electrodes_path.display()
                    )));
                }
                (Some(new), None) => {
                    state.electrodes.insert(electrodes_path.clone(), new.clone());
                    true
                }
                _ => false,
            };
            state.written.insert(data_file.clone());
            first
        };
        std::fs::create_dir_all(&folder).at(&folder)?;

        // Samples first: if they cannot be written, no sidecar describes a missing file.
        let report = write_edf(&data_file, recording, self.options.format)?;
        let mut files = vec![data_file.clone()];

        let json_path = folder.join(format!("{stem}_eeg.json"));
        write_text(
            &json_path,
            &pretty(&Value::Object(self.eeg_json(task, recording, sidecar))),
        )?;
        files.push(json_path);

        let channels_path = folder.join(format!("{stem}_channels.tsv"));
        write_text(&channels_path, &channels_tsv(recording))?;
        files.push(channels_path);

        let events_path = folder.join(format!("{stem}_events.tsv"));
        write_text(&events_path, &events)?;
        files.push(events_path);

        if let (true, Some(electrodes)) = (write_electrodes, &electrodes) {
            write_text(&electrodes_path, electrodes)?;
            let coords_path = folder.join(format!("{electrodes_prefix}_coordsystem.json"));
            let coords = json!({
                "EEGCoordinateSystem": "Other",
                "EEGCoordinateUnits": "m",
                "EEGCoordinateSystemDescription": self.options.coordinate_system_description,
            });
            write_text(&coords_path, &pretty(&coords))?;
            files.push(electrodes_path);
            files.push(coords_path);
        }

        let mut state = self.lock();
        let row = state.participants.entry(entities.subject.clone()).or_default();
        if let Some(sex) = &info.subject.sex
            && !has_tsv_breaker(sex)
        {
            row.entry("sex".into()).or_insert_with(|| sex.clone());
        }
        let labels = state.tasks.entry(task.to_string()).or_default();
        labels.extend(info.annotations.iter().map(|a| trial_type(&a.description)));
        state.total_duration_s += info.duration_s();
        state.n_events += info.annotations.len();
        Ok(WrittenRecording {
            data_file,
            files,
            report,
        })
    }

    /// Writes `participants.tsv`/`.json`, the tasks' `events.json`, the README and, last,
    /// `dataset_description.json`.
    pub fn finish(self) -> Result<BidsSummary> {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let options = &self.options;

        let columns: BTreeSet<&String> = state.participants.values().flat_map(|r| r.keys()).collect();
        let mut tsv = String::from("participant_id");
        for c in &columns {
            tsv.push('\t');
            tsv.push_str(c);
        }
        tsv.push('\n');
        for (subject, row) in &state.participants {
            tsv.push_str(&format!("sub-{subject}"));
            for c in &columns {
                tsv.push('\t');
                tsv.push_str(
                    row.get(*c)
                        .map(String::as_str)
                        .filter(|v| !v.is_empty())
                        .unwrap_or("n/a"),
                );
            }
            tsv.push('\n');
        }
        write_text(&self.root.join("participants.tsv"), &tsv)?;
        let mut pj = Map::new();
        pj.insert(
            "participant_id".into(),
            json!({"Description": "Unique participant identifier"}),
        );
        for c in &columns {
            let description =
                options
                    .participant_columns
                    .get(*c)
                    .cloned()
                    .unwrap_or_else(|| match c.as_str() {
                        "sex" => "Sex of the participant as reported".to_string(),
                        other => other.to_string(),
                    });
            pj.insert((*c).clone(), json!({ "Description": description }));
        }
        write_text(&self.root.join("participants.json"), &pretty(&Value::Object(pj)))?;

        for (task, labels) in &state.tasks {
            let mut trial_levels = Map::new();
            for l in labels {
                trial_levels.insert(l.clone(), Value::String(format!("Annotation `{l}`")));
            }
            let value = if options.event_values.is_empty() {
                json!({"Description": "Event code: the trial_type's rank among this recording's sorted \
                    distinct trial types, from 1 (as mne.events_from_annotations numbers them)"})
            } else {
                let levels: Map<String, Value> = options
                    .event_values
                    .iter()
                    .filter(|(k, _)| labels.contains(*k))
                    .map(|(k, v)| (v.to_string(), Value::String(k.clone())))
                    .collect();
                json!({"Description": "Event code of the trial_type", "Levels": levels})
            };
            let sidecar = json!({
                "onset": {"Description": "Onset of the event from the first sample", "Units": "s"},
                "duration": {"Description": "Duration of the event", "Units": "s"},
                "trial_type": {"Description": "Event label", "Levels": trial_levels},
                "sample": {"Description": "Onset as a 0-based sample index"},
                "value": value,
            });
            write_text(
                &self.root.join(format!("task-{task}_events.json")),
                &pretty(&sidecar),
            )?;
        }

        if let Some(readme) = &options.readme {
            let mut text = readme.clone();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            write_text(&self.root.join("README"), &text)?;
        }

        let mut generated = Map::new();
        generated.insert("Name".into(), json!("neurodl"));
        generated.insert("Version".into(), json!(env!("CARGO_PKG_VERSION")));
        if let Some(d) = &options.generated_by_description {
            generated.insert("Description".into(), json!(d));
        }
        let mut description = Map::new();
        description.insert("Name".into(), json!(options.name));
        description.insert("BIDSVersion".into(), json!(BIDS_VERSION));
        description.insert("DatasetType".into(), json!("raw"));
        description.insert("GeneratedBy".into(), Value::Array(vec![Value::Object(generated)]));
        if !options.authors.is_empty() {
            description.insert("Authors".into(), json!(options.authors));
        }
        write_text(
            &self.root.join("dataset_description.json"),
            &pretty(&Value::Object(description)),
        )?;

        Ok(BidsSummary {
            root: self.root,
            n_subjects: state.participants.len(),
            n_recordings: state.written.len(),
            total_duration_s: state.total_duration_s,
            n_events: state.n_events,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves bookkeeping that is still consistent
        // (every update is a single insert/extend): keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn eeg_json(&self, task: &str, recording: &Recording, sidecar: &EegSidecar) -> Map<String, Value> {
        let info = &recording.info;
        let count = |kinds: &[ChannelType]| info.channels.iter().filter(|c| kinds.contains(&c.kind)).count();
        let mut m = sidecar.extra.clone();
        m.insert(
            "TaskName".into(),
            json!(sidecar.task_name.clone().unwrap_or_else(|| task.to_string())),
        );
        m.insert("SamplingFrequency".into(), json!(info.sfreq));
        m.insert(
            "PowerLineFrequency".into(),
            sidecar.power_line_frequency.map_or(json!("n/a"), |f| json!(f)),
        );
        m.insert("EEGReference".into(), json!(sidecar.eeg_reference));
        m.insert(
            "SoftwareFilters".into(),
            sidecar.software_filters.clone().unwrap_or(json!("n/a")),
        );
        m.insert("EEGChannelCount".into(), json!(count(&[ChannelType::Eeg])));
        m.insert("EOGChannelCount".into(), json!(count(&[ChannelType::Eog])));
        m.insert("ECGChannelCount".into(), json!(count(&[ChannelType::Ecg])));
        m.insert("EMGChannelCount".into(), json!(count(&[ChannelType::Emg])));
        m.insert(
            "MiscChannelCount".into(),
            json!(count(&[
                ChannelType::Misc,
                ChannelType::Resp,
                ChannelType::Seeg,
                ChannelType::Ecog
            ])),
        );
        m.insert("TriggerChannelCount".into(), json!(count(&[ChannelType::Stim])));
        m.insert("RecordingDuration".into(), json!(info.duration_s()));
        m.insert("RecordingType".into(), json!("continuous"));
        m
    }

    fn events_tsv(&self, recording: &Recording) -> Result<String> {
        let info = &recording.info;
        let mut distinct: Vec<String> = info
            .annotations
            .iter()
            .map(|a| trial_type(&a.description))
            .collect();
        distinct.sort();
        distinct.dedup();
        let mut tsv = String::from("onset\tduration\ttrial_type\tsample\tvalue\n");
        for a in &info.annotations {
            if !a.onset.is_finite() || !a.duration.is_finite() || a.duration < 0.0 {
                return Err(Error::InvalidRequest(format!(
                    "{}: annotation `{}` at {} s lasting {} s cannot be a BIDS event",
                    info.path.display(),
                    a.description,
                    a.onset,
                    a.duration
                )));
            }
            let label = trial_type(&a.description);
            let value = if self.options.event_values.is_empty() {
                (distinct.binary_search(&label).unwrap_or(0) + 1) as i64
            } else {
                *self.options.event_values.get(&label).ok_or_else(|| {
                    Error::InvalidRequest(format!(
                        "{}: annotation `{label}` has no event value (the options map {:?})",
                        info.path.display(),
                        self.options.event_values.keys().collect::<Vec<_>>()
                    ))
                })?
            };
            let sample = (a.onset * info.sfreq).round() as i64;
            // `{}` prints the shortest text that parses back to the same f64.
            tsv.push_str(&format!(
                "{}\t{}\t{label}\t{sample}\t{value}\n",
                a.onset, a.duration
            ));
        }
        Ok(tsv)
    }
}

/// An annotation's description as a `trial_type` cell (no tabs or line breaks; `n/a` if empty).
fn trial_type(description: &str) -> String {
    let clean: String = description
        .chars()
        .map(|c| if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        "n/a".into()
    } else {
        clean.to_string()
    }
}

fn has_tsv_breaker(s: &str) -> bool {
    s.contains(['\t', '\n', '\r'])
}

/// BIDS type names for channels.tsv.
fn bids_type(kind: ChannelType) -> &'static str {
    match kind {
        ChannelType::Eeg => "EEG",
        ChannelType::Eog => "EOG",
        ChannelType::Emg => "EMG",
        ChannelType::Ecg => "ECG",
        ChannelType::Ecog => "ECOG",
        ChannelType::Seeg => "SEEG",
        ChannelType::Resp => "RESP",
        ChannelType::Stim => "TRIG",
        ChannelType::Misc => "MISC",
    }
}

fn channels_tsv(recording: &Recording) -> String {
    let mut tsv = String::from("name\ttype\tunits\tsampling_frequency\tstatus\n");
    for c in &recording.info.channels {
        // The EDF writer stores voltages given in V as µV; units describe the data file.
        let units = if c.kind.is_voltage() && c.unit == "V" {
            "µV".to_string()
        } else if c.unit.trim().is_empty() {
            "n/a".to_string()
        } else {
            c.unit.clone()
        };
        tsv.push_str(&format!(
            "{}\t{}\t{units}\t{}\tgood\n",
            c.name,
            bids_type(c.kind),
            recording.info.sfreq
        ));
    }
    tsv
}

fn electrodes_tsv(recording: &Recording) -> Option<String> {
    let placed: Vec<_> = recording
        .info
        .channels
        .iter()
        .filter_map(|c| c.position.map(|p| (c, p)))
        .collect();
    if placed.is_empty() {
        return None;
    }
    let mut tsv = String::from("name\tx\ty\tz\n");
    for (c, [x, y, z]) in placed {
        tsv.push_str(&format!("{}\t{x}\t{y}\t{z}\n", c.name));
    }
    Some(tsv)
}

fn check_label(what: &str, label: &str) -> Result<()> {
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::InvalidRequest(format!(
            "BIDS {what} label `{label}` must be non-empty letters and digits only"
        )));
    }
    Ok(())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values always serialise");
    s.push('\n');
    s
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(text.as_bytes()).at(path)?;
    file.commit()
}
