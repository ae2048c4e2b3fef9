//! EEGLAB datasets: a `.set` MAT-file (v5/v6/v7) holding the `EEG` structure,
//! with samples either embedded in it or in a `.fdt` companion file.
//!
//! Read as `mne.io.read_raw_eeglab` (MNE 1.13) reads them, so that a model
//! trained on neurodl windows sees the numbers an MNE pipeline would:
//!
//! - **Samples**: EEGLAB stores µV without saying so; every channel is scaled
//!   by 1e-6, whatever its type, exactly as MNE does (`f64(x) * 1e-6`). `.fdt`
//!   files are float32, little-endian, channel-fastest; embedded matrices may
//!   be single or double.
//! - **Channels**: names from `chanlocs.labels` (`EEG 000`... when `chanlocs`
//!   is empty), duplicates renamed `A-0`, `A-1` as MNE does; types from
//!   `chanlocs.type` when it names an MNE channel type (case and surrounding
//!   spaces ignored), else EEG. MNE types this crate has no variant for
//!   (`bio`, `dbs`, `gsr`...) become [`ChannelType::Misc`].
//! - **Positions**: EEGLAB's X (nose), Y (left ear), Z become MNE head
//!   coordinates `[-Y, X, Z]`, scaled to metres by the unit MNE guesses from
//!   the mean electrode radius (m below 0.25, dm below 2.5, cm below 25, else
//!   mm). As in MNE only EEG, sEEG and ECoG channels get one; a missing
//!   coordinate gives `None`.
//! - **Annotations**: one per `EEG.event`, labelled with the event type as
//!   Python's `str()` prints it (`square`, `1` for an integer class, `1.0` or
//!   `12.333333015441895` for a double); onset `(latency - 1) / srate`,
//!   duration `duration / srate`. Events with a NaN (or empty) latency are
//!   dropped; then, as MNE's `Raw.set_annotations` does, onsets are rounded to
//!   the microsecond, events outside the recording are dropped and those
//!   overlapping its edges are clipped. `boundary` events are kept.
//! - **Start time**: `meas_date` is `None`, as in MNE; `EEG.etc.T0`, when
//!   present, is kept in `extra["eeglab.T0"]`.
//!
//! **Epoched datasets** (`trials > 1`), which `read_raw_eeglab` refuses, are
//! read as one continuous recording of the trials end to end (`pnts × trials`
//! samples, the layout of the `.fdt`), with EEGLAB's event latencies (already
//! counted on that concatenation), a zero-length `boundary` annotation at the
//! start of every trial after the first, and `extra["eeglab.trials"]`,
//! `extra["eeglab.pnts"]`, `extra["eeglab.xmin"]` to cut them apart again.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::{Error, IoContext, Result};
use crate::mat5::{self, MatFile, MatValue, NumData, StructArray, python_float_repr};
use crate::recording::{
    Annotation, ChannelInfo, ChannelType, Format, RecordingInfo, RecordingReader, SubjectInfo,
    make_unique_names,
};

/// EEGLAB's implicit unit: samples are µV.
const VOLTS_PER_STORED_UNIT: f64 = 1e-6;

/// Lazy reader for an EEGLAB `.set` recording (continuous or epoched).
///
/// Opening parses the whole `.set`; samples in a `.fdt` are read on demand,
/// one contiguous byte range per [`RecordingReader::read_segment`] call.
pub struct EeglabReader {
    info: RecordingInfo,
    n_channels: usize,
    source: Source,
}

enum Source {
    /// Samples in a `.fdt`: float32 LE, channel-fastest.
    Fdt {
        path: PathBuf,
        file: File,
    },
    /// Samples decoded from the `.set`, channel-fastest (MATLAB column-major).
    EmbeddedF32(Vec<f32>),
    EmbeddedF64(Vec<f64>),
}

/// Where the `EEG` fields live: older EEGLAB saves one `EEG` struct variable,
/// newer EEGLAB (2019+) saves each field as a top-level variable.
#[derive(Clone, Copy)]
enum Layout {
    TopLevel,
    InEeg,
    /// `EEG.EEG`, which MNE also accepts.
    InNestedEeg,
}

impl Layout {
    fn prefix(self) -> &'static str {
        match self {
            Layout::TopLevel => "",
            Layout::InEeg => "EEG.",
            Layout::InNestedEeg => "EEG.EEG.",
        }
    }
}

/// The fields of the `EEG` structure, wherever the file keeps them.
struct Fields<'a> {
    path: &'a Path,
    layout: Layout,
    map: HashMap<&'a str, &'a MatValue>,
}

impl<'a> Fields<'a> {
    fn resolve(path: &'a Path, mat: &'a MatFile) -> Result<Self> {
        if mat.get("ALLEEG").is_some() {
            return Err(Error::unsupported(
                path,
                "an ALLEEG array of several datasets; save each dataset to its own .set file",
            ));
        }
        let Some(eeg) = mat.get("EEG") else {
            let map = mat.vars.iter().rev().map(|(n, v)| (n.as_str(), v)).collect();
            return Ok(Fields {
                path,
                layout: Layout::TopLevel,
                map,
            });
        };
        let outer = first_element(path, "EEG", eeg)?;
        let (layout, s) = match outer.field(0, "EEG") {
            Some(inner) => (Layout::InNestedEeg, first_element(path, "EEG.EEG", inner)?),
            None => (Layout::InEeg, outer),
        };
        Ok(Fields {
            path,
            layout,
            map: s.element(0).collect(),
        })
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.layout.prefix())
    }

    fn get(&self, field: &str) -> Option<&'a MatValue> {
        self.map.get(field).copied()
    }

    fn malformed(&self, field: &str, problem: impl Into<String>) -> Error {
        Error::malformed(self.path, self.name(field), problem)
    }

    fn required(&self, field: &str) -> Result<&'a MatValue> {
        self.get(field)
            .ok_or_else(|| self.malformed(field, "missing; every EEGLAB dataset has this field"))
    }

    /// A positive whole number such as `nbchan`; `default` when the field is absent.
    fn count(&self, field: &str, default: Option<usize>) -> Result<usize> {
        let value = match (self.get(field), default) {
            (None, Some(d)) => return Ok(d),
            (None, None) => return Err(self.malformed(field, "missing; every EEGLAB dataset has this field")),
            (Some(v), _) => v,
        };
        let Some(x) = value.scalar() else {
            return Err(self.malformed(field, format!("expected one number, found {}", value.describe())));
        };
        // 2^40 is far past any real recording, and keeps products of counts from overflowing.
        if !(x >= 1.0 && x.fract() == 0.0 && x <= (1u64 << 40) as f64) {
            return Err(self.malformed(field, format!("expected a positive whole number, found {x}")));
        }
        Ok(x as usize)
    }

    /// A non-empty single-row char field, if present.
    fn text(&self, field: &str) -> Option<String> {
        self.get(field)?
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    }
}

/// The first element of a struct that must have one.
fn first_element<'a>(path: &Path, field: &str, value: &'a MatValue) -> Result<&'a StructArray> {
    match value {
        MatValue::Struct(s) if s.len() >= 1 => Ok(s),
        other => Err(Error::malformed(
            path,
            field,
            format!("expected the EEG structure, found {}", other.describe()),
        )),
    }
}

impl EeglabReader {
    /// Parses the `.set` file at `path` and, when its samples live in a `.fdt`,
    /// checks that file is there and long enough (without reading it).
    pub fn open(path: &Path) -> Result<Self> {
        let mut mat = mat5::read_file(path)?;
        let parsed = parse_dataset(path, &mat)?;
        let source = match parsed.data {
            DataLocation::Fdt(fdt) => {
                let file = File::open(&fdt).at(&fdt)?;
                let len = file.metadata().at(&fdt)?.len();
                let need = (parsed.n_channels as u64)
                    .saturating_mul(parsed.info.n_samples as u64)
                    .saturating_mul(4);
                if len < need {
                    return Err(Error::malformed(
                        &fdt,
                        format!("{}data", parsed.layout.prefix()),
                        format!(
                            "the .fdt holds {len} bytes; {} channels × {} samples of float32 need {need}",
                            parsed.n_channels, parsed.info.n_samples
                        ),
                    ));
                }
                Source::Fdt { path: fdt, file }
            }
            DataLocation::Embedded => match take_data(&mut mat, parsed.layout) {
                NumData::F32(v) => Source::EmbeddedF32(v),
                NumData::F64(v) => Source::EmbeddedF64(v),
                NumData::Int(v) => Source::EmbeddedF64(v.into_iter().map(|x| x as f64).collect()),
                NumData::UInt(v) => Source::EmbeddedF64(v.into_iter().map(|x| x as f64).collect()),
            },
        };
        Ok(EeglabReader {
            info: parsed.info,
            n_channels: parsed.n_channels,
            source,
        })
    }
}

enum DataLocation {
    Fdt(PathBuf),
    /// In the `data` field of the `.set`, already checked for shape and class.
    Embedded,
}

struct Parsed {
    info: RecordingInfo,
    n_channels: usize,
    layout: Layout,
    data: DataLocation,
}

fn parse_dataset(path: &Path, mat: &MatFile) -> Result<Parsed> {
    let f = Fields::resolve(path, mat)?;
    let n_channels = f.count("nbchan", None)?;
    let pnts = f.count("pnts", None)?;
    // MNE reads a dataset without `trials` as continuous.
    let trials = f.count("trials", Some(1))?;
    let srate_value = f.required("srate")?;
    let srate = srate_value.scalar().ok_or_else(|| {
        f.malformed(
            "srate",
            format!("expected one number, found {}", srate_value.describe()),
        )
    })?;
    if !(srate.is_finite() && srate > 0.0) {
        return Err(f.malformed(
            "srate",
            format!("sampling rate must be a positive number, found {srate}"),
        ));
    }
    let n_samples = pnts
        .checked_mul(trials)
        .filter(|n| n.checked_mul(n_channels).is_some_and(|t| t <= (1usize << 48)))
        .ok_or_else(|| {
            f.malformed(
                "pnts",
                format!("{n_channels} channels × {pnts} points × {trials} trials is too large"),
            )
        })?;

    let channels = read_channels(&f, n_channels, srate)?;
    let data = locate_data(&f, n_channels, pnts, trials)?;
    let annotations = read_annotations(&f, srate, pnts, trials, n_samples)?;

    let subject = SubjectInfo {
        id: f.text("subject"),
        ..SubjectInfo::default()
    };
    let session = f.get("session").and_then(label_of);
    let mut extra = BTreeMap::new();
    for field in ["setname", "group", "condition", "task", "ref"] {
        if let Some(text) = f.text(field) {
            extra.insert(format!("eeglab.{field}"), text);
        }
    }
    if let Some(run) = f.get("run").and_then(label_of) {
        extra.insert("eeglab.run".into(), run);
    }
    if let Some(t0) = f
        .get("etc")
        .and_then(|etc| datevec_of(etc.as_struct()?.field(0, "T0")?))
    {
        extra.insert("eeglab.T0".into(), t0);
    }
    if trials > 1 {
        extra.insert("eeglab.trials".into(), trials.to_string());
        extra.insert("eeglab.pnts".into(), pnts.to_string());
        if let Some(xmin) = f.get("xmin").and_then(MatValue::scalar) {
            extra.insert("eeglab.xmin".into(), python_float_repr(xmin));
        }
    }

    Ok(Parsed {
        info: RecordingInfo {
            format: Format::Eeglab,
            path: path.to_path_buf(),
            channels,
            sfreq: srate,
            n_samples,
            meas_date: None,
            subject,
            session,
            annotations,
            extra,
            warnings: Vec::new(),
        },
        n_channels,
        layout: f.layout,
        data,
    })
}

/// Text for a label field that EEGLAB stores as a string or a number (`session`, `run`).
fn label_of(value: &MatValue) -> Option<String> {
    match value {
        MatValue::Char(_) => value
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string),
        MatValue::Numeric(n) if n.data.len() == 1 => {
            let x = n.get_f64(0)?;
            Some(if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{x}")
            } else {
                python_float_repr(x)
            })
        }
        _ => None,
    }
}

/// `[Y M D h m s]` (EEGLAB's `etc.T0`) as ISO 8601.
fn datevec_of(value: &MatValue) -> Option<String> {
    let n = value.as_numeric()?;
    if n.data.len() != 6 {
        return None;
    }
    let v: Vec<f64> = (0..6).map(|i| n.get_f64(i)).collect::<Option<_>>()?;
    if v.iter().any(|x| !x.is_finite() || *x < 0.0 || *x > 1e5) {
        return None;
    }
    let whole = v[5].trunc();
    let micros = ((v[5] - whole) * 1e6).round() as u32;
    let date = chrono::NaiveDate::from_ymd_opt(v[0] as i32, v[1] as u32, v[2] as u32)?;
    let time =
        chrono::NaiveTime::from_hms_micro_opt(v[3] as u32, v[4] as u32, whole as u32, micros.min(999_999))?;
    Some(date.and_time(time).format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// MNE's channel type names (`_PICK_TYPES_KEYS`); an EEGLAB `type` outside this list means EEG.
const MNE_TYPE_NAMES: [&str; 24] = [
    "meg",
    "eeg",
    "csd",
    "stim",
    "eog",
    "ecg",
    "emg",
    "misc",
    "resp",
    "chpi",
    "exci",
    "ias",
    "syst",
    "seeg",
    "dipole",
    "gof",
    "bio",
    "ecog",
    "fnirs",
    "dbs",
    "temperature",
    "gsr",
    "eyetrack",
    "ref_meg",
];

fn channel_type_of(value: Option<&MatValue>) -> ChannelType {
    let Some(raw) = value.and_then(MatValue::as_str) else {
        return ChannelType::Eeg;
    };
    let name = raw.trim().to_lowercase();
    if !MNE_TYPE_NAMES.contains(&name.as_str()) {
        return ChannelType::Eeg;
    }
    match name.as_str() {
        "eeg" => ChannelType::Eeg,
        "eog" => ChannelType::Eog,
        "ecg" => ChannelType::Ecg,
        "emg" => ChannelType::Emg,
        "ecog" => ChannelType::Ecog,
        "seeg" => ChannelType::Seeg,
        "resp" => ChannelType::Resp,
        "stim" => ChannelType::Stim,
        _ => ChannelType::Misc,
    }
}

/// A coordinate as MNE's `_to_loc` takes it: a number, or NaN when empty or not numeric.
fn coordinate(value: Option<&MatValue>) -> f64 {
    value.and_then(MatValue::scalar).unwrap_or(f64::NAN)
}

fn read_channels(f: &Fields, n_channels: usize, srate: f64) -> Result<Vec<ChannelInfo>> {
    let chanlocs = match f.get("chanlocs") {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(MatValue::Struct(s)) => Some(s),
        Some(other) => {
            return Err(f.malformed(
                "chanlocs",
                format!(
                    "expected a struct array of channel locations, found {}",
                    other.describe()
                ),
            ));
        }
    };
    let Some(locs) = chanlocs else {
        return Ok((0..n_channels)
            .map(|i| ChannelInfo {
                name: format!("EEG {i:03}"),
                kind: ChannelType::Eeg,
                unit: "V".into(),
                sfreq: srate,
                position: None,
            })
            .collect());
    };
    if locs.len() != n_channels {
        return Err(f.malformed(
            "chanlocs",
            format!("describes {} channels but nbchan is {n_channels}", locs.len()),
        ));
    }
    if !locs.has_field("labels") {
        return Err(f.malformed("chanlocs", "has no `labels` field, so the channels have no names"));
    }
    let mut labels = Vec::with_capacity(n_channels);
    let mut kinds = Vec::with_capacity(n_channels);
    for i in 0..n_channels {
        let label = locs.field(i, "labels");
        let Some(name) = label.and_then(MatValue::as_str) else {
            let found = label.map_or_else(|| "nothing".to_string(), MatValue::describe);
            return Err(f.malformed(
                &format!("chanlocs({}).labels", i + 1),
                format!("expected a channel name, found {found}"),
            ));
        };
        labels.push(name.to_string());
        kinds.push(channel_type_of(locs.field(i, "type")));
    }

    // MNE builds its montage from the original labels (a later duplicate wins)
    // and looks the renamed channels up in it.
    let mut positions: HashMap<&str, [f64; 3]> = HashMap::new();
    if ["X", "Y", "Z"].iter().all(|c| locs.has_field(c)) {
        let raw: Vec<[f64; 3]> = (0..n_channels)
            .map(|i| {
                let (x, y, z) = (
                    coordinate(locs.field(i, "X")),
                    coordinate(locs.field(i, "Y")),
                    coordinate(locs.field(i, "Z")),
                );
                // EEGLAB's X points to the nose and Y to the left ear; MNE's head frame has +Y to the nose.
                [-y, x, z]
            })
            .collect();
        let complete: Vec<&[f64; 3]> = raw.iter().filter(|p| !p.iter().any(|c| c.is_nan())).collect();
        let scale = if complete.is_empty() {
            1.0
        } else {
            let mean_radius = complete
                .iter()
                .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt())
                .sum::<f64>()
                / complete.len() as f64;
            montage_scale(mean_radius)
        };
        for (label, p) in labels.iter().zip(&raw) {
            positions.insert(label, [p[0] * scale, p[1] * scale, p[2] * scale]);
        }
    }

    let names = unique_names(&labels, f)?;
    Ok(names
        .into_iter()
        .zip(kinds)
        .map(|(name, kind)| {
            let position = positions
                .get(name.as_str())
                .filter(|p| p.iter().all(|c| c.is_finite()))
                .filter(|_| matches!(kind, ChannelType::Eeg | ChannelType::Seeg | ChannelType::Ecog))
                .copied();
            ChannelInfo {
                name,
                kind,
                unit: "V".into(),
                sfreq: srate,
                position,
            }
        })
        .collect())
}

/// The factor MNE (`montage_units="auto"`) applies to EEGLAB coordinates:
/// electrodes sit 5-11 cm from the head centre, so the mean radius betrays the unit.
fn montage_scale(mean_radius: f64) -> f64 {
    if mean_radius < 0.25 {
        1.0
    } else if mean_radius < 2.5 {
        1.0 / 1e1
    } else if mean_radius < 25.0 {
        1.0 / 1e2
    } else {
        1.0 / 1e3
    }
}

/// Renames duplicate labels as MNE does (see [`make_unique_names`]).
fn unique_names(labels: &[String], f: &Fields) -> Result<Vec<String>> {
    let mut names = labels.to_vec();
    make_unique_names(&mut names).map_err(|stem| {
        f.malformed(
            "chanlocs",
            format!("too many channels named `{stem}` to give each a unique name"),
        )
    })?;
    Ok(names)
}

fn locate_data(f: &Fields, n_channels: usize, pnts: usize, trials: usize) -> Result<DataLocation> {
    let data = f.required("data")?;
    match data {
        MatValue::Char(_) => {
            let name = data
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| f.malformed("data", "expected the name of a .fdt file or a sample matrix"))?;
            resolve_fdt(f, name.trim()).map(DataLocation::Fdt)
        }
        MatValue::Numeric(n) => {
            if n.complex {
                return Err(Error::unsupported(
                    f.path,
                    format!("complex samples in {}", f.name("data")),
                ));
            }
            let expected = n_channels * pnts * trials;
            let dims_ok =
                n.data.len() == expected && (n_channels == 1 || n.dims.first() == Some(&n_channels));
            if !dims_ok {
                return Err(f.malformed(
                    "data",
                    format!(
                        "is {} but nbchan × pnts × trials = {n_channels} × {pnts} × {trials}",
                        data.describe()
                    ),
                ));
            }
            Ok(DataLocation::Embedded)
        }
        other => Err(f.malformed(
            "data",
            format!(
                "expected the name of a .fdt file or a sample matrix, found {}",
                other.describe()
            ),
        )),
    }
}

/// The `.fdt` named by `EEG.data`, beside the `.set`; like MNE, falls back to
/// `<set name>.fdt` when the file was renamed after saving.
fn resolve_fdt(f: &Fields, name: &str) -> Result<PathBuf> {
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if ext == "dat" {
        return Err(Error::unsupported(
            f.path,
            format!(
                "{} names `{name}`, a .dat file of EEGLAB before 2006; re-save the dataset in EEGLAB to get a .fdt",
                f.name("data")
            ),
        ));
    }
    if ext != "fdt" {
        return Err(f.malformed("data", format!("`{name}` is not the name of a .fdt data file")));
    }
    let dir = f.path.parent().unwrap_or(Path::new(""));
    let named = dir.join(name);
    if named.is_file() {
        return Ok(named);
    }
    let renamed = f.path.with_extension("fdt");
    if renamed.is_file() {
        return Ok(renamed);
    }
    Err(f.malformed(
        "data",
        format!(
            "the data file {} does not exist (nor does {})",
            named.display(),
            renamed.display()
        ),
    ))
}

/// Moves the sample matrix out of the parsed file instead of copying it.
fn take_data(mat: &mut MatFile, layout: Layout) -> NumData {
    let placeholder = || MatValue::Other { class: 0 };
    let slot: Option<&mut MatValue> = match layout {
        Layout::TopLevel => mat.vars.iter_mut().find(|(n, _)| n == "data").map(|(_, v)| v),
        Layout::InEeg | Layout::InNestedEeg => {
            let mut s = mat
                .vars
                .iter_mut()
                .find(|(n, _)| n == "EEG")
                .and_then(|(_, v)| match v {
                    MatValue::Struct(s) => Some(s),
                    _ => None,
                });
            if matches!(layout, Layout::InNestedEeg) {
                s = s.and_then(|s| match field_mut(s, "EEG")? {
                    MatValue::Struct(inner) => Some(inner),
                    _ => None,
                });
            }
            s.and_then(|s| field_mut(s, "data"))
        }
    };
    match slot.map(|v| std::mem::replace(v, placeholder())) {
        Some(MatValue::Numeric(n)) => n.data,
        // parse_dataset checked the field is numeric, so this is unreachable in practice.
        _ => NumData::F64(Vec::new()),
    }
}

fn field_mut<'a>(s: &'a mut StructArray, name: &str) -> Option<&'a mut MatValue> {
    let f = s.field_names.iter().position(|n| n == name)?;
    s.values.get_mut(f)
}

/// How MNE labels an event: `str()` of the value SciPy loads for `type`.
fn event_label(value: &MatValue) -> Option<String> {
    match value {
        MatValue::Char(c) => Some(match c.rows.as_slice() {
            // An empty char loads as an empty NumPy array, which prints as `[]`.
            [] => "[]".to_string(),
            [row] => row.clone(),
            rows => format!(
                "[{}]",
                rows.iter()
                    .map(|r| format!("'{r}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }),
        MatValue::Numeric(n) => Some(match n.data.len() {
            0 => "[]".to_string(),
            1 => n.python_str(0)?,
            // NumPy's array printing, approximately: such event types are not seen in practice.
            len => format!(
                "[{}]",
                (0..len)
                    .filter_map(|i| n.python_str(i))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }),
        _ => None,
    }
}

/// An event on its way to becoming an annotation (times in seconds).
struct Event {
    onset: f64,
    duration: f64,
    description: String,
    /// 1-based index in `EEG.event`, for error messages; 0 for trial boundaries.
    index: usize,
}

fn read_annotations(
    f: &Fields,
    srate: f64,
    pnts: usize,
    trials: usize,
    n_samples: usize,
) -> Result<Vec<Annotation>> {
    let mut events = Vec::new();
    // Trial boundaries go first so that, at equal onsets, they sort before the trial's events.
    for k in 1..trials {
        events.push(Event {
            onset: (k * pnts) as f64 / srate,
            duration: 0.0,
            description: "boundary".into(),
            index: 0,
        });
    }
    let table = match f.get("event") {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(MatValue::Struct(s)) => Some(s),
        Some(other) => {
            return Err(f.malformed(
                "event",
                format!("expected a struct array of events, found {}", other.describe()),
            ));
        }
    };
    if let Some(table) = table {
        for field in ["type", "latency"] {
            if !table.has_field(field) {
                return Err(f.malformed("event", format!("has no `{field}` field")));
            }
        }
        let has_duration = table.has_field("duration");
        for i in 0..table.len() {
            let field_name = |field: &str| format!("event({}).{field}", i + 1);
            let value = |field: &str| table.field(i, field).expect("field checked above");
            let latency = match value("latency") {
                v if v.is_empty() => f64::NAN,
                v => v.scalar().ok_or_else(|| {
                    f.malformed(
                        &field_name("latency"),
                        format!("expected a number, found {}", v.describe()),
                    )
                })?,
            };
            if latency.is_nan() {
                // EEGLAB ignores such events; so does MNE (with a warning).
                continue;
            }
            let duration = if has_duration {
                match value("duration") {
                    // MNE reads an empty duration as NaN, which its cropping then treats as 0.
                    v if v.is_empty() => f64::NAN,
                    v => v.scalar().ok_or_else(|| {
                        f.malformed(
                            &field_name("duration"),
                            format!("expected a number, found {}", v.describe()),
                        )
                    })?,
                }
            } else {
                0.0
            };
            if duration < 0.0 {
                // MNE stops on an assertion here; a negative length means a broken event table.
                return Err(f.malformed(
                    &field_name("duration"),
                    format!("duration {duration} is negative"),
                ));
            }
            let type_value = value("type");
            let description = event_label(type_value).ok_or_else(|| {
                f.malformed(
                    &field_name("type"),
                    format!("expected text or a number, found {}", type_value.describe()),
                )
            })?;
            events.push(Event {
                onset: (latency - 1.0) / srate,
                duration: duration / srate,
                description,
                index: i + 1,
            });
        }
    }

    // MNE's Annotations keep (onset, duration) order.
    events.sort_by(|a, b| {
        a.onset
            .total_cmp(&b.onset)
            .then(a.duration.total_cmp(&b.duration))
    });

    // MNE refuses latencies more than a sample before the data (`_check_latencies`).
    if let Some(e) = events.iter().find(|e| round_half_even(e.onset * srate) < -1.0) {
        return Err(f.malformed(
            &format!("event({}).latency", e.index),
            format!(
                "latency {} lies before the first sample (EEGLAB latencies start at 1)",
                e.onset * srate + 1.0
            ),
        ));
    }
    Ok(crop_like_mne(events, n_samples, srate))
}

/// Drops and clips annotations to the recording as MNE's `Raw.set_annotations`
/// does, including its detour through `datetime.timedelta`, which rounds
/// every onset to the microsecond.
fn crop_like_mne(events: Vec<Event>, n_samples: usize, srate: f64) -> Vec<Annotation> {
    let end = (n_samples as f64 - 1.0) / srate + 1.0 / srate;
    let tmax = {
        let whole = end.trunc();
        whole as i128 * 1_000_000 + round_half_even((end - whole) * 1e6) as i128
    };
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let duration = if e.duration.is_nan() { 0.0 } else { e.duration };
        let (Some(mut on), Some(len)) = (timedelta_us(e.onset), timedelta_us(duration)) else {
            // Beyond timedelta's range: far outside any recording.
            continue;
        };
        let mut off = on + len;
        if on > tmax || off < 0 {
            continue;
        }
        let clipped = on < 0 || off > tmax;
        on = on.max(0);
        off = off.min(tmax);
        out.push(Annotation {
            onset: on as f64 / 1e6,
            duration: if clipped {
                (off - on) as f64 / 1e6
            } else {
                duration
            },
            description: e.description,
        });
    }
    out
}

/// Microseconds of Python's `timedelta(seconds=x)`: whole seconds and whole
/// microseconds exactly, the remaining fraction rounded half to even.
/// `None` outside timedelta's range (±10^9 days).
fn timedelta_us(x: f64) -> Option<i128> {
    if !x.is_finite() || x.abs() > 8.64e13 {
        return None;
    }
    let whole = x.trunc();
    let mut us = whole as i128 * 1_000_000;
    let scaled = (x - whole) * 1e6;
    let whole_us = scaled.trunc();
    us += whole_us as i128;
    let leftover = scaled - whole_us;
    if leftover != 0.0 {
        let mut rounded = leftover.round();
        if (rounded - leftover).abs() == 0.5 {
            // CPython rounds a tie to make the total even.
            let odd = (us & 1) as f64;
            rounded = 2.0 * ((leftover + odd) * 0.5).round() - odd;
        }
        us += rounded as i128;
    }
    Some(us)
}

/// NumPy's `np.round`: ties go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (r - x).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

impl RecordingReader for EeglabReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }

    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        let picks = self.info.check_segment(start, stop, picks)?;
        let n = stop - start;
        let nch = self.n_channels;
        let mut out = vec![0.0; picks.len() * n];
        match &mut self.source {
            Source::Fdt { path, file } => {
                let mut buf = vec![0u8; n * nch * 4];
                let offset = (start * nch * 4) as u64;
                file.seek(SeekFrom::Start(offset)).at(path)?;
                file.read_exact(&mut buf).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        Error::malformed(
                            path,
                            "data",
                            format!("the .fdt ended before sample {stop} (it shrank after it was opened?)"),
                        )
                    } else {
                        Error::io(path, e)
                    }
                })?;
                for t in 0..n {
                    let frame = &buf[t * nch * 4..(t + 1) * nch * 4];
                    for (row, &ch) in picks.iter().enumerate() {
                        let b = &frame[ch * 4..ch * 4 + 4];
                        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        out[row * n + t] = f64::from(x) * VOLTS_PER_STORED_UNIT;
                    }
                }
            }
            Source::EmbeddedF32(v) => {
                for (row, &ch) in picks.iter().enumerate() {
                    for t in 0..n {
                        out[row * n + t] = f64::from(v[(start + t) * nch + ch]) * VOLTS_PER_STORED_UNIT;
                    }
                }
            }
            Source::EmbeddedF64(v) => {
                for (row, &ch) in picks.iter().enumerate() {
                    for t in 0..n {
                        out[row * n + t] = v[(start + t) * nch + ch] * VOLTS_PER_STORED_UNIT;
                    }
                }
            }
        }
        Array2::from_shape_vec((picks.len(), n), out)
            .map_err(|e| Error::InvalidRequest(format!("{}: {e}", self.info.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedelta_rounding_matches_python() {
        // Values checked against CPython's datetime.timedelta(seconds=x).
        assert_eq!(timedelta_us(1.0000683593750), Some(1_000_068));
        assert_eq!(timedelta_us(0.0000005), Some(0));
        assert_eq!(timedelta_us(0.0000015), Some(2));
        assert_eq!(timedelta_us(-0.001), Some(-1000));
        assert_eq!(timedelta_us(f64::INFINITY), None);
    }

    #[test]
    fn numpy_round_is_half_even() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(-1.5), -2.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(2.4), 2.0);
    }

    #[test]
    fn montage_units_follow_mne_thresholds() {
        assert_eq!(montage_scale(0.09), 1.0);
        assert_eq!(montage_scale(1.0), 0.1);
        assert_eq!(montage_scale(9.0), 0.01);
        assert_eq!(montage_scale(85.0), 0.001);
        assert_eq!(montage_scale(f64::NAN), 0.001);
    }
}
