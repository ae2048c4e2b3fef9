//! EDF/EDF+/BDF/BDF+: writer round trips on synthetic recordings, lazy reads, and
//! systematic corruption of valid files (every header field, truncation at many
//! lengths, random byte flips) — bad input must give an error naming the file and
//! the field, never a panic and never silently wrong samples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ndarray::Array2;
use neurodl_io::edf::{EdfReader, EdfVariant, write_edf};
use neurodl_io::testdata::shared_data_dir;
use neurodl_io::{
    Annotation, ChannelInfo, ChannelType, Error, Format, Recording, RecordingInfo, RecordingReader,
    SubjectInfo, open_recording,
};
use proptest::prelude::*;

/// A 3-channel recording with a stimulus channel, 2.5 s at 200 Hz, and annotations.
fn synthetic(n_samples: usize) -> Recording {
    let sfreq = 200.0;
    let channel = |name: &str, kind: ChannelType, unit: &str| ChannelInfo {
        name: name.into(),
        kind,
        unit: unit.into(),
        sfreq,
        position: None,
    };
    let channels = vec![
        channel("Fz", ChannelType::Eeg, "V"),
        channel("EOG left", ChannelType::Eog, "V"),
        channel("Status", ChannelType::Stim, ""),
    ];
    let data = Array2::from_shape_fn((3, n_samples), |(c, j)| {
        let t = j as f64 / sfreq;
        match c {
            0 => 40e-6 * (2.0 * std::f64::consts::PI * 10.0 * t).sin() + 3e-6 * (j % 7) as f64,
            1 => -150e-6 + 1e-6 * (j as f64).sqrt(),
            _ => ((j / 50) % 4) as f64,
        }
    });
    let info = RecordingInfo {
        format: Format::EdfPlus,
        path: PathBuf::from("synthetic"),
        channels,
        sfreq,
        n_samples,
        meas_date: NaiveDate::from_ymd_opt(2024, 3, 9)
            .unwrap()
            .and_hms_opt(14, 5, 30),
        subject: SubjectInfo {
            id: Some("P01".into()),
            sex: Some("F".into()),
            birth_date: NaiveDate::from_ymd_opt(1990, 1, 31),
            extra: BTreeMap::new(),
        },
        session: None,
        annotations: vec![
            Annotation {
                onset: 0.25,
                duration: 0.0,
                description: "T1".into(),
            },
            Annotation {
                onset: 1.005,
                duration: 0.5,
                description: "Stimulus/S  1".into(),
            },
            Annotation {
                onset: 2.4,
                duration: 0.0,
                description: "réponse".into(),
            },
        ],
        extra: BTreeMap::new(),
        warnings: Vec::new(),
    };
    Recording { info, data }
}

fn write_synthetic(dir: &Path, name: &str, variant: EdfVariant, n_samples: usize) -> (PathBuf, Recording) {
    let rec = synthetic(n_samples);
    let path = dir.join(name);
    write_edf(&path, &rec, variant).unwrap();
    (path, rec)
}

#[test]
fn edf_plus_round_trip_keeps_channels_values_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    for (variant, name, format) in [
        (EdfVariant::EdfPlus, "x.edf", Format::EdfPlus),
        (EdfVariant::BdfPlus, "x.bdf", Format::BdfPlus),
    ] {
        let rec = synthetic(500);
        let path = dir.path().join(name);
        let report = write_edf(&path, &rec, variant).unwrap();
        assert_eq!(report.padded_samples, 0);
        let mut reader = open_recording(&path).unwrap();
        let info = reader.info().clone();
        assert_eq!(info.format, format);
        assert_eq!(info.channel_names(), ["Fz", "EOG left", "Status"]);
        assert_eq!(
            info.channels.iter().map(|c| c.kind).collect::<Vec<_>>(),
            [ChannelType::Eeg, ChannelType::Eog, ChannelType::Stim]
        );
        assert_eq!((info.sfreq, info.n_samples), (200.0, 500));
        assert_eq!(info.meas_date, rec.info.meas_date);
        assert_eq!(info.subject.id.as_deref(), Some("P01"));
        assert_eq!(info.subject.birth_date, rec.info.subject.birth_date);
        assert_eq!(info.annotations, rec.info.annotations);
        let back = reader.read_all().unwrap().data;
        for c in 0..3 {
            let bound = report.max_quantisation_error[c] * (1.0 + 1e-9) + 1e-15;
            for j in 0..500 {
                let err = (back[[c, j]] - rec.data[[c, j]]).abs();
                assert!(err <= bound, "{name} ch{c} sample {j}: error {err:e} > {bound:e}");
            }
        }
        // The stimulus codes come back exactly.
        assert_eq!(back.row(2), rec.data.row(2));
    }
}

#[test]
fn length_not_divisible_by_any_record_is_padded_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    // 401 is prime: no record length in 0.25..1 s divides it.
    let rec = synthetic(401);
    let path = dir.path().join("p.edf");
    let report = write_edf(&path, &rec, EdfVariant::EdfPlus).unwrap();
    let reader = open_recording(&path).unwrap();
    assert_eq!(reader.info().n_samples, 401 + report.padded_samples);
    assert!(report.padded_samples > 0);
}

#[test]
fn segments_equal_the_full_read_for_any_range_and_picks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_synthetic(dir.path(), "s.bdf", EdfVariant::BdfPlus, 1000);
    let mut reader = EdfReader::open(&path).unwrap();
    let all = reader.read_all().unwrap().data;
    for (start, stop) in [
        (0, 1),
        (0, 1000),
        (199, 201),
        (200, 400),
        (999, 1000),
        (500, 500),
        (13, 977),
    ] {
        for picks in [vec![0usize], vec![2, 0], vec![1, 1]] {
            let seg = reader.read_segment(start, stop, Some(&picks)).unwrap();
            for (i, &p) in picks.iter().enumerate() {
                assert_eq!(
                    seg.row(i),
                    all.slice(ndarray::s![p, start..stop]),
                    "{start}..{stop} pick {p}"
                );
            }
        }
    }
    assert!(matches!(
        reader.read_segment(0, 1001, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        reader.read_segment(5, 4, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        reader.read_segment(0, 10, Some(&[3])),
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn writer_refuses_what_edf_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = synthetic(200);
    rec.data[[1, 17]] = f64::NAN;
    let err = write_edf(&dir.path().join("nan.edf"), &rec, EdfVariant::EdfPlus).unwrap_err();
    assert!(
        err.to_string().contains("EOG left") && err.to_string().contains("sample 17"),
        "{err}"
    );
    let mut rec = synthetic(200);
    rec.info.channels[0].name = "A very long channel label".into();
    let err = write_edf(&dir.path().join("long.edf"), &rec, EdfVariant::EdfPlus).unwrap_err();
    assert!(err.to_string().contains("A very long channel label"), "{err}");
    // Nothing, not even a temporary file, is left behind by a refused write.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// EDF header fields: (name as errors spell it, byte offset, length) for the fixed part.
const FIXED_FIELDS: [(&str, usize, usize); 10] = [
    ("version", 0, 8),
    ("patient_id", 8, 80),
    ("recording_id", 88, 80),
    ("start_date", 168, 8),
    ("start_time", 176, 8),
    ("header_bytes", 184, 8),
    ("reserved", 192, 44),
    ("n_records", 236, 8),
    ("record_duration", 244, 8),
    ("n_signals", 252, 4),
];

/// Per-signal fields, with their width.
const SIGNAL_FIELDS: [(&str, usize); 10] = [
    ("label", 16),
    ("transducer", 80),
    ("physical_dimension", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefiltering", 80),
    ("samples_per_record", 8),
    ("reserved", 32),
];

fn signal_field_offset(n_signals: usize, field: usize, signal: usize) -> usize {
    256 + SIGNAL_FIELDS[..field]
        .iter()
        .map(|(_, w)| w * n_signals)
        .sum::<usize>()
        + SIGNAL_FIELDS[field].1 * signal
}

fn put(bytes: &mut [u8], offset: usize, len: usize, value: &[u8]) {
    let mut field = value.to_vec();
    field.resize(len, b' ');
    bytes[offset..offset + len].copy_from_slice(&field[..len]);
}

/// Opens `bytes` as a file and reads every sample; Ok only if both succeed.
fn open_and_read(dir: &Path, name: &str, bytes: &[u8]) -> Result<Recording, Error> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut reader = open_recording(&path)?;
    reader.read_all()
}

const GARBAGE: [&[u8]; 9] = [
    b"",
    b"abc",
    b"-1",
    b"0",
    b"99999999",
    b"1e400",
    b"NaN",
    b"\xff\xfe\x00",
    b"-0.5",
];

/// Fields whose corruption must be caught, and the garbage values that must fail
/// (others may be legitimately readable, e.g. `-1` records = unknown).
fn must_fail(name: &str, field: &str, value: &[u8]) -> bool {
    match field {
        "version" => value != b"0" || name.ends_with(".bdf"),
        "header_bytes" | "n_signals" => true,
        "n_records" => value != b"-1",
        "record_duration" => value != b"99999999", // a long record is valid, just a different rate
        "physical_min" | "physical_max" | "digital_min" | "digital_max" => {
            matches!(value, b"" | b"abc" | b"1e400" | b"NaN" | b"\xff\xfe\x00")
        }
        "samples_per_record" => true,
        _ => false,
    }
}

fn corrupt_every_field(original: &[u8], dir: &Path, name: &str) {
    let n_signals: usize = String::from_utf8_lossy(&original[252..256])
        .trim()
        .parse()
        .unwrap();
    let reference = open_and_read(dir, &format!("ref-{name}"), original).unwrap();
    let mut cases: Vec<(String, usize, usize)> = FIXED_FIELDS
        .iter()
        .map(|&(f, o, l)| (f.to_string(), o, l))
        .collect();
    for (k, &(field, width)) in SIGNAL_FIELDS.iter().enumerate() {
        for s in [0, n_signals - 1] {
            cases.push((field.to_string(), signal_field_offset(n_signals, k, s), width));
        }
    }
    for (field, offset, len) in cases {
        for value in GARBAGE {
            let mut bytes = original.to_vec();
            put(&mut bytes, offset, len, value);
            let result = open_and_read(dir, name, &bytes);
            let shown = String::from_utf8_lossy(value);
            match &result {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(name),
                        "{field}={shown:?}: error does not name the file: {msg}"
                    );
                    if must_fail(name, &field, value) && !matches!(e, Error::Io { .. }) {
                        assert!(
                            msg.contains(&field) || msg.contains("data record") || msg.contains("version"),
                            "{field}={shown:?}: error does not name the field: {msg}"
                        );
                    }
                }
                Ok(rec) => {
                    assert!(!must_fail(name, &field, value), "{field}={shown:?} was accepted");
                    // A benign change (text fields) must not change any sample.
                    if !matches!(
                        field.as_str(),
                        "physical_min"
                            | "physical_max"
                            | "digital_min"
                            | "digital_max"
                            | "record_duration"
                            | "label"
                            | "physical_dimension"
                            | "n_records"
                    ) {
                        assert_eq!(rec.data, reference.data, "{field}={shown:?} changed samples");
                    }
                }
            }
        }
    }
}

fn truncate_at_many_lengths(
    original: &[u8],
    dir: &Path,
    name: &str,
    header_len: usize,
    record_count_known: bool,
) {
    let len = original.len();
    let mut cuts = vec![
        0,
        1,
        7,
        100,
        255,
        256,
        257,
        header_len - 1,
        header_len,
        header_len + 1,
    ];
    cuts.extend((1..10).map(|k| header_len + (len - header_len) * k / 10));
    cuts.push(len - 1);
    for cut in cuts {
        let result = open_and_read(dir, name, &original[..cut]);
        match result {
            Err(e) => assert!(e.to_string().contains(name), "cut at {cut}: {e}"),
            Ok(rec) => {
                // Only a file that does not state its record count may be shortened: then
                // what is read must be an exact prefix of the original.
                assert!(
                    !record_count_known,
                    "truncated at {cut} of {len} bytes but accepted"
                );
                let full = open_and_read(dir, &format!("full-{name}"), original).unwrap();
                let n = rec.info.n_samples;
                assert!(n < full.info.n_samples);
                assert_eq!(rec.data, full.data.slice(ndarray::s![.., ..n]), "cut at {cut}");
            }
        }
    }
}

#[test]
fn corrupted_synthetic_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for (variant, name) in [(EdfVariant::EdfPlus, "syn.edf"), (EdfVariant::BdfPlus, "syn.bdf")] {
        let (path, _) = write_synthetic(dir.path(), &format!("orig-{name}"), variant, 400);
        let bytes = std::fs::read(&path).unwrap();
        corrupt_every_field(&bytes, dir.path(), name);
        truncate_at_many_lengths(&bytes, dir.path(), name, 256 * 5, true);
    }
}

#[test]
fn corrupted_real_files_fail_cleanly() {
    let Some(data) = shared_data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (rel, name, known) in [
        ("eeg/eegmmidb/S001R04.edf", "r04.edf", true),
        ("eeg/eeglab/test_data/test.edf", "test.edf", true),
        // test.bdf says n_records = -1: shortening it is readable, as an exact prefix.
        ("eeg/eeglab/test_data/test.bdf", "test.bdf", false),
    ] {
        let path = data.join(rel);
        if !path.exists() {
            eprintln!("skipped {rel}: absent");
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let n_signals: usize = String::from_utf8_lossy(&bytes[252..256]).trim().parse().unwrap();
        corrupt_every_field(&bytes, dir.path(), name);
        truncate_at_many_lengths(&bytes, dir.path(), name, 256 * (n_signals + 1), known);
    }
}

#[test]
fn record_count_disagreeing_with_file_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_synthetic(dir.path(), "n.edf", EdfVariant::EdfPlus, 400);
    let mut bytes = std::fs::read(&path).unwrap();
    put(&mut bytes, 236, 8, b"1");
    let err = open_and_read(dir.path(), "n1.edf", &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("n1.edf") && err.contains("header.n_records") && err.contains("disagrees"),
        "{err}"
    );
    put(&mut bytes, 236, 8, b"9");
    let err = open_and_read(dir.path(), "n9.edf", &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn zero_sampling_rate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_synthetic(dir.path(), "z.edf", EdfVariant::EdfPlus, 400);
    let mut bytes = std::fs::read(&path).unwrap();
    let off = signal_field_offset(4, 8, 1);
    put(&mut bytes, off, 8, b"0");
    let err = open_and_read(dir.path(), "z0.edf", &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("signal[1].samples_per_record") && err.contains("sampling rate"),
        "{err}"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    put(&mut bytes, 244, 8, b"-1");
    let err = open_and_read(dir.path(), "neg.edf", &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("header.record_duration"), "{err}");
}

#[test]
fn header_quirks_seen_in_the_wild_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (path, rec) = write_synthetic(dir.path(), "q.edf", EdfVariant::EdfPlus, 400);
    let mut bytes = std::fs::read(&path).unwrap();
    // Lowercase label, Latin-1 byte in a label, NUL padding, decimal comma, `-1` records.
    put(&mut bytes, signal_field_offset(4, 0, 0), 16, b"fz\0\0");
    put(&mut bytes, signal_field_offset(4, 0, 1), 16, b"EOG l\xe9ft");
    put(&mut bytes, signal_field_offset(4, 3, 0), 8, b"-1000,5");
    put(&mut bytes, 236, 8, b"-1");
    let got = open_and_read(dir.path(), "quirks.edf", &bytes).unwrap();
    assert_eq!(got.info.channel_names(), ["fz", "EOG léft", "Status"]);
    assert_eq!(got.info.n_samples, 400);
    assert!(got.info.warnings.iter().any(|w| w.contains("n_records is -1")));
    // The other channels are untouched by the change to channel 0's range.
    assert_eq!(got.data.row(2), rec.data.row(2));
}

#[test]
fn discontinuous_edf_plus_maps_annotations_onto_the_concatenated_time_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_synthetic(dir.path(), "d.edf", EdfVariant::EdfPlus, 400);
    let mut bytes = std::fs::read(&path).unwrap();
    let header_len = 256 * 5;
    let record_bytes = (bytes.len() - header_len) / 2;
    put(&mut bytes, 192, 44, b"EDF+D");
    // Move the second record (t = 1 s) to t = 11 s, with its annotation.
    let tal_offset = header_len + record_bytes + 3 * 200 * 2;
    let tal_len = record_bytes - 3 * 200 * 2;
    let mut tal = b"+11\x14\x14\x00+11.005\x150.5\x14Stimulus/S  1\x14\x00".to_vec();
    tal.resize(tal_len, 0);
    bytes[tal_offset..tal_offset + tal_len].copy_from_slice(&tal);
    let got = open_and_read(dir.path(), "disc.edf", &bytes).unwrap();
    let descs: Vec<(&str, f64)> = got
        .info
        .annotations
        .iter()
        .map(|a| (a.description.as_str(), a.onset))
        .collect();
    assert!(
        descs.contains(&("BAD boundary", 1.0)) && descs.contains(&("EDGE boundary", 1.0)),
        "{descs:?}"
    );
    let stim = got
        .info
        .annotations
        .iter()
        .find(|a| a.description == "Stimulus/S  1")
        .unwrap();
    assert!((stim.onset - 1.005).abs() < 1e-9, "{stim:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random byte flips anywhere in the header or the annotation signal never panic,
    /// and an error always names the file.
    #[test]
    fn random_byte_flips_never_panic(flips in proptest::collection::vec((0usize..4000, any::<u8>()), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_synthetic(dir.path(), "f.edf", EdfVariant::EdfPlus, 400);
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        for (pos, value) in flips {
            // Bias half the flips into the header, where the structure lives.
            let pos = if pos % 2 == 0 { pos % 1280 } else { pos % len };
            bytes[pos] = value;
        }
        if let Err(e) = open_and_read(dir.path(), "flipped.edf", &bytes) {
            prop_assert!(e.to_string().contains("flipped.edf"), "{}", e);
        }
    }
}

#[test]
fn event_codes_too_wide_for_edf_are_reported_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = synthetic(400);
    // BioSemi status words use 17+ bits; EDF stores 16.
    rec.data
        .row_mut(2)
        .iter_mut()
        .enumerate()
        .for_each(|(j, v)| *v = if j % 2 == 0 { 254.0 } else { 65791.0 });
    let path = dir.path().join("wide.edf");
    let report = write_edf(&path, &rec, EdfVariant::EdfPlus).unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("Status") && w.contains("BDF+")),
        "{:?}",
        report.warnings
    );
    let back = open_recording(&path).unwrap().read_all().unwrap().data;
    let worst = back
        .row(2)
        .iter()
        .zip(rec.data.row(2))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= report.max_quantisation_error[2],
        "{worst} > {}",
        report.max_quantisation_error[2]
    );
    // The same codes in BDF+ are exact, with no warning.
    let report = write_edf(&dir.path().join("wide.bdf"), &rec, EdfVariant::BdfPlus).unwrap();
    assert!(report.warnings.is_empty());
    let back = open_recording(&dir.path().join("wide.bdf"))
        .unwrap()
        .read_all()
        .unwrap()
        .data;
    assert_eq!(back.row(2), rec.data.row(2));
}

/// Builds a plain EDF by hand: `signals` = (label, samples per record), 1 s records,
/// digital = physical (cal 1, offset 0), with `value(signal, native index)`.
fn handmade_edf(signals: &[(&str, usize)], n_records: usize, value: impl Fn(usize, usize) -> i16) -> Vec<u8> {
    let ns = signals.len();
    let mut h = Vec::new();
    let mut field = |text: &str, len: usize| {
        let mut b = text.as_bytes().to_vec();
        b.resize(len, b' ');
        h.extend_from_slice(&b);
    };
    field("0", 8);
    field("X", 80);
    field("X", 80);
    field("01.02.03", 8);
    field("04.05.06", 8);
    field(&(256 * (ns + 1)).to_string(), 8);
    field("", 44);
    field(&n_records.to_string(), 8);
    field("1", 8);
    field(&ns.to_string(), 4);
    for (label, _) in signals {
        field(label, 16);
    }
    for _ in signals {
        field("", 80);
    }
    for _ in signals {
        field("uV", 8);
    }
    for _ in signals {
        field("-32768", 8);
    }
    for _ in signals {
        field("32767", 8);
    }
    for _ in signals {
        field("-32768", 8);
    }
    for _ in signals {
        field("32767", 8);
    }
    for _ in signals {
        field("", 80);
    }
    for (_, spr) in signals {
        field(&spr.to_string(), 8);
    }
    for _ in signals {
        field("", 32);
    }
    for r in 0..n_records {
        for (s, (_, spr)) in signals.iter().enumerate() {
            for k in 0..*spr {
                h.extend_from_slice(&value(s, r * spr + k).to_le_bytes());
            }
        }
    }
    h
}

#[test]
fn slower_channels_are_interpolated_onto_the_common_grid() {
    let dir = tempfile::tempdir().unwrap();
    // Fz at 8 Hz, a 2 Hz respiration-like channel and a 2 Hz trigger channel.
    let bytes = handmade_edf(
        &[("Fz", 8), ("Resp belt", 2), ("Trigger", 2)],
        3,
        |s, i| match s {
            0 => i as i16,
            1 => (10 * i) as i16,
            _ => (i % 3) as i16,
        },
    );
    let rec = open_and_read(dir.path(), "rates.edf", &bytes).unwrap();
    let info = &rec.info;
    assert_eq!((info.sfreq, info.n_samples), (8.0, 24));
    assert_eq!(
        info.channels.iter().map(|c| c.sfreq).collect::<Vec<_>>(),
        [8.0, 2.0, 2.0]
    );
    assert_eq!(info.channels[1].kind, ChannelType::Resp);
    assert_eq!(info.channels[2].kind, ChannelType::Stim);
    // Fz is read as is (µV → V); the 2 Hz channel is linear between its samples,
    // held at the last one; the trigger is held (sample-and-hold), never interpolated.
    for j in 0..24 {
        assert!((rec.data[[0, j]] - j as f64 * 1e-6).abs() < 1e-15);
        let x = j as f64 / 4.0;
        let expect = if x >= 5.0 { 50.0 } else { 10.0 * x };
        assert!(
            (rec.data[[1, j]] - expect * 1e-6).abs() < 1e-15,
            "resp {j}: {}",
            rec.data[[1, j]]
        );
        assert_eq!(rec.data[[2, j]], ((j / 4) % 3) as f64, "trigger {j}");
    }
    // Any window equals the same slice of the full read, across record boundaries.
    let mut reader = open_recording(&dir.path().join("rates.edf")).unwrap();
    for (a, b) in [(0, 3), (5, 11), (7, 8), (15, 24), (23, 24)] {
        let seg = reader.read_segment(a, b, None).unwrap();
        assert_eq!(seg, rec.data.slice(ndarray::s![.., a..b]), "{a}..{b}");
    }
}
