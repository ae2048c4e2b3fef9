//! EEGLAB `.set` reader: parity with MNE-Python 1.13 on SciPy-written fixtures
//! and on the real sample files, and robustness on malformed input.

use std::path::{Path, PathBuf};

use neurodl_io::eeglab::EeglabReader;
use neurodl_io::{ChannelType, Error, RecordingReader, open_recording};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eeglab")
}

/// A minimal MAT v5 writer, so tests can build `.set` files field by field.
mod mat {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    /// A MATLAB value to write.
    #[derive(Clone)]
    pub enum V {
        /// A double array (dims, column-major values).
        Num(Vec<usize>, Vec<f64>),
        /// A single array.
        Single(Vec<usize>, Vec<f32>),
        /// A `1×N` char array.
        Str(String),
        /// A struct array: dims, field names, values element-major.
        Struct(Vec<usize>, Vec<String>, Vec<V>),
        /// A cell array.
        Cell(Vec<usize>, Vec<V>),
    }

    pub fn num(x: f64) -> V {
        V::Num(vec![1, 1], vec![x])
    }

    pub fn empty() -> V {
        V::Num(vec![0, 0], vec![])
    }

    pub fn s(text: &str) -> V {
        V::Str(text.to_string())
    }

    /// A `1×1` struct.
    pub fn record(fields: &[(&str, V)]) -> V {
        V::Struct(
            vec![1, 1],
            fields.iter().map(|(n, _)| n.to_string()).collect(),
            fields.iter().map(|(_, v)| v.clone()).collect(),
        )
    }

    /// A `1×N` struct array with the same fields in every element.
    pub fn table(names: &[&str], rows: Vec<Vec<V>>) -> V {
        let n = rows.len();
        V::Struct(
            vec![1, n],
            names.iter().map(|s| s.to_string()).collect(),
            rows.into_iter().flatten().collect(),
        )
    }

    fn element(out: &mut Vec<u8>, dtype: u32, data: &[u8]) {
        out.extend_from_slice(&dtype.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
    }

    fn matrix(name: &str, v: &V) -> Vec<u8> {
        let mut body = Vec::new();
        let (class, dims): (u32, Vec<usize>) = match v {
            V::Num(d, _) => (6, d.clone()),
            V::Single(d, _) => (7, d.clone()),
            V::Str(t) => (4, vec![1, t.encode_utf16().count()]),
            V::Struct(d, ..) => (2, d.clone()),
            V::Cell(d, _) => (1, d.clone()),
        };
        let mut flags = class.to_le_bytes().to_vec();
        flags.extend_from_slice(&[0; 4]);
        element(&mut body, 6, &flags);
        let dims: Vec<u8> = dims.iter().flat_map(|&d| (d as i32).to_le_bytes()).collect();
        element(&mut body, 5, &dims);
        element(&mut body, 1, name.as_bytes());
        match v {
            V::Num(_, x) => element(
                &mut body,
                9,
                &x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
            ),
            V::Single(_, x) => element(
                &mut body,
                7,
                &x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
            ),
            V::Str(t) => element(
                &mut body,
                4,
                &t.encode_utf16().flat_map(|u| u.to_le_bytes()).collect::<Vec<_>>(),
            ),
            V::Struct(_, names, values) => {
                element(&mut body, 5, &32i32.to_le_bytes());
                let mut packed = Vec::new();
                for n in names {
                    let mut b = n.as_bytes().to_vec();
                    b.resize(32, 0);
                    packed.extend_from_slice(&b);
                }
                element(&mut body, 1, &packed);
                for value in values {
                    body.extend_from_slice(&matrix("", value));
                }
            }
            V::Cell(_, items) => {
                for item in items {
                    body.extend_from_slice(&matrix("", item));
                }
            }
        }
        let mut out = Vec::new();
        element(&mut out, 14, &body);
        out
    }

    /// A whole MAT-file; each variable zlib-compressed when `compress`.
    pub fn file(vars: &[(&str, V)], compress: bool) -> Vec<u8> {
        let mut out = format!("{:<116}", "MATLAB 5.0 MAT-file, written by neurodl tests").into_bytes();
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&[0x00, 0x01, b'I', b'M']);
        for (name, v) in vars {
            let m = matrix(name, v);
            if compress {
                let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
                z.write_all(&m).expect("in-memory write");
                let z = z.finish().expect("in-memory write");
                out.extend_from_slice(&15u32.to_le_bytes());
                out.extend_from_slice(&(z.len() as u32).to_le_bytes());
                out.extend_from_slice(&z);
            } else {
                out.extend_from_slice(&m);
            }
        }
        out
    }
}

use mat::{V, empty, num, record, s, table};

/// The fields of a small valid dataset: 2 channels, 10 samples at 100 Hz, embedded single data.
fn base_fields() -> Fields {
    let data: Vec<f32> = (0..20).map(|i| i as f32).collect();
    vec![
        ("setname", s("synthetic")),
        ("nbchan", num(2.0)),
        ("trials", num(1.0)),
        ("pnts", num(10.0)),
        ("srate", num(100.0)),
        ("data", V::Single(vec![2, 10], data)),
        (
            "chanlocs",
            table(
                &["labels", "type", "X", "Y", "Z"],
                vec![
                    vec![s("C3"), s("EEG"), num(0.0), num(70.0), num(50.0)],
                    vec![s("C4"), s("EEG"), num(0.0), num(-70.0), num(50.0)],
                ],
            ),
        ),
        (
            "event",
            table(
                &["type", "latency"],
                vec![vec![s("go"), num(2.0)], vec![num(7.0), num(5.0)]],
            ),
        ),
    ]
}

/// The variables of a synthetic `.set`, by name.
type Fields = Vec<(&'static str, V)>;

fn with(fields: Fields, name: &'static str, value: Option<V>) -> Fields {
    let mut out: Vec<_> = fields.into_iter().filter(|(n, _)| *n != name).collect();
    if let Some(v) = value {
        out.push((name, v));
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

fn open_err(path: &Path) -> Error {
    match EeglabReader::open(path) {
        Ok(_) => panic!("{} opened but should not", path.display()),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- synthetic files

#[test]
fn synthetic_dataset_in_both_layouts_and_compressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    for compress in [false, true] {
        let top = write(dir.path(), "top.set", &mat::file(&base_fields(), compress));
        let nested = write(
            dir.path(),
            "nested.set",
            &mat::file(&[("EEG", record(&base_fields()))], compress),
        );
        for path in [top, nested] {
            let mut r = EeglabReader::open(&path).expect("opens");
            let info = r.info().clone();
            assert_eq!(info.channel_names(), ["C3", "C4"]);
            assert_eq!(info.n_samples, 10);
            assert_eq!(info.sfreq, 100.0);
            assert_eq!(
                info.extra.get("eeglab.setname").map(String::as_str),
                Some("synthetic")
            );
            // X=0, Y=±70, Z=50 (mean radius 86 → mm): MNE head frame [-Y, X, Z] in metres.
            assert_eq!(info.channels[0].position, Some([-0.07, 0.0, 0.05]));
            assert_eq!(info.channels[1].position, Some([0.07, 0.0, 0.05]));
            let labels: Vec<_> = info
                .annotations
                .iter()
                .map(|a| (a.onset, a.description.as_str()))
                .collect();
            // Sorted by onset; a double event type prints as Python's float repr.
            assert_eq!(labels, [(0.01, "go"), (0.04, "7.0")]);
            let all = r.read_segment(0, 10, None).expect("reads");
            // Channel-fastest storage: channel c, sample t holds 2t + c (µV).
            assert_eq!(all[[1, 3]], 7.0 * 1e-6);
            let part = r.read_segment(4, 6, Some(&[1])).expect("reads");
            assert_eq!(part.shape(), &[1, 2]);
            assert_eq!(part[[0, 1]], 11.0 * 1e-6);
        }
    }
}

#[test]
fn missing_optional_fields_fall_back_like_mne() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fields = with(
        with(with(base_fields(), "trials", None), "chanlocs", Some(empty())),
        "event",
        None,
    );
    let p = write(dir.path(), "bare.set", &mat::file(&fields, false));
    let r = EeglabReader::open(&p).expect("opens");
    assert_eq!(r.info().channel_names(), ["EEG 000", "EEG 001"]);
    assert!(
        r.info()
            .channels
            .iter()
            .all(|c| c.kind == ChannelType::Eeg && c.position.is_none())
    );
    assert!(r.info().annotations.is_empty());
}

#[test]
fn channel_types_follow_mne_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let locs = table(
        &["labels", "type"],
        vec![vec![s("a"), s(" EOG ")], vec![s("b"), s("bio")]],
    );
    let p = write(
        dir.path(),
        "types.set",
        &mat::file(&with(base_fields(), "chanlocs", Some(locs)), false),
    );
    let r = EeglabReader::open(&p).expect("opens");
    let kinds: Vec<_> = r.info().channels.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChannelType::Eog, ChannelType::Misc]);
}

// ---------------------------------------------------------------- MNE parity on fixtures

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("expected_mne.json")).expect("expected_mne.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

/// A float the fixture script wrote as Python's `repr` (exact; see make_fixtures.py).
fn float(v: &serde_json::Value) -> f64 {
    v.as_str().expect("float as string").parse().expect("float")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(float).collect()
}

/// Everything MNE reports for the SciPy-written fixtures, compared bit for bit.
#[test]
fn fixtures_match_mne_exactly() {
    let exp = expected();
    for name in ["tiny_embedded", "tiny_fdt", "tiny_double", "tiny_epochs"] {
        let e = &exp[name];
        let mut r = EeglabReader::open(&fixtures().join(format!("{name}.set"))).expect(name);
        let rec = r.read_all().expect(name);
        let info = &rec.info;
        assert_eq!(info.channel_names(), strings(&e["ch_names"]), "{name}");
        let kinds: Vec<String> = info.channels.iter().map(|c| c.kind.to_string()).collect();
        assert_eq!(kinds, strings(&e["ch_types"]), "{name}");
        assert_eq!(info.sfreq, float(&e["sfreq"]), "{name}");
        assert_eq!(
            info.n_samples as u64,
            e["n_times"].as_u64().expect("n_times"),
            "{name}"
        );
        for (ch, pos) in info
            .channels
            .iter()
            .zip(e["positions"].as_array().expect("positions"))
        {
            let want = (!pos[0].is_null()).then(|| [float(&pos[0]), float(&pos[1]), float(&pos[2])]);
            assert_eq!(ch.position, want, "{name} {}", ch.name);
        }
        if name != "tiny_epochs" {
            let onsets: Vec<f64> = info.annotations.iter().map(|a| a.onset).collect();
            let durations: Vec<f64> = info.annotations.iter().map(|a| a.duration).collect();
            let labels: Vec<String> = info.annotations.iter().map(|a| a.description.clone()).collect();
            assert_eq!(onsets, floats(&e["onset"]), "{name}");
            assert_eq!(durations, floats(&e["duration"]), "{name}");
            assert_eq!(labels, strings(&e["description"]), "{name}");
        }
        let rows = e["data"].as_array().expect("data");
        for (c, row) in rows.iter().enumerate() {
            let got: Vec<f64> = rec.data.row(c).to_vec();
            assert_eq!(got, floats(row), "{name} channel {c}");
        }
    }
}

#[test]
fn epoched_fixture_gets_trial_boundaries() {
    let r = EeglabReader::open(&fixtures().join("tiny_epochs.set")).expect("opens");
    let info = r.info();
    let got: Vec<_> = info
        .annotations
        .iter()
        .map(|a| (a.onset, a.duration, a.description.as_str()))
        .collect();
    // 4 trials of 50 points at 25 Hz: boundaries at 2, 4, 6 s; "cue" at latency 11 + 50k.
    assert_eq!(
        got,
        [
            (0.4, 0.0, "cue"),
            (2.0, 0.0, "boundary"),
            (2.4, 0.0, "cue"),
            (4.0, 0.0, "boundary"),
            (4.4, 0.0, "cue"),
            (6.0, 0.0, "boundary"),
            (6.4, 0.0, "cue"),
        ]
    );
    assert_eq!(info.extra["eeglab.trials"], "4");
    assert_eq!(info.extra["eeglab.pnts"], "50");
    assert_eq!(info.extra["eeglab.xmin"], "-0.4");
}

#[test]
fn open_recording_dispatches_set_files() {
    let r = open_recording(&fixtures().join("tiny_fdt.set")).expect("opens");
    assert_eq!(r.info().format, neurodl_io::Format::Eeglab);
    assert_eq!(r.info().n_samples, 150);
}

// ---------------------------------------------------------------- real files

fn eeglab_dir() -> Option<PathBuf> {
    Some(neurodl_io::testdata::shared_data_dir()?.join("eeg/eeglab"))
}

fn close(got: f64, want: f64) -> bool {
    // The .fdt holds float32: 1e-7 relative covers a rounding in either direction.
    (got - want).abs() <= 1e-7 * want.abs().max(1e-12)
}

#[test]
fn real_continuous_dataset_matches_mne() {
    let Some(dir) = eeglab_dir() else { return };
    let mut r = EeglabReader::open(&dir.join("eeglab_data.set")).expect("opens");
    let info = r.info().clone();
    assert_eq!(info.channels.len(), 32);
    assert_eq!(info.sfreq, 128.0);
    assert_eq!(info.n_samples, 30504);
    assert_eq!(info.meas_date, None);
    let names = info.channel_names();
    assert_eq!(names[..6], ["FPz", "EOG1", "F3", "Fz", "F4", "EOG2"]);
    assert_eq!(names[31], "O2");
    // The chanlocs have no `type`, so MNE makes every channel EEG, EOG1/EOG2 included.
    assert!(info.channels.iter().all(|c| c.kind == ChannelType::Eeg));
    // Positions from raw.info['chs'][i]['loc'][:3] (unit-sphere coordinates read as dm).
    let pos = |i: usize| info.channels[i].position.expect("position");
    assert_eq!(pos(0), [0.0, 0.09997791456291533, -0.00210157075788675]);
    assert_eq!(
        pos(1),
        [0.030873815966700958, 0.07273415238715962, -0.06129070536529764]
    );
    assert_eq!(
        pos(31),
        [0.03075135273962948, -0.09503785394710382, -0.004707506963547231]
    );

    assert_eq!(info.annotations.len(), 154);
    assert_eq!(
        info.annotation_counts().into_iter().collect::<Vec<_>>(),
        [("rt", 74), ("square", 80)]
    );
    let a = &info.annotations;
    assert_eq!(
        (a[0].onset, a[0].duration, a[0].description.as_str()),
        (1.000068, 0.0, "square")
    );
    assert_eq!((a[2].onset, a[2].description.as_str()), (2.082407, "rt"));
    assert_eq!((a[153].onset, a[153].description.as_str()), (236.753787, "rt"));

    let head = r.read_segment(0, 3, Some(&[0])).expect("reads");
    for (got, want) in head.iter().zip([
        -3.57974853515625e-05,
        -2.1326353073120117e-05,
        -2.6281789779663084e-05,
    ]) {
        assert!(close(*got, want), "{got} vs {want}");
    }
    let tail = r.read_segment(30501, 30504, Some(&[31])).expect("reads");
    for (got, want) in tail.iter().zip([
        1.772532272338867e-05,
        9.556386947631836e-06,
        1.2871612548828124e-05,
    ]) {
        assert!(close(*got, want), "{got} vs {want}");
    }
    // A window equals the same slice of the whole recording.
    let all = r.read_all().expect("reads").data;
    let window = r.read_segment(1000, 1500, Some(&[5, 2])).expect("reads");
    assert_eq!(window.row(0), all.row(5).slice(ndarray::s![1000..1500]));
    assert_eq!(window.row(1), all.row(2).slice(ndarray::s![1000..1500]));
}

#[test]
fn real_numerical_events_print_like_mne() {
    let Some(dir) = eeglab_dir() else { return };
    let r = EeglabReader::open(&dir.join("test_data/eeglab_data_numerical_events.set")).expect("opens");
    let info = r.info();
    assert_eq!(info.annotations.len(), 154);
    // Stored as uint8, so Python prints `1`, not `1.0`.
    assert_eq!(
        info.annotation_counts().into_iter().collect::<Vec<_>>(),
        [("1", 80), ("2", 74)]
    );
    assert_eq!(info.annotations[0].onset, 1.000068);
    assert_eq!(info.annotations[153].onset, 236.753787);
}

#[test]
fn real_embedded_dataset_matches_mne() {
    let Some(dir) = eeglab_dir() else { return };
    let path = dir.join("test_data/BIDS_test/derivatives/eeglab/sub-S1/ses-01/eeg/sub-S1_ses-01_task-Experiment_run-01_eeg.set");
    let mut r = EeglabReader::open(&path).expect("opens");
    let info = r.info().clone();
    assert_eq!(info.channels.len(), 15);
    assert_eq!(info.sfreq, 256.0);
    assert_eq!(info.n_samples, 15360);
    assert_eq!(info.channel_names()[..3], ["Fp1", "AF7", "AF3"]);
    assert_eq!(info.channel_names()[14], "T7");
    assert_eq!(
        info.channels[0].position,
        Some([-0.029436700000000003, 0.0839171, -0.006990000000000001])
    );
    assert_eq!(info.subject.id.as_deref(), Some("sub-S1"));
    assert_eq!(info.session.as_deref(), Some("1"));
    assert_eq!(info.meas_date, None);
    assert_eq!(info.extra["eeglab.T0"], "1997-04-25T13:36:05");
    let a = &info.annotations;
    assert_eq!(a.len(), 55);
    let first: Vec<_> = a[..4].iter().map(|x| (x.onset, x.description.as_str())).collect();
    assert_eq!(
        first,
        [
            (0.0, "65517.66796875"),
            (1.0, "65516"),
            (2.0, "65515"),
            (3.0, "65514.66796875")
        ]
    );
    assert_eq!(
        (a[54].onset, a[54].description.as_str()),
        (59.0, "65514.66796875")
    );
    assert!(a.iter().any(|x| x.description == "12.333333015441895"));
    let d = r.read_segment(0, 3, Some(&[0])).expect("reads");
    assert_eq!(d.row(0).to_vec(), [5.333333492279053e-06; 3]);
    let d = r.read_segment(15357, 15360, Some(&[14])).expect("reads");
    assert_eq!(d.row(0).to_vec(), [-3.3333332061767576e-05; 3]);
}

#[test]
fn real_epoched_dataset_concatenates_trials() {
    let Some(dir) = eeglab_dir() else { return };
    let mut r = EeglabReader::open(&dir.join("eeglab_data_epochs_ica.set")).expect("opens");
    let info = r.info().clone();
    assert_eq!((info.channels.len(), info.n_samples), (32, 384 * 80));
    assert_eq!(info.extra["eeglab.trials"], "80");
    assert_eq!(info.extra["eeglab.pnts"], "384");
    // chanlocs type "EOG": MNE types them EOG and gives them no position.
    assert_eq!(info.channels[1].kind, ChannelType::Eog);
    assert_eq!(info.channels[1].position, None);
    assert_eq!(
        info.channels[0].position,
        Some([0.0, 0.08498123361344626, -0.0017860385037488254])
    );
    let counts = info.annotation_counts();
    assert_eq!(counts["boundary"], 79);
    assert_eq!(counts["square"] + counts["rt"], 157);
    assert_eq!(info.annotations[3].onset, 3.0); // the first trial boundary: 384 / 128 Hz
    // mne.read_epochs_eeglab(...).get_data()[trial, channel, :3] for trials 0 and 79.
    let first = r.read_segment(0, 3, Some(&[0])).expect("reads");
    for (g, w) in first.iter().zip([2.99720556e-07, 1.47708530e-05, 9.81541634e-06]) {
        assert!((g - w).abs() < 1e-13, "{g} vs {w}");
    }
    let last = r
        .read_segment(384 * 80 - 3, 384 * 80, Some(&[31]))
        .expect("reads");
    for (g, w) in last
        .iter()
        .zip([-1.35089607e-05, -7.37998772e-06, -1.55489235e-05])
    {
        assert!((g - w).abs() < 1e-13, "{g} vs {w}");
    }
}

// ---------------------------------------------------------------- bad input

#[test]
fn invalid_fields_are_reported_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (file stem, fields, text naming the field, text naming the problem)
    let cases: Vec<(&str, Fields, &str, &str)> = vec![
        (
            "no-nbchan",
            with(base_fields(), "nbchan", None),
            "nbchan",
            "missing",
        ),
        ("no-srate", with(base_fields(), "srate", None), "srate", "missing"),
        ("no-data", with(base_fields(), "data", None), "data", "missing"),
        (
            "zero-srate",
            with(base_fields(), "srate", Some(num(0.0))),
            "srate",
            "positive",
        ),
        (
            "neg-srate",
            with(base_fields(), "srate", Some(num(-128.0))),
            "srate",
            "positive",
        ),
        (
            "nan-srate",
            with(base_fields(), "srate", Some(num(f64::NAN))),
            "srate",
            "positive",
        ),
        (
            "text-srate",
            with(base_fields(), "srate", Some(s("fast"))),
            "srate",
            "one number",
        ),
        (
            "frac-nbchan",
            with(base_fields(), "nbchan", Some(num(2.5))),
            "nbchan",
            "whole",
        ),
        (
            "zero-pnts",
            with(base_fields(), "pnts", Some(num(0.0))),
            "pnts",
            "positive",
        ),
        (
            "nbchan-vs-data",
            with(base_fields(), "nbchan", Some(num(3.0))),
            "chanlocs",
            "nbchan is 3",
        ),
        (
            "data-shape",
            with(base_fields(), "pnts", Some(num(11.0))),
            "data",
            "nbchan × pnts × trials",
        ),
        (
            "chanlocs-count",
            with(
                base_fields(),
                "chanlocs",
                Some(table(&["labels"], vec![vec![s("a")], vec![s("b")], vec![s("c")]])),
            ),
            "chanlocs",
            "3 channels",
        ),
        (
            "label-number",
            with(
                base_fields(),
                "chanlocs",
                Some(table(&["labels"], vec![vec![s("a")], vec![num(1.0)]])),
            ),
            "chanlocs(2).labels",
            "channel name",
        ),
        (
            "latency-text",
            with(
                base_fields(),
                "event",
                Some(table(&["type", "latency"], vec![vec![s("x"), s("1")]])),
            ),
            "event(1).latency",
            "number",
        ),
        (
            "latency-negative",
            with(
                base_fields(),
                "event",
                Some(table(&["type", "latency"], vec![vec![s("x"), num(-5.0)]])),
            ),
            "latency",
            "before the first sample",
        ),
        (
            "type-cell",
            with(
                base_fields(),
                "event",
                Some(table(
                    &["type", "latency"],
                    vec![vec![V::Cell(vec![1, 1], vec![s("x")]), num(1.0)]],
                )),
            ),
            "event(1).type",
            "text or a number",
        ),
        (
            "duration-negative",
            with(
                base_fields(),
                "event",
                Some(table(
                    &["type", "latency", "duration"],
                    vec![vec![s("x"), num(3.0), num(-2.0)]],
                )),
            ),
            "event(1).duration",
            "negative",
        ),
        (
            "event-no-type",
            with(
                base_fields(),
                "event",
                Some(table(&["latency"], vec![vec![num(1.0)]])),
            ),
            "event",
            "`type`",
        ),
        (
            "data-struct",
            with(base_fields(), "data", Some(record(&[("x", num(1.0))]))),
            "data",
            "found",
        ),
        (
            "data-dat",
            with(base_fields(), "data", Some(s("old.dat"))),
            "data",
            ".dat",
        ),
        (
            "data-txt",
            with(base_fields(), "data", Some(s("x.txt"))),
            "data",
            ".fdt",
        ),
    ];
    for (name, fields, field, problem) in cases {
        let p = write(dir.path(), &format!("{name}.set"), &mat::file(&fields, false));
        let msg = open_err(&p).to_string();
        assert!(msg.contains(&format!("{name}.set")), "{name}: {msg}");
        assert!(msg.contains(field) && msg.contains(problem), "{name}: {msg}");
    }
    // In the old layout the field path carries the struct name.
    let nested = mat::file(
        &[("EEG", record(&with(base_fields(), "srate", Some(num(0.0)))))],
        true,
    );
    let msg = open_err(&write(dir.path(), "old.set", &nested)).to_string();
    assert!(msg.contains("old.set: EEG.srate:"), "{msg}");
}

fn fdt_dataset(dir: &Path, fdt_name: &str) -> PathBuf {
    let fields = with(base_fields(), "data", Some(s(fdt_name)));
    write(dir, "rec.set", &mat::file(&[("EEG", record(&fields))], false))
}

#[test]
fn missing_fdt_names_the_expected_path_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = fdt_dataset(dir.path(), "gone.fdt");
    let msg = open_err(&set).to_string();
    assert!(msg.contains("rec.set: EEG.data:"), "{msg}");
    assert!(
        msg.contains(&dir.path().join("gone.fdt").display().to_string()),
        "{msg}"
    );
    // Like MNE, a renamed .fdt is found under the .set's own name.
    let samples: Vec<u8> = (0..20).flat_map(|i| (i as f32).to_le_bytes()).collect();
    write(dir.path(), "rec.fdt", &samples);
    let mut r = EeglabReader::open(&set).expect("falls back to rec.fdt");
    assert_eq!(
        r.read_segment(9, 10, None).expect("reads").column(0).to_vec(),
        [18.0 * 1e-6, 19.0 * 1e-6]
    );
}

#[test]
fn short_or_truncated_fdt_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = fdt_dataset(dir.path(), "rec.fdt");
    let full: Vec<u8> = (0..20).flat_map(|i| (i as f32).to_le_bytes()).collect();
    for len in 0..full.len() {
        write(dir.path(), "rec.fdt", &full[..len]);
        let msg = open_err(&set).to_string();
        assert!(
            msg.contains("rec.fdt") && msg.contains("data") && msg.contains("80"),
            "{len}: {msg}"
        );
    }
    // A longer file is accepted (MNE ignores the excess too).
    let mut longer = full.clone();
    longer.extend_from_slice(&[0; 12]);
    write(dir.path(), "rec.fdt", &longer);
    let mut r = EeglabReader::open(&set).expect("opens");
    // Shrinking the .fdt after opening is an error on read, not a panic.
    write(dir.path(), "rec.fdt", &full[..40]);
    let err = r.read_segment(0, 10, None).expect_err("file shrank");
    assert!(err.to_string().contains("rec.fdt"), "{err}");
}

#[test]
fn mat_v73_and_garbage_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hdf = format!(
        "{:<116}",
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00"
    )
    .into_bytes();
    hdf.extend_from_slice(&[0; 8]);
    hdf.extend_from_slice(&[0x00, 0x02, b'I', b'M']);
    hdf.resize(512, 0);
    hdf.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    hdf.resize(2048, 0);
    let msg = open_err(&write(dir.path(), "v73.set", &hdf)).to_string();
    assert!(
        msg.contains("v73.set") && msg.contains("v7.3") && msg.contains("-v7"),
        "{msg}"
    );
    for (name, bytes) in [("empty.set", &b""[..]), ("text.set", &b"EEG = struct();\n"[..])] {
        let e = open_err(&write(dir.path(), name, bytes));
        assert!(e.to_string().contains(name), "{e}");
    }
    let missing = dir.path().join("absent.set");
    assert!(matches!(open_err(&missing), Error::Io { .. }));
}

/// Reads every sample of `path` when it opens; returns whether it opened.
fn open_and_read(path: &Path) -> bool {
    match EeglabReader::open(path) {
        Ok(mut r) => {
            let n = r.info().n_samples;
            let _ = r.read_segment(0, n, None);
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()) || msg.contains(".fdt"),
                "{msg}"
            );
            false
        }
    }
}

#[test]
fn truncated_set_files_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sources = vec![
        std::fs::read(fixtures().join("tiny_embedded.set")).expect("fixture"),
        mat::file(&base_fields(), false),
        mat::file(&base_fields(), true),
    ];
    if let Some(real) = eeglab_dir() {
        sources.push(std::fs::read(real.join("eeglab_data.set")).expect("real file"));
    }
    for bytes in sources {
        // Every length for small files, ~300 evenly spread for large ones.
        let step = (bytes.len() / 300).max(1);
        let mut opened = Vec::new();
        for len in (0..bytes.len()).step_by(step) {
            let p = write(dir.path(), "cut.set", &bytes[..len]);
            if open_and_read(&p) {
                opened.push(len);
            }
        }
        // Only a cut right after the last required variable (dropping just `event`) is a valid dataset.
        assert!(opened.len() <= 1, "prefixes of {:?} bytes opened", opened);
    }
}

/// Deterministic xorshift, so a failing mutation can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let originals = [
        ("header-and-tags", mat::file(&base_fields(), false)),
        ("compressed", mat::file(&base_fields(), true)),
        (
            "fixture",
            std::fs::read(fixtures().join("tiny_fdt.set")).expect("fixture"),
        ),
    ];
    std::fs::copy(fixtures().join("tiny_fdt.fdt"), dir.path().join("tiny_fdt.fdt")).expect("copy fdt");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut opened, mut failed) = (0, 0);
    for (label, bytes) in &originals {
        for case in 0..400 {
            let mut b = bytes.clone();
            // Half the cases aim at the header and the first tags, where a flip changes the structure.
            let span = if case % 2 == 0 { 256.min(b.len()) } else { b.len() };
            for _ in 0..1 + rng.next() % 3 {
                let at = (rng.next() as usize) % span;
                b[at] ^= (rng.next() % 255 + 1) as u8;
            }
            let p = write(dir.path(), "tiny_fdt.set", &b);
            let result = std::panic::catch_unwind(|| open_and_read(&p));
            match result {
                Ok(true) => opened += 1,
                Ok(false) => failed += 1,
                Err(_) => panic!("{label} case {case} panicked"),
            }
        }
    }
    // Flips in header text, padding or sample values are benign; structural ones are errors.
    assert!(opened > 0 && failed > 0, "opened {opened}, failed {failed}");
}

#[test]
fn reader_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<EeglabReader>();
}

#[test]
fn read_segment_checks_its_arguments() {
    let mut r = EeglabReader::open(&fixtures().join("tiny_fdt.set")).expect("opens");
    assert!(matches!(
        r.read_segment(10, 5, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        r.read_segment(0, 151, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        r.read_segment(0, 1, Some(&[3])),
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(r.read_segment(5, 5, None).expect("empty window").shape(), &[3, 0]);
}
