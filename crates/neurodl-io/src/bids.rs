//! BIDS EEG datasets: find recordings by entity, attach their metadata.
//!
//! Written here rather than taken from a crate: the Rust `bids*` crates are GPL,
//! which neurodl's license cannot take.
//!
//! [`BidsDataset::open`] walks `sub-*/[ses-*/]eeg/` for `*_eeg.{edf,bdf,vhdr,set}`
//! files (skipping `derivatives/`, `sourcedata/` and `code/`), parses their
//! entities (`sub`, `ses`, `task`, `acq`, `run`, ...), and collects, following
//! the BIDS inheritance principle, the `_eeg.json` sidecars (merged from the
//! dataset root down, deeper files overriding), the nearest `_channels.tsv` and
//! `_events.tsv`, and the subject's row of `participants.tsv`.
//!
//! [`BidsRecording::open`] then opens the data file and returns it with that
//! metadata applied, as MNE-BIDS does: subject and session from the entities,
//! participant columns in [`SubjectInfo::extra`](crate::SubjectInfo), channel
//! types from `channels.tsv` (matched by name), annotations from `events.tsv`
//! (replacing those stored in the file), sidecar keys in `extra` under
//! `bids.<Key>`. Disagreements between the sidecars and the file (channel
//! names, sampling rate) are reported in [`RecordingInfo::warnings`], never
//! silently resolved: the data file wins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::open::open_recording;
use crate::recording::{Annotation, ChannelType, RecordingInfo, RecordingReader};

/// Data-file extensions BIDS allows for EEG, all of which neurodl reads.
const EEG_EXTENSIONS: [&str; 4] = ["edf", "bdf", "vhdr", "set"];

/// The key-value entities of a BIDS file name (`sub-01_ses-02_task-rest_run-1_eeg.edf`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BidsEntities {
    /// `sub-` label.
    pub subject: String,
    /// `ses-` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `task-` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// `acq-` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<String>,
    /// `run-` index, as written (`01`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Any other entity (`rec-`, `desc-`, ...), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, String>,
}

impl BidsEntities {
    /// Parses the entities of a file name such as `sub-01_task-rest_eeg.edf`;
    /// returns the entities and the suffix (`eeg`, `channels`...). `None` if the
    /// name does not follow BIDS.
    pub fn parse_file_name(name: &str) -> Option<(BidsEntities, String)> {
        let stem = name.split('.').next()?;
        let mut parts: Vec<&str> = stem.split('_').collect();
        let suffix = parts.pop()?.to_string();
        let mut e = BidsEntities::default();
        for part in parts {
            let (key, value) = part.split_once('-')?;
            if value.is_empty() {
                return None;
            }
            match key {
                "sub" => e.subject = value.into(),
                "ses" => e.session = Some(value.into()),
                "task" => e.task = Some(value.into()),
                "acq" => e.acquisition = Some(value.into()),
                "run" => e.run = Some(value.into()),
                _ => {
                    e.other.insert(key.into(), value.into());
                }
            }
        }
        Some((e, suffix))
    }

    /// True when every entity set in `self` has the same value in `other`
    /// (the BIDS inheritance rule for sidecars at higher levels).
    pub fn applies_to(&self, other: &BidsEntities) -> bool {
        let opt = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
        (self.subject.is_empty() || self.subject == other.subject)
            && opt(&self.session, &other.session)
            && opt(&self.task, &other.task)
            && opt(&self.acquisition, &other.acquisition)
            && opt(&self.run, &other.run)
            && self.other.iter().all(|(k, v)| other.other.get(k) == Some(v))
    }
}

impl fmt::Display for BidsEntities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sub-{}", self.subject)?;
        for (key, value) in [
            ("ses", &self.session),
            ("task", &self.task),
            ("acq", &self.acquisition),
            ("run", &self.run),
        ] {
            if let Some(v) = value {
                write!(f, " {key}-{v}")?;
            }
        }
        for (k, v) in &self.other {
            write!(f, " {k}-{v}")?;
        }
        Ok(())
    }
}

/// One EEG recording of a BIDS dataset, with the metadata files that apply to it.
#[derive(Debug, Clone)]
pub struct BidsRecording {
    /// Its entities.
    pub entities: BidsEntities,
    /// The data file (`.edf`, `.bdf`, `.vhdr`, `.set`).
    pub path: PathBuf,
    /// The merged `_eeg.json` sidecars (root first, the recording's own last).
    pub sidecar: serde_json::Map<String, serde_json::Value>,
    /// The `_channels.tsv` that applies, if any.
    pub channels_tsv: Option<PathBuf>,
    /// The `_events.tsv` that applies, if any.
    pub events_tsv: Option<PathBuf>,
    /// The subject's row of `participants.tsv` (column → value), without `participant_id`.
    pub participant: BTreeMap<String, String>,
}

/// A BIDS dataset's EEG recordings.
#[derive(Debug, Clone)]
pub struct BidsDataset {
    root: PathBuf,
    description: serde_json::Map<String, serde_json::Value>,
    recordings: Vec<BidsRecording>,
}

impl BidsDataset {
    /// Discovers the EEG recordings under `root` (which must hold `dataset_description.json`).
    pub fn open(root: &Path) -> Result<Self> {
        let description_path = root.join("dataset_description.json");
        let description = read_json(&description_path).map_err(|e| match e {
            Error::Io { .. } => Error::malformed(
                root,
                "dataset_description.json",
                "missing: a BIDS dataset root must contain it",
            ),
            other => other,
        })?;
        let participants = read_participants(&root.join("participants.tsv"))?;

        // Metadata files anywhere in the raw tree, with their entities and folder.
        let mut metadata: Vec<(BidsEntities, String, PathBuf)> = Vec::new();
        let mut data_files: Vec<(BidsEntities, PathBuf)> = Vec::new();
        walk(root, root, &mut |path| {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                return;
            };
            let Some((entities, suffix)) = BidsEntities::parse_file_name(name) else {
                return;
            };
            let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
            let in_eeg_folder = path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "eeg");
            if suffix == "eeg"
                && EEG_EXTENSIONS.contains(&ext.as_str())
                && in_eeg_folder
                && !entities.subject.is_empty()
            {
                data_files.push((entities, path.to_path_buf()));
            } else if matches!(
                (suffix.as_str(), ext.as_str()),
                ("eeg", "json") | ("channels", "tsv") | ("events", "tsv")
            ) {
                metadata.push((entities, format!("{suffix}.{ext}"), path.to_path_buf()));
            }
        })?;
        data_files.sort();

        let mut recordings = Vec::with_capacity(data_files.len());
        for (entities, path) in data_files {
            // Applicable files, shallowest first, so deeper (more specific) ones win.
            let applicable = |kind: &str| -> Vec<PathBuf> {
                let mut found: Vec<&PathBuf> = metadata
                    .iter()
                    .filter(|(e, k, p)| {
                        k == kind && e.applies_to(&entities) && path.starts_with(p.parent().unwrap_or(root))
                    })
                    .map(|(_, _, p)| p)
                    .collect();
                found.sort_by_key(|p| p.components().count());
                found.into_iter().cloned().collect()
            };
            let mut sidecar = serde_json::Map::new();
            for json in applicable("eeg.json") {
                sidecar.extend(read_json(&json)?);
            }
            let channels_tsv = applicable("channels.tsv").pop();
            let events_tsv = applicable("events.tsv").pop();
            let participant = participants.get(&entities.subject).cloned().unwrap_or_default();
            recordings.push(BidsRecording {
                entities,
                path,
                sidecar,
                channels_tsv,
                events_tsv,
                participant,
            });
        }
        Ok(BidsDataset {
            root: root.to_path_buf(),
            description,
            recordings,
        })
    }

    /// The dataset's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `Name` from `dataset_description.json`, when non-empty.
    pub fn name(&self) -> Option<&str> {
        self.description
            .get("Name")
            .and_then(|v| v.as_str())
            .filter(|s| !s.trim().is_empty())
    }

    /// Every EEG recording, sorted by entities.
    pub fn recordings(&self) -> &[BidsRecording] {
        &self.recordings
    }

    /// Subject labels, sorted, without duplicates.
    pub fn subjects(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self
            .recordings
            .iter()
            .map(|r| r.entities.subject.as_str())
            .collect();
        s.dedup();
        s
    }

    /// Recordings matching the given entity values (`None` matches anything).
    pub fn select(
        &self,
        subject: Option<&str>,
        session: Option<&str>,
        task: Option<&str>,
        run: Option<&str>,
    ) -> Vec<&BidsRecording> {
        let ok = |want: Option<&str>, have: Option<&str>| want.is_none() || want == have;
        self.recordings
            .iter()
            .filter(|r| {
                ok(subject, Some(&r.entities.subject))
                    && ok(session, r.entities.session.as_deref())
                    && ok(task, r.entities.task.as_deref())
                    && ok(run, r.entities.run.as_deref())
            })
            .collect()
    }
}

impl BidsRecording {
    /// Opens the data file and applies this recording's BIDS metadata to its info.
    pub fn open(&self) -> Result<Box<dyn RecordingReader>> {
        let inner = open_recording(&self.path)?;
        let mut info = inner.info().clone();
        self.apply(&mut info)?;
        Ok(Box::new(BidsReader { inner, info }))
    }

    fn apply(&self, info: &mut RecordingInfo) -> Result<()> {
        info.subject.id = Some(self.entities.subject.clone());
        info.session = self.entities.session.clone();
        for (k, v) in &self.participant {
            if v != "n/a" {
                if k.eq_ignore_ascii_case("sex") {
                    info.subject.sex = Some(v.clone());
                }
                info.subject.extra.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &self.sidecar {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            info.extra.insert(format!("bids.{k}"), text);
        }
        info.extra
            .insert("bids.entities".into(), self.entities.to_string());
        if let Some(sf) = self.sidecar.get("SamplingFrequency").and_then(|v| v.as_f64())
            && (sf - info.sfreq).abs() > 1e-6 * info.sfreq
        {
            info.warnings.push(format!(
                "sidecar SamplingFrequency is {sf} Hz but the data file has {} Hz; using the file's",
                info.sfreq
            ));
        }
        if let Some(tsv) = &self.channels_tsv {
            apply_channels_tsv(tsv, info)?;
        }
        if let Some(tsv) = &self.events_tsv {
            info.annotations = read_events_tsv(tsv)?;
            info.sort_annotations();
        }
        Ok(())
    }
}

/// A recording opened through BIDS: the file's samples, the BIDS-enriched info.
struct BidsReader {
    inner: Box<dyn RecordingReader>,
    info: RecordingInfo,
}

impl RecordingReader for BidsReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }

    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        self.inner.read_segment(start, stop, picks)
    }
}

fn walk(root: &Path, dir: &Path, visit: &mut dyn FnMut(&Path)) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .at(dir)?
        .collect::<std::io::Result<_>>()
        .at(dir)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            let skip =
                dir == root && matches!(name.as_ref(), "derivatives" | "sourcedata" | "code" | "stimuli");
            // Hidden folders (.git, .datalad) hold no recordings.
            if !skip && !name.starts_with('.') {
                walk(root, &path, visit)?;
            }
        } else {
            visit(&path);
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).at(path)?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::malformed(
            path,
            "(top level)",
            "a BIDS JSON sidecar must be an object",
        )),
        Err(e) => Err(Error::malformed(
            path,
            format!("line {}", e.line()),
            e.to_string(),
        )),
    }
}

/// Reads a TSV into its header and rows (BIDS: tab-separated, header row, `n/a` for missing).
fn read_tsv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .flexible(false)
        .quoting(false)
        .from_path(path)
        .map_err(|e| Error::malformed(path, "(file)", e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::malformed(path, "header row", e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::malformed(path, format!("row {}", i + 2), e.to_string()))?;
        rows.push(record.iter().map(|v| v.trim().to_string()).collect());
    }
    Ok((header, rows))
}

fn column(path: &Path, header: &[String], name: &str) -> Result<usize> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        Error::malformed(
            path,
            "header row",
            format!("required column `{name}` is missing (found {header:?})"),
        )
    })
}

fn read_participants(path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let (header, rows) = read_tsv(path)?;
    let id = column(path, &header, "participant_id")?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let subject = row[id].trim_start_matches("sub-").to_string();
            let fields = header
                .iter()
                .zip(row)
                .enumerate()
                .filter(|(i, _)| *i != id)
                .map(|(_, (h, v))| (h.clone(), v))
                .collect();
            (subject, fields)
        })
        .collect())
}

fn apply_channels_tsv(path: &Path, info: &mut RecordingInfo) -> Result<()> {
    let (header, rows) = read_tsv(path)?;
    let name_col = column(path, &header, "name")?;
    let type_col = column(path, &header, "type")?;
    let mut matched = 0;
    let mut unknown_types = Vec::new();
    for row in &rows {
        let Some(index) = info.channel_index(&row[name_col]) else {
            continue;
        };
        matched += 1;
        match ChannelType::parse(&row[type_col]) {
            Some(kind) => info.channels[index].kind = kind,
            None => unknown_types.push(format!("{}={}", row[name_col], row[type_col])),
        }
    }
    if matched != rows.len() || matched != info.channels.len() {
        info.warnings.push(format!(
            "{} lists {} channels, the data file has {}, and {matched} names match; types of unmatched channels come from the file",
            path.display(),
            rows.len(),
            info.channels.len()
        ));
    }
    if !unknown_types.is_empty() {
        info.warnings.push(format!(
            "{}: channel types not recognised, kept from the file: {}",
            path.display(),
            unknown_types.join(", ")
        ));
    }
    Ok(())
}

/// `events.tsv` → annotations: `onset` and `duration` in seconds (`n/a` duration = 0),
/// description from `trial_type`, else `value`, else `n/a` (as MNE-BIDS).
fn read_events_tsv(path: &Path) -> Result<Vec<Annotation>> {
    let (header, rows) = read_tsv(path)?;
    let onset = column(path, &header, "onset")?;
    let duration = column(path, &header, "duration")?;
    let label = header
        .iter()
        .position(|h| h == "trial_type")
        .or_else(|| header.iter().position(|h| h == "value"));
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let number = |col: usize, field: &str, allow_na: bool| -> Result<f64> {
            let text = &row[col];
            if allow_na && text == "n/a" {
                return Ok(0.0);
            }
            text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                Error::malformed(
                    path,
                    format!("row {} `{field}`", i + 2),
                    format!("`{text}` is not a number"),
                )
            })
        };
        out.push(Annotation {
            onset: number(onset, "onset", false)?,
            duration: number(duration, "duration", true)?,
            description: label.map(|c| row[c].clone()).unwrap_or_else(|| "n/a".into()),
        });
    }
    Ok(out)
}
