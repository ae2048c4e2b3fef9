//! Parity with MNE-Python (and pyedflib) on every real recording in `shared/data/eeg`.
//!
//! The goldens in `tests/golden/` were written by `tests/reference/generate_goldens.py`
//! (MNE 1.13.2, pyedflib 0.1.42; see `tests/reference/README.md`). Each holds what MNE
//! read from one file: names, types, units, sampling rate, length, start time,
//! annotations, three 8-sample segments of every channel, and per-channel sums of
//! all samples and of their squares (so every sample takes part in the check).
//!
//! Tolerances, and why:
//! - metadata (names, types, counts, descriptions): exact.
//! - annotation onsets/durations: 1e-9 s. EDF TALs are decimal text parsed the same way;
//!   EEGLAB latencies go through one division by the sampling rate. For the epoched EEGLAB
//!   set, 1e-6 s: the reference there is `mne.read_annotations`, which skips the
//!   microsecond rounding MNE's raw readers (and neurodl) apply.
//! - sample values: |neurodl − MNE| ≤ 2⁻²³·|MNE| + 1e-13 (one float32 rounding, plus
//!   a floor far below any EEG resolution). EDF/BDF decode in MNE's operation order and
//!   agree to the last bit; BrainVision and EEGLAB store float32 and MNE scales in a
//!   different order, which can move the last float32 bit.
//! - units: exact, except that MNE reports `NA` for `misc` channels it scaled to volts,
//!   where neurodl reports `V`.
//! - sums: relative 1e-9 of √(n·Σx²) (summation order differs; each term is within the
//!   sample tolerance).
//!
//! Tests skip, printing why, when `shared/data` is absent.

use std::path::{Path, PathBuf};

use neurodl_io::open_recording;
use neurodl_io::testdata::{repo_root, shared_data_dir};
use serde_json::Value;

fn golden_files() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("INDEX.json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no goldens in {}", dir.display());
    files
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * f64::powi(2.0, -23) + 1e-13
}

/// Compares one file against its golden; returns a list of mismatches (empty = parity).
fn check(golden_path: &Path, data: &Path) -> Vec<String> {
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(golden_path).unwrap()).unwrap();
    let file = golden["file"].as_str().unwrap();
    check_against(&golden["mne"], &data.join(file), file)
}

/// Compares what neurodl reads from `path` with MNE's reading of the same file (`mne`).
fn check_against(mne: &Value, path: &Path, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |msg: String| problems.push(format!("{file}: {msg}"));

    let mut reader = match open_recording(path) {
        Ok(r) => r,
        Err(e) => return vec![format!("{file}: open failed: {e}")],
    };
    let info = reader.info().clone();
    if info.sfreq != mne["sfreq"].as_f64().unwrap() {
        fail(format!("sfreq {} vs MNE {}", info.sfreq, mne["sfreq"]));
    }
    if info.n_samples as u64 != mne["n_samples"].as_u64().unwrap() {
        fail(format!(
            "n_samples {} vs MNE {}",
            info.n_samples, mne["n_samples"]
        ));
    }
    let names: Vec<&str> = mne["ch_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    if info.channel_names() != names {
        fail(format!(
            "channel names {:?} vs MNE {:?}",
            info.channel_names(),
            names
        ));
    }
    let types: Vec<&str> = mne["ch_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = info.channels.iter().map(|c| c.kind.as_str()).collect();
    if ours != types {
        fail(format!("channel types {ours:?} vs MNE {types:?}"));
    }
    if let Some(units) = mne["units"].as_array() {
        for (c, u) in info.channels.iter().zip(units) {
            let u = u.as_str().unwrap();
            let ours = if c.unit.is_empty() { "NA" } else { c.unit.as_str() };
            // MNE labels `misc` channels' unit NA even where it scaled them to volts
            // (BrainVision µV channels without coordinates); neurodl says what they are.
            let misc_in_volts = c.kind == neurodl_io::ChannelType::Misc && u == "NA" && ours == "V";
            if ours != u && !misc_in_volts {
                fail(format!("unit of {} is `{ours}`, MNE `{u}`", c.name));
            }
        }
    }
    let meas_date = info
        .meas_date
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string());
    if meas_date.as_deref() != mne["meas_date"].as_str() {
        fail(format!("meas_date {meas_date:?} vs MNE {}", mne["meas_date"]));
    }

    let anns = mne["annotations"].as_array().unwrap();
    // An epoched EEGLAB set is read as its trials end to end; neurodl marks each join with
    // a `boundary` annotation (EEGLAB's convention), which MNE's epoch reader has no place for.
    let epoched = mne["reader"].as_str() == Some("read_epochs_eeglab");
    let ours_anns: Vec<&neurodl_io::Annotation> = info
        .annotations
        .iter()
        .filter(|a| !(epoched && a.description == "boundary"))
        .collect();
    if epoched {
        let trials: usize = info.extra["eeglab.trials"].parse().unwrap();
        let joins = info.annotations.len() - ours_anns.len();
        if joins != trials - 1 {
            fail(format!("{joins} boundary annotations for {trials} trials"));
        }
    }
    if anns.len() != ours_anns.len() {
        fail(format!("{} annotations vs MNE {}", ours_anns.len(), anns.len()));
    } else {
        for (i, (a, g)) in ours_anns.iter().zip(anns).enumerate() {
            let (onset, duration) = (g["onset"].as_f64().unwrap(), g["duration"].as_f64().unwrap());
            // Raw readers (MNE's and ours) round onsets to the microsecond; MNE's
            // `read_annotations`, the reference for epoched sets, does not.
            let tol = if epoched { 1e-6 } else { 1e-9 };
            if (a.onset - onset).abs() > tol
                || (a.duration - duration).abs() > tol
                || a.description != g["description"].as_str().unwrap()
            {
                fail(format!("annotation {i}: {a:?} vs MNE {g}"));
                break;
            }
        }
    }

    if let Some(positions) = mne["positions"].as_array() {
        for (c, p) in info.channels.iter().zip(positions) {
            match (c.position, p.as_array()) {
                (None, None) => {}
                (Some(ours), Some(theirs)) => {
                    let theirs = f64s(&Value::Array(theirs.clone()));
                    if ours.iter().zip(&theirs).any(|(a, b)| (a - b).abs() > 1e-9) {
                        fail(format!("position of {}: {ours:?} vs MNE {theirs:?}", c.name));
                    }
                }
                (ours, _) => fail(format!("position of {}: {ours:?} vs MNE {p}", c.name)),
            }
        }
    }

    for seg in mne["segments"].as_array().unwrap() {
        let (start, stop) = (
            seg["start"].as_u64().unwrap() as usize,
            seg["stop"].as_u64().unwrap() as usize,
        );
        let got = match reader.read_segment(start, stop, None) {
            Ok(g) => g,
            Err(e) => {
                fail(format!("read_segment({start}, {stop}): {e}"));
                continue;
            }
        };
        for (c, row) in seg["data"].as_array().unwrap().iter().enumerate() {
            for (j, want) in f64s(row).into_iter().enumerate() {
                let have = got[[c, j]];
                if !close(have, want) {
                    fail(format!(
                        "sample {} of {}: {have:e} vs MNE {want:e}",
                        start + j,
                        info.channels[c].name
                    ));
                    break;
                }
            }
        }
    }

    let all = reader.read_all().expect("full read").data;
    let n = info.n_samples as f64;
    for (c, (sum, sum_sq)) in f64s(&mne["channel_sum"])
        .into_iter()
        .zip(f64s(&mne["channel_sum_sq"]))
        .enumerate()
    {
        let row = all.row(c);
        let (s, s2) = (row.sum(), row.iter().map(|x| x * x).sum::<f64>());
        let scale = (n * sum_sq).sqrt();
        if (s - sum).abs() > 1e-9 * scale + 1e-12 || (s2 - sum_sq).abs() > 1e-9 * sum_sq + 1e-24 {
            fail(format!(
                "channel {} sums ({s:e}, {s2:e}) vs MNE ({sum:e}, {sum_sq:e})",
                info.channels[c].name
            ));
        }
    }
    problems
}

#[test]
fn every_golden_recording_matches_mne() {
    let Some(data) = shared_data_dir() else { return };
    let mut problems = Vec::new();
    let mut checked = 0;
    for golden in golden_files() {
        let g: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
        if !data.join(g["file"].as_str().unwrap()).exists() {
            eprintln!("skipped {}: data file absent", golden.display());
            continue;
        }
        problems.extend(check(&golden, &data));
        checked += 1;
    }
    eprintln!("checked {checked} recordings against MNE goldens");
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// pyedflib's view of EDF/BDF files: per-signal header fields and native-rate samples.
#[test]
fn edf_headers_match_pyedflib() {
    let Some(data) = shared_data_dir() else { return };
    let mut problems = Vec::new();
    for golden in golden_files() {
        let g: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
        let py = &g["pyedflib"];
        if py.is_null() || py.get("error").is_some() {
            continue;
        }
        let file = g["file"].as_str().unwrap();
        let Ok(reader) = open_recording(&data.join(file)) else {
            problems.push(format!("{file}: cannot open"));
            continue;
        };
        let info = reader.info();
        let labels: Vec<&str> = py["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if info.channel_names() != labels {
            problems.push(format!(
                "{file}: labels {:?} vs pyedflib {labels:?}",
                info.channel_names()
            ));
        }
        for (c, rate) in info.channels.iter().zip(f64s(&py["sample_frequencies"])) {
            if (c.sfreq - rate).abs() > 1e-9 {
                problems.push(format!("{file}: {} at {} Hz vs pyedflib {rate}", c.name, c.sfreq));
            }
        }
        let anns = py["annotations"].as_array().map_or(0, Vec::len);
        if anns != info.annotations.len() {
            problems.push(format!(
                "{file}: {} annotations vs pyedflib {anns}",
                info.annotations.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// EDF+/BDF+ written by neurodl, as MNE and pyedflib read them.
///
/// `tests/golden/roundtrip/` holds, for every source file and both output formats, what
/// `neurodl convert` produced when the goldens were made (its SHA-256), whether MNE and
/// pyedflib opened it, MNE's reading of it, and MNE's largest difference from the source.
/// Here the same conversion is repeated: the bytes must be identical (so MNE's reading
/// applies to this very file), neurodl must read back what MNE read, and MNE's error
/// against the source must be within the quantisation bound the writer reports.
#[test]
fn files_neurodl_writes_are_read_identically_by_mne() {
    use neurodl_io::edf::{EdfVariant, write_edf};
    let Some(data) = shared_data_dir() else { return };
    let dir = repo_root().join("tests/golden/roundtrip");
    let mut goldens: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("INDEX.json"))
        .collect();
    goldens.sort();
    assert!(!goldens.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for golden_path in goldens {
        let g: Value = serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
        let source = data.join(g["source"].as_str().unwrap());
        if !source.exists() {
            eprintln!("skipped {}: source absent", golden_path.display());
            continue;
        }
        let (variant, ext) = match g["output_format"].as_str().unwrap() {
            "EDF+" => (EdfVariant::EdfPlus, "edf"),
            "BDF+" => (EdfVariant::BdfPlus, "bdf"),
            other => panic!("unknown output format {other}"),
        };
        let name = format!("{}: neurodl → {ext}", g["source"].as_str().unwrap());
        if g["opened"]["mne"] != true || g["opened"]["pyedflib"] != true {
            problems.push(format!(
                "{name}: MNE or pyedflib could not open the file ({})",
                g["opened"]
            ));
        }
        let out = tmp.path().join(format!("x.{ext}"));
        let recording = open_recording(&source).unwrap().read_all().unwrap();
        let report = write_edf(&out, &recording, variant).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        if sha256_hex(&bytes) != g["sha256"].as_str().unwrap() {
            problems.push(format!(
                "{name}: output differs from the file MNE read (writer changed? regenerate the goldens)"
            ));
            continue;
        }
        problems.extend(check_against(&g["mne"], &out, &name));
        let worst = report.max_quantisation_error.iter().copied().fold(0.0, f64::max);
        let mne_error = g["vs_original"]["max_abs_diff"].as_f64().unwrap();
        if mne_error > worst * (1.0 + 1e-6) {
            problems.push(format!(
                "{name}: MNE sees an error of {mne_error:e}, above the writer's bound {worst:e}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
