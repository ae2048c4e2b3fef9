//! Tests of the BrainVision reader: synthetic recordings with known samples in
//! every binary format and orientation, the real `testbva.vhdr` against facts
//! checked with MNE-Python 1.13.2, MNE's channel-type and annotation rules, and
//! corrupted inputs that must fail cleanly (an `Err`, never a panic).

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ndarray::Array2;
use neurodl_io::brainvision::BrainVisionReader;
use neurodl_io::{ChannelType, Error, RecordingReader, open_recording};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Synthetic recordings.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fmt {
    I16,
    I32,
    F32,
}

impl Fmt {
    const ALL: [Fmt; 3] = [Fmt::I16, Fmt::I32, Fmt::F32];

    fn name(self) -> &'static str {
        match self {
            Fmt::I16 => "INT_16",
            Fmt::I32 => "INT_32",
            Fmt::F32 => "IEEE_FLOAT_32",
        }
    }

    fn bytes(self) -> usize {
        match self {
            Fmt::I16 => 2,
            _ => 4,
        }
    }
}

/// A recording to write: channel `c` at sample `t` stores [`Synth::raw`].
#[derive(Debug, Clone)]
struct Synth {
    fmt: Fmt,
    vectorized: bool,
    n_samples: usize,
    /// `(name, resolution field, unit field)`; `None` unit omits the field.
    channels: Vec<(String, String, Option<String>)>,
    markers: Vec<String>,
    /// Write `DataPoints=`.
    data_points: bool,
    interval_us: String,
}

impl Synth {
    fn new(fmt: Fmt, vectorized: bool, n_samples: usize) -> Self {
        Synth {
            fmt,
            vectorized,
            n_samples,
            channels: vec![
                ("Fp1".into(), "0.1".into(), Some("µV".into())),
                ("Fp2".into(), "".into(), None),
                ("C\\1z".into(), "2".into(), Some("mV".into())),
                ("HEOGL".into(), "0.5".into(), Some("uV".into())),
                ("Temp".into(), "0.25".into(), Some("C".into())),
            ],
            markers: vec![
                "Mk1=New Segment,,1,1,0,20240229235959000001".into(),
                "Mk2=Stimulus,S  1,11,1,0".into(),
                "Mk3=Response,R  2,3,2,0".into(),
            ],
            data_points: true,
            interval_us: "1000".into(),
        }
    }

    /// The stored value of channel `c` at sample `t`: distinct per channel and
    /// sample, negative and positive, fitting every format exactly.
    fn raw(&self, c: usize, t: usize) -> f64 {
        let v = ((c * 7919 + t * 31) % 30001) as f64 - 15000.0;
        if self.fmt == Fmt::F32 { v + 0.25 } else { v }
    }

    /// The physical value the reader must return (the file value times
    /// resolution × unit factor, computed in the same order as MNE).
    fn expected(&self, c: usize, t: usize) -> f64 {
        let (_, res, unit) = &self.channels[c];
        let res: f64 = if res.is_empty() { 1.0 } else { res.parse().unwrap() };
        let unit_scale = match unit.as_deref() {
            None | Some("µV") | Some("uV") => 1e-6,
            Some("mV") => 1e-3,
            Some("C") => 1.0,
            Some(other) => panic!("test helper does not know unit {other}"),
        };
        self.raw(c, t) * (res * unit_scale)
    }

    fn expected_segment(&self, start: usize, stop: usize, picks: &[usize]) -> Array2<f64> {
        Array2::from_shape_fn((picks.len(), stop - start), |(i, j)| {
            self.expected(picks[i], start + j)
        })
    }

    fn data_bytes(&self) -> Vec<u8> {
        let n_ch = self.channels.len();
        let mut out = Vec::with_capacity(n_ch * self.n_samples * self.fmt.bytes());
        let mut push = |c, t| {
            let v = self.raw(c, t);
            match self.fmt {
                Fmt::I16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
                Fmt::I32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
                Fmt::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            }
        };
        if self.vectorized {
            for c in 0..n_ch {
                for t in 0..self.n_samples {
                    push(c, t);
                }
            }
        } else {
            for t in 0..self.n_samples {
                for c in 0..n_ch {
                    push(c, t);
                }
            }
        }
        out
    }

    fn header_text(&self, stem: &str) -> String {
        let mut h = String::from(
            "Brain Vision Data Exchange Header File Version 1.0\r\n\
             ; Data created by the neurodl test suite\r\n\r\n[Common Infos]\r\nCodepage=UTF-8\r\n",
        );
        h += &format!("DataFile={stem}.eeg\r\nMarkerFile={stem}.vmrk\r\nDataFormat=BINARY\r\n");
        h += &format!(
            "; Data orientation: MULTIPLEXED=ch1,pt1, ch2,pt1 ...\r\nDataOrientation={}\r\n",
            if self.vectorized {
                "VECTORIZED"
            } else {
                "MULTIPLEXED"
            }
        );
        h += "DataType=TIMEDOMAIN\r\n";
        h += &format!("NumberOfChannels={}\r\n", self.channels.len());
        if self.data_points {
            h += &format!("DataPoints={}\r\n", self.n_samples);
        }
        h += &format!("SamplingInterval={}\r\n\r\n", self.interval_us);
        h += &format!(
            "[Binary Infos]\r\nBinaryFormat={}\r\n\r\n[Channel Infos]\r\n",
            self.fmt.name()
        );
        for (i, (name, res, unit)) in self.channels.iter().enumerate() {
            match unit {
                Some(u) => h += &format!("Ch{}={name},,{res},{u}\r\n", i + 1),
                None => h += &format!("Ch{}={name},,{res}\r\n", i + 1),
            }
        }
        h += "\r\n[Comment]\r\n\r\nA m p l i f i e r  S e t u p\r\n============================\r\n";
        h += "Number of channels: 5\r\n#     Name      Phys. Chn.    Resolution / Unit\r\n";
        h
    }

    fn marker_text(&self, stem: &str) -> String {
        let mut m = format!(
            "Brain Vision Data Exchange Marker File, Version 1.0\r\n\r\n[Common Infos]\r\n\
             Codepage=UTF-8\r\nDataFile={stem}.eeg\r\n\r\n[Marker Infos]\r\n\
             ; Each entry: Mk<Marker number>=<Type>,<Description>,<Position in data points>,\r\n"
        );
        for line in &self.markers {
            m += line;
            m += "\r\n";
        }
        m
    }

    /// Writes `<dir>/<stem>.vhdr/.vmrk/.eeg` and returns the `.vhdr` path.
    fn write(&self, dir: &Path, stem: &str) -> PathBuf {
        fs::write(dir.join(format!("{stem}.eeg")), self.data_bytes()).unwrap();
        fs::write(dir.join(format!("{stem}.vmrk")), self.marker_text(stem)).unwrap();
        let vhdr = dir.join(format!("{stem}.vhdr"));
        fs::write(&vhdr, self.header_text(stem)).unwrap();
        vhdr
    }
}

fn open(path: &Path) -> neurodl_io::Result<BrainVisionReader> {
    BrainVisionReader::open(path)
}

/// Opens and reads everything, or returns the first error. Used on corrupted
/// inputs, where the point is that this returns at all (no panic).
fn open_and_read(path: &Path) -> neurodl_io::Result<Array2<f64>> {
    let mut r = open(path)?;
    let n = r.info().n_samples;
    let all = r.read_segment(0, n, None)?;
    assert_eq!(all.shape(), &[r.info().channels.len(), n]);
    Ok(all)
}

fn err_text(path: &Path) -> String {
    match open_and_read(path) {
        Ok(_) => panic!("{} opened, but should have failed", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Replaces the line starting with `key=` in the file (which must have one).
fn set_line(path: &Path, key: &str, new_line: &str) {
    let text = fs::read_to_string(path).unwrap();
    let mut found = false;
    let out: Vec<String> = text
        .split("\r\n")
        .map(|l| {
            if l.starts_with(&format!("{key}=")) {
                found = true;
                new_line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(found, "{} has no {key}= line", path.display());
    fs::write(path, out.join("\r\n")).unwrap();
}

// ---------------------------------------------------------------------------
// (1) Known values in every format and orientation.
// ---------------------------------------------------------------------------

#[test]
fn every_format_and_orientation_reads_known_values() {
    let dir = tempfile::tempdir().unwrap();
    for fmt in Fmt::ALL {
        for vectorized in [false, true] {
            let synth = Synth::new(fmt, vectorized, 257);
            let stem = format!("{}_{}", fmt.name(), vectorized);
            let vhdr = synth.write(dir.path(), &stem);
            let mut r = open(&vhdr).unwrap_or_else(|e| panic!("{stem}: {e}"));
            let info = r.info().clone();
            assert_eq!(info.n_samples, 257, "{stem}");
            assert_eq!(info.sfreq, 1000.0, "{stem}");
            assert_eq!(info.channels.len(), 5);

            let ranges = [(0, 257), (0, 1), (256, 257), (3, 17), (100, 100), (128, 200)];
            let picks: [&[usize]; 5] = [&[0, 1, 2, 3, 4], &[4, 0], &[2], &[1, 1, 3], &[]];
            for &(start, stop) in &ranges {
                for p in picks {
                    let got = r.read_segment(start, stop, Some(p)).unwrap();
                    assert_eq!(
                        got,
                        synth.expected_segment(start, stop, p),
                        "{stem}: samples {start}..{stop} of channels {p:?}"
                    );
                }
                let all = r.read_segment(start, stop, None).unwrap();
                assert_eq!(
                    all,
                    synth.expected_segment(start, stop, &[0, 1, 2, 3, 4]),
                    "{stem}"
                );
            }
            let rec = r.read_all().unwrap();
            assert_eq!(
                rec.data,
                synth.expected_segment(0, 257, &[0, 1, 2, 3, 4]),
                "{stem}"
            );
        }
    }
}

#[test]
fn header_fields_units_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let vhdr = Synth::new(Fmt::I16, false, 20).write(dir.path(), "rec");
    let r = open(&vhdr).unwrap();
    let info = r.info();
    assert_eq!(info.format, neurodl_io::Format::BrainVision);
    assert_eq!(info.path, vhdr);
    // `\1` in a name is a comma.
    assert_eq!(info.channel_names(), ["Fp1", "Fp2", "C,z", "HEOGL", "Temp"]);
    let kinds: Vec<ChannelType> = info.channels.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChannelType::Eeg,
            ChannelType::Eeg,
            ChannelType::Eeg,
            ChannelType::Eog,
            ChannelType::Misc
        ]
    );
    let units: Vec<&str> = info.channels.iter().map(|c| c.unit.as_str()).collect();
    assert_eq!(units, ["V", "V", "V", "V", "°C"]);
    assert!(
        info.channels
            .iter()
            .all(|c| c.sfreq == 1000.0 && c.position.is_none())
    );
    assert_eq!(
        info.meas_date,
        Some(
            NaiveDate::from_ymd_opt(2024, 2, 29)
                .unwrap()
                .and_hms_micro_opt(23, 59, 59, 1)
                .unwrap()
        )
    );
    // New Segment dropped; sorted by onset; positions are 1-based.
    let annots: Vec<(f64, f64, &str)> = info
        .annotations
        .iter()
        .map(|a| (a.onset, a.duration, a.description.as_str()))
        .collect();
    assert_eq!(
        annots,
        [(0.002, 0.002, "Response/R  2"), (0.01, 0.001, "Stimulus/S  1")]
    );
    assert_eq!(
        info.extra.get("brainvision.binary_format").map(String::as_str),
        Some("INT_16")
    );
}

#[test]
fn open_recording_dispatches_vhdr_and_reader_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<BrainVisionReader>();
    let dir = tempfile::tempdir().unwrap();
    let synth = Synth::new(Fmt::F32, true, 40);
    let vhdr = synth.write(dir.path(), "rec");
    let mut r = open_recording(&vhdr).unwrap();
    assert_eq!(
        r.read_segment(5, 9, Some(&[3])).unwrap(),
        synth.expected_segment(5, 9, &[3])
    );
}

#[test]
fn data_points_may_be_absent() {
    let dir = tempfile::tempdir().unwrap();
    for vectorized in [false, true] {
        let mut synth = Synth::new(Fmt::I32, vectorized, 33);
        synth.data_points = false;
        let vhdr = synth.write(dir.path(), &format!("nodp{vectorized}"));
        let mut r = open(&vhdr).unwrap();
        assert_eq!(r.info().n_samples, 33);
        assert_eq!(
            r.read_all().unwrap().data,
            synth.expected_segment(0, 33, &[0, 1, 2, 3, 4])
        );
    }
}

#[test]
fn reads_spanning_several_blocks() {
    // Larger than MAX_BLOCK_BYTES, so full reads and windows cross block edges.
    let dir = tempfile::tempdir().unwrap();
    let max = neurodl_io::brainvision::MAX_BLOCK_BYTES;
    for vectorized in [false, true] {
        let mut synth = Synth::new(Fmt::I16, vectorized, 0);
        synth.channels.truncate(2);
        synth.markers.clear();
        // Multiplexed rows are 4 bytes; a vectorized channel is 2 bytes a sample.
        synth.n_samples = max / 2 + 1001;
        let vhdr = synth.write(dir.path(), &format!("big{vectorized}"));
        let mut r = open(&vhdr).unwrap();
        let n = synth.n_samples;
        let all = r.read_all().unwrap().data;
        assert_eq!(
            all,
            synth.expected_segment(0, n, &[0, 1]),
            "vectorized={vectorized}"
        );
        let edge = max / 4;
        for (start, stop) in [(edge - 3, edge + 3), (n - 2000, n), (1, n - 1)] {
            assert_eq!(
                r.read_segment(start, stop, Some(&[1])).unwrap(),
                synth.expected_segment(start, stop, &[1])
            );
        }
    }
}

#[test]
fn latin1_and_ansi_headers_decode() {
    let dir = tempfile::tempdir().unwrap();
    let synth = Synth::new(Fmt::I16, false, 10);
    let vhdr = synth.write(dir.path(), "enc");
    // No codepage and invalid UTF-8: read as Latin-1 (0xB5 is µ, 0xE4 is ä).
    let text = fs::read(&vhdr).unwrap();
    let text = String::from_utf8(text).unwrap().replace("Codepage=UTF-8\r\n", "");
    let mut bytes = text.replace("Fp1,,0.1,µV", "Fp\u{1}").into_bytes();
    let at = bytes.iter().position(|&b| b == 1).unwrap();
    bytes.splice(at..at + 1, *b"\xe4,,0.1,\xb5V");
    fs::write(&vhdr, &bytes).unwrap();
    let mut r = open(&vhdr).unwrap();
    assert_eq!(r.info().channels[0].name, "Fpä");
    assert_eq!(r.info().channels[0].kind, ChannelType::Eeg);
    assert_eq!(
        r.read_segment(0, 10, Some(&[0])).unwrap(),
        synth.expected_segment(0, 10, &[0])
    );

    // ANSI is Windows-1252, where 0x80 is the euro sign.
    let text = String::from_utf8(fs::read(dir.path().join("enc.vmrk")).unwrap()).unwrap();
    let mut bytes = text
        .replace("Codepage=UTF-8", "Codepage=ANSI")
        .replace("S  1", "S \u{1}")
        .into_bytes();
    let at = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[at] = 0x80;
    fs::write(dir.path().join("enc.vmrk"), &bytes).unwrap();
    let r = open(&vhdr).unwrap();
    assert!(
        r.info()
            .annotations
            .iter()
            .any(|a| a.description == "Stimulus/S €")
    );
}

// ---------------------------------------------------------------------------
// MNE's rules, with expectations produced by MNE 1.13.2 on the same files.
// ---------------------------------------------------------------------------

#[test]
fn channel_types_and_scales_follow_mne() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 10);
    let ch = |n: &str, r: &str, u: Option<&str>| (n.to_owned(), r.to_owned(), u.map(str::to_owned));
    synth.channels = vec![
        ch("A", "0.5", Some("µV")),
        ch("B", "0.5", Some("μV")), // Greek mu, which MNE does not know: misc, factor 1
        ch("C", "2", Some(" µV")),  // unit with a space: misc, factor 1
        ch("D", "1", Some("C")),
        ch("E", "1", Some("°C")),
        ch("F", "1", Some("uS")),
        ch("G", "", Some("mV")),
        ch("HEOGL", "1", Some("C")), // the EOG name wins over the unit
        ch("STI 014", "", None),
        ch("VEOGb", "1", None),
        ch("Eog", "1", Some("")), // empty unit is µV; only MNE's three names are EOG
    ];
    let vhdr = synth.write(dir.path(), "types");
    let mut r = open(&vhdr).unwrap();
    use ChannelType::*;
    let kinds: Vec<ChannelType> = r.info().channels.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [Eeg, Misc, Misc, Misc, Misc, Misc, Eeg, Eog, Stim, Eog, Eeg]
    );
    let units: Vec<&str> = r.info().channels.iter().map(|c| c.unit.as_str()).collect();
    assert_eq!(
        units,
        ["V", "μV", " µV", "°C", "°C", "S", "V", "°C", "V", "V", "V"]
    );
    // MNE's cal × range per channel.
    let scales = [5e-07, 0.5, 2.0, 1.0, 1.0, 1e-06, 0.001, 1.0, 1e-06, 1e-06, 1e-6];
    let data = r.read_segment(0, 10, None).unwrap();
    for (c, scale) in scales.iter().enumerate() {
        for t in 0..10 {
            assert_eq!(data[[c, t]], synth.raw(c, t) * scale, "channel {c} sample {t}");
        }
    }
}

#[test]
fn coordinates_follow_mne() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 10);
    synth.channels.truncate(4);
    let vhdr = synth.write(dir.path(), "coords");
    let mut text = fs::read_to_string(&vhdr).unwrap();
    let at = text.find("[Comment]").unwrap();
    // Fp1 on the idealised sphere, Fp2 at the origin (so misc), C,z at 2 mm, HEOGL with a position.
    text.insert_str(
        at,
        "[Coordinates]\r\nCh1=1,-92,-72\r\nCh2=0,0,0\r\nCh3=2,10,20\r\nCh4=1,45,45\r\n\r\n",
    );
    fs::write(&vhdr, text).unwrap();
    let r = open(&vhdr).unwrap();
    let chans = &r.info().channels;
    let kinds: Vec<ChannelType> = chans.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChannelType::Eeg,
            ChannelType::Misc,
            ChannelType::Eeg,
            ChannelType::Eog
        ]
    );
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    // MNE: raw.info["chs"][i]["loc"][:3]
    assert!(close(
        chans[0].position.unwrap(),
        [-0.02933873120927673, 0.09029533004440078, -0.00331545218673759]
    ));
    assert_eq!(chans[1].position, None);
    assert!(close(
        chans[2].position.unwrap(),
        [
            0.00032635182233306965,
            0.0001187823492277694,
            0.001969615506024416
        ]
    ));
    // MNE positions only EEG channels.
    assert_eq!(chans[3].position, None);
}

#[test]
fn annotations_are_cropped_and_sorted_like_mne() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 10);
    synth.channels.truncate(2);
    synth.interval_us = "2000".into();
    synth.markers = [
        "Mk1=New Segment,,1,1,0,20200101120000123456",
        "Mk2=Stimulus,S  1,0,1,0", // before the first sample: clipped to 0 s, length 0
        "Mk3=Stimulus,S  2,10,3,0", // runs past the end: clipped
        "Mk4=Stimulus,S  3,11,1,0", // starts exactly at the end: kept, length 0
        "Mk5=Comment,a\\1b,5,,0",  // empty size: 0
        "Mk6=New Segment,,5,1,0,20200101120000123457", // only the first New Segment is dropped
        "Mk7=Stimulus,S 9,-3,5,0", // straddles 0: clipped, sorted by its original onset
        "Mk8=Stimulus,S 8,5,2,0",
        "Mk9=Stimulus,S 7,5,1,0",
        "Mk10=Response,R 1,12,1,0", // after the end: dropped
        "Mk11=Response,R 2,-5,1,0", // before the start: dropped
    ]
    .map(String::from)
    .to_vec();
    let vhdr = synth.write(dir.path(), "annot");
    let r = open(&vhdr).unwrap();
    let got: Vec<(f64, f64, &str)> = r
        .info()
        .annotations
        .iter()
        .map(|a| (a.onset, a.duration, a.description.as_str()))
        .collect();
    // raw.annotations from MNE 1.13.2 on this file.
    let want = [
        (0.0, 0.002, "Stimulus/S 9"),
        (0.0, 0.0, "Stimulus/S  1"),
        (0.008, 0.0, "Comment/a,b"),
        (0.008, 0.002, "New Segment/"),
        (0.008, 0.002, "Stimulus/S 7"),
        (0.008, 0.004, "Stimulus/S 8"),
        (0.018, 0.002, "Stimulus/S  2"),
        (0.02, 0.0, "Stimulus/S  3"),
    ];
    assert_eq!(got, want);
    assert_eq!(
        r.info().meas_date,
        NaiveDate::from_ymd_opt(2020, 1, 1)
            .unwrap()
            .and_hms_micro_opt(12, 0, 0, 123456)
    );
}

#[test]
fn annotation_onsets_sit_on_mnes_microsecond_grid() {
    // SamplingInterval=1000.5 µs: onsets are not whole microseconds, and MNE
    // rounds them (not unclipped durations) to microseconds when it crops.
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 1000);
    synth.channels.truncate(2);
    synth.interval_us = "1000.5".into();
    synth.markers = [
        (2, 1),
        (77, 3),
        (333, 7),
        (999, 5),
        (1000, 2),
        (1001, 2),
        (1002, 1),
    ]
    .iter()
    .enumerate()
    .map(|(i, (p, d))| format!("Mk{}=Stimulus,S  1,{p},{d},0", i + 1))
    .collect();
    let vhdr = synth.write(dir.path(), "grid");
    let r = open(&vhdr).unwrap();
    let got: Vec<(f64, f64)> = r
        .info()
        .annotations
        .iter()
        .map(|a| (a.onset, a.duration))
        .collect();
    let want = [
        (0.001001, 0.0010005),
        (0.076038, 0.0030015000000000003),
        (0.332166, 0.0070035),
        (0.998499, 0.002001),
        (0.9995, 0.001),
        (1.0005, 0.0),
    ];
    assert_eq!(got, want);
    assert_eq!(r.info().meas_date, None);
}

#[test]
fn meas_date_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 10);
    // The first full New Segment decides even when its date is zero (unknown).
    synth.markers = vec![
        "Mk1=New Segment,,1,1,0,00000000000000000000".into(),
        "Mk2=New Segment,,3,1,0,20200101120000123456".into(),
    ];
    let r = open(&synth.write(dir.path(), "zero")).unwrap();
    assert_eq!(r.info().meas_date, None);
    assert_eq!(r.info().annotations.len(), 1);

    // A New Segment that is not first is kept as an annotation and still dates the recording.
    synth.markers = vec![
        "Mk1=Stimulus,S  1,2,1,0".into(),
        "Mk2=New Segment,,3,1,0,20200101120000123456".into(),
    ];
    let r = open(&synth.write(dir.path(), "second")).unwrap();
    assert!(r.info().meas_date.is_some());
    assert_eq!(r.info().annotations.len(), 2);

    // An impossible date is corruption, not "unknown".
    synth.markers = vec!["Mk1=New Segment,,1,1,0,20201301120000123456".into()];
    let msg = err_text(&synth.write(dir.path(), "bad"));
    assert!(msg.contains("bad.vmrk") && msg.contains("Mk1"), "{msg}");
}

#[test]
fn marker_file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let synth = Synth::new(Fmt::I16, false, 10);
    // No MarkerFile key: no annotations, no date (as MNE).
    let vhdr = synth.write(dir.path(), "nokey");
    let text = fs::read_to_string(&vhdr)
        .unwrap()
        .replace("MarkerFile=nokey.vmrk\r\n", "");
    fs::write(&vhdr, text).unwrap();
    let r = open(&vhdr).unwrap();
    assert!(r.info().annotations.is_empty() && r.info().meas_date.is_none());

    // A stale MarkerFile name falls back to the .vmrk beside the header (as MNE).
    let vhdr = synth.write(dir.path(), "stale");
    set_line(&vhdr, "MarkerFile", "MarkerFile=renamed.vmrk");
    assert_eq!(open(&vhdr).unwrap().info().annotations.len(), 2);

    // Marker lines MNE ignores are ignored; repeated numbers are all kept.
    let mut synth2 = synth.clone();
    synth2.markers = vec![
        "Mk1=Stimulus,S  1,2,1,0".into(),
        "Mk1=Stimulus,S  2,3,1,0".into(),
        " Mk3=Stimulus,S  3,4,1,0".into(),
        "junk without equals".into(),
        "Mk4 =Stimulus,S  4,4,1,0".into(),
        "Mk5= Stimulus, S 5 ,4,1,0".into(),
    ];
    let r = open(&synth2.write(dir.path(), "lenient")).unwrap();
    let descr: Vec<&str> = r
        .info()
        .annotations
        .iter()
        .map(|a| a.description.as_str())
        .collect();
    assert_eq!(descr, ["Stimulus/S  1", "Stimulus/S  2", " Stimulus/ S 5 "]);
}

// ---------------------------------------------------------------------------
// (2) The real recording.
// ---------------------------------------------------------------------------

fn testbva() -> Option<PathBuf> {
    let dir = neurodl_io::testdata::shared_data_dir()?;
    let path = dir.join("eeg/eeglab/test_data/testbva.vhdr");
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: {} is absent", path.display());
        None
    }
}

#[test]
fn real_testbva_matches_mne() {
    let Some(path) = testbva() else { return };
    let mut r = open(&path).unwrap();
    let info = r.info().clone();
    // Facts from mne.io.read_raw_brainvision(path, preload=True), MNE 1.13.2.
    assert_eq!(info.channels.len(), 32);
    assert_eq!(info.sfreq, 200.0);
    assert_eq!(info.n_samples, 2112);
    assert_eq!(&info.channel_names()[..5], ["Fp1", "Fp2", "F3", "F4", "C3"]);
    assert_eq!(&info.channel_names()[29..], ["Eog", "Ekg1", "Ekg2"]);
    // Eog, Ekg1 and Ekg2 have coordinates 0,0,0, which MNE turns into misc.
    assert_eq!(
        info.picks_by_type(&[ChannelType::Eeg]),
        (0..29).collect::<Vec<_>>()
    );
    assert_eq!(info.picks_by_type(&[ChannelType::Misc]), [29, 30, 31]);
    assert!(info.channels.iter().all(|c| c.unit == "V"));
    assert_eq!(
        info.meas_date,
        NaiveDate::from_ymd_opt(2003, 9, 24)
            .unwrap()
            .and_hms_micro_opt(10, 50, 38, 119829)
    );

    assert_eq!(info.annotations.len(), 16);
    let first = &info.annotations[0];
    assert_eq!(
        (first.onset, first.duration, first.description.as_str()),
        (0.535, 0.005, "Stimulus/S  4")
    );
    let last = &info.annotations[15];
    assert_eq!((last.onset, last.description.as_str()), (10.1, "Stimulus/S  4"));
    let counts = info.annotation_counts();
    let counts: Vec<(&str, usize)> = counts.into_iter().collect();
    assert_eq!(
        counts,
        [
            ("Stimulus/S  1", 2),
            ("Stimulus/S  2", 1),
            ("Stimulus/S  3", 1),
            ("Stimulus/S  4", 12)
        ]
    );

    // Positions of eeg channels (MNE loc[:3]); misc channels have none.
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    assert!(close(
        info.channels[0].position.unwrap(),
        [-0.02933873120927673, 0.09029533004440078, -0.00331545218673759]
    ));
    assert!(close(info.channels[17].position.unwrap(), [0.0, 0.0, 0.095]));
    assert!(close(
        info.channels[27].position.unwrap(),
        [-0.0773107797281905, -0.02813882260897227, -0.04749999999999998]
    ));
    assert!(info.channels[29..].iter().all(|c| c.position.is_none()));

    // Samples from raw.get_data(); float32 µV × 1e-6 in float64, so the reader
    // should reproduce them exactly. Tolerance 1e-18 V (1e-12 µV) for safety.
    let tol = 1e-18;
    let data = r.read_all().unwrap().data;
    assert_eq!(data.shape(), &[32, 2112]);
    let expect = |c: usize, t: usize, v: f64| {
        assert!(
            (data[[c, t]] - v).abs() <= tol,
            "channel {c} sample {t}: {} vs MNE {v}",
            data[[c, t]]
        );
    };
    let fp1 = [
        3.000000119209289e-7,
        -1.0000000149011612e-07,
        -6.000000238418578e-7,
        -1.1000000238418578e-06,
        -1.600000023841858e-6,
    ];
    for (t, v) in fp1.into_iter().enumerate() {
        expect(0, t, v);
    }
    expect(31, 2109, 3.7000000476837157e-06);
    expect(31, 2110, 1.4100000381469726e-05);
    expect(31, 2111, 1.1300000190734862e-05);
    expect(5, 1000, -1.490000057220459e-05);
    expect(17, 2111, -3.5e-06);
    expect(29, 0, -1.45e-05);
    // Channel sums from MNE, a check on every sample of three channels.
    let sums = [
        (0, -1.3950000957399598e-4),
        (10, -3.159996850043543e-5),
        (31, 2.999999251961709e-5),
    ];
    for (c, want) in sums {
        let got: f64 = data.row(c).sum();
        assert!((got - want).abs() < 1e-15, "channel {c} sum {got} vs MNE {want}");
    }

    // A window and a channel subset agree with the full read.
    let win = r.read_segment(1000, 1100, Some(&[31, 0, 5])).unwrap();
    for (i, &c) in [31, 0, 5].iter().enumerate() {
        assert_eq!(win.row(i), data.row(c).slice(ndarray::s![1000..1100]));
    }
}

// ---------------------------------------------------------------------------
// (3) Bad input: always an `Err` (or, for harmless changes, valid output), never a panic.
// ---------------------------------------------------------------------------

#[test]
fn missing_companions_name_the_key_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let synth = Synth::new(Fmt::I16, false, 10);

    let vhdr = synth.write(dir.path(), "nomrk");
    fs::remove_file(dir.path().join("nomrk.vmrk")).unwrap();
    let msg = err_text(&vhdr);
    assert!(
        msg.contains("nomrk.vhdr") && msg.contains("MarkerFile") && msg.contains("nomrk.vmrk"),
        "{msg}"
    );

    let vhdr = synth.write(dir.path(), "nodat");
    fs::remove_file(dir.path().join("nodat.eeg")).unwrap();
    let msg = err_text(&vhdr);
    assert!(
        msg.contains("nodat.vhdr") && msg.contains("DataFile") && msg.contains("nodat.eeg"),
        "{msg}"
    );

    let msg = err_text(&dir.path().join("absent.vhdr"));
    assert!(msg.contains("absent.vhdr"), "{msg}");

    // A data "file" that is a folder.
    let vhdr = synth.write(dir.path(), "dirdat");
    fs::remove_file(dir.path().join("dirdat.eeg")).unwrap();
    fs::create_dir(dir.path().join("dirdat.eeg")).unwrap();
    let msg = err_text(&vhdr);
    assert!(msg.contains("DataFile"), "{msg}");
}

#[test]
fn main_header_errors_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let synth = Synth::new(Fmt::I16, false, 10);
    let cases: &[(&str, &str, &str)] = &[
        ("SamplingInterval", "SamplingInterval=0", "SamplingInterval"),
        ("SamplingInterval", "SamplingInterval=-1000", "SamplingInterval"),
        ("SamplingInterval", "SamplingInterval=abc", "SamplingInterval"),
        ("SamplingInterval", "SamplingInterval=nan", "SamplingInterval"),
        ("SamplingInterval", "SamplingInterval=1e-320", "SamplingInterval"),
        ("NumberOfChannels", "NumberOfChannels=4", "NumberOfChannels"),
        ("NumberOfChannels", "NumberOfChannels=6", "NumberOfChannels"),
        ("NumberOfChannels", "NumberOfChannels=0", "NumberOfChannels"),
        ("BinaryFormat", "BinaryFormat=INT_64", "BinaryFormat"),
        ("BinaryFormat", "BinaryFormat=UINT_16", "BinaryFormat"),
        ("DataOrientation", "DataOrientation=DIAGONAL", "DataOrientation"),
        ("DataFormat", "DataFormat=ASCII", "ASCII"),
        ("DataFormat", "DataFormat=XML", "DataFormat"),
        ("DataPoints", "DataPoints=11", "DataPoints"),
        ("DataPoints", "DataPoints=9", "DataPoints"),
        ("DataPoints", "DataPoints=ten", "DataPoints"),
        ("Ch2", "Ch2=Fp2,,abc", "Ch2"),
        ("Ch2", "Ch2=Fp2,,0", "Ch2"),
        ("Ch2", "Ch2=Fp2,,inf", "Ch2"),
        ("Ch2", "Ch2=Fp2", "Ch2"),
        ("Ch2", "Ch2=Fp1,,", "Ch2"),
        ("Ch2", "Ch7=Fp2,,", "Ch7"),
        ("Ch2", "Ch1=Fp2,,", "Ch1"),
        ("Ch2", "Chx=Fp2,,", "Chx"),
        ("Codepage", "Codepage=EBCDIC", "Codepage"),
    ];
    for (i, (key, line, field)) in cases.iter().enumerate() {
        let stem = format!("case{i}");
        let vhdr = synth.write(dir.path(), &stem);
        set_line(&vhdr, key, line);
        let msg = err_text(&vhdr);
        assert!(
            msg.contains(&format!("{stem}.vhdr")) && msg.contains(field),
            "{line}: {msg}"
        );
    }

    // Keys and sections that must be there.
    for key in [
        "DataFile",
        "DataFormat",
        "DataOrientation",
        "NumberOfChannels",
        "SamplingInterval",
        "BinaryFormat",
    ] {
        let stem = format!("no{key}");
        let vhdr = synth.write(dir.path(), &stem);
        set_line(&vhdr, key, "");
        let msg = err_text(&vhdr);
        assert!(
            msg.contains(&format!("{stem}.vhdr")) && msg.contains(key),
            "{msg}"
        );
    }
    let vhdr = synth.write(dir.path(), "sig");
    let text = fs::read_to_string(&vhdr)
        .unwrap()
        .replace("Brain Vision Data Exchange", "Neuroscan");
    fs::write(&vhdr, text).unwrap();
    let msg = err_text(&vhdr);
    assert!(msg.contains("sig.vhdr") && msg.contains("line 1"), "{msg}");
}

#[test]
fn marker_errors_name_file_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 10);
    for (i, bad) in [
        "Mk2=Stimulus,S  1",
        "Mk2=Stimulus,S  1,x,1,0",
        "Mk2=Stimulus,S  1,3,-1,0",
        "Mk2=Stimulus,S  1,3,abc,0",
    ]
    .into_iter()
    .enumerate()
    {
        synth.markers = vec!["Mk1=New Segment,,1,1,0,20240229235959000001".into(), bad.into()];
        let stem = format!("mk{i}");
        let msg = err_text(&synth.write(dir.path(), &stem));
        assert!(
            msg.contains(&format!("{stem}.vmrk")) && msg.contains("Mk2"),
            "{bad}: {msg}"
        );
    }
    // A marker file that is not one.
    let vhdr = synth.write(dir.path(), "notmrk");
    fs::write(dir.path().join("notmrk.vmrk"), b"\x00\x01binary junk").unwrap();
    let msg = err_text(&vhdr);
    assert!(msg.contains("notmrk.vmrk"), "{msg}");
}

#[test]
fn truncated_data_file_is_an_error_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    for fmt in Fmt::ALL {
        for vectorized in [false, true] {
            let synth = Synth::new(fmt, vectorized, 7);
            let stem = format!("t{}{}", fmt.name(), vectorized);
            let vhdr = synth.write(dir.path(), &stem);
            let eeg = dir.path().join(format!("{stem}.eeg"));
            let full = fs::read(&eeg).unwrap();
            for len in 0..full.len() {
                fs::write(&eeg, &full[..len]).unwrap();
                let msg = err_text(&vhdr);
                assert!(msg.contains(&stem), "length {len}: {msg}");
                if len % (5 * fmt.bytes()) == 0 {
                    assert!(msg.contains("DataPoints") || len == 0, "length {len}: {msg}");
                }
            }
            // One byte too many is as wrong as one too few.
            let mut longer = full.clone();
            longer.push(0);
            fs::write(&eeg, &longer).unwrap();
            err_text(&vhdr);
        }
    }
}

#[test]
fn without_data_points_whole_samples_are_fine_and_partial_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut synth = Synth::new(Fmt::I16, false, 7);
    synth.data_points = false;
    let vhdr = synth.write(dir.path(), "ndp");
    let eeg = dir.path().join("ndp.eeg");
    let full = fs::read(&eeg).unwrap();
    let row = 5 * 2;
    for len in 0..=full.len() {
        fs::write(&eeg, &full[..len]).unwrap();
        let result = open_and_read(&vhdr);
        if len % row == 0 && len > 0 {
            let data = result.unwrap();
            assert_eq!(data, synth.expected_segment(0, len / row, &[0, 1, 2, 3, 4]));
        } else {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains("ndp.eeg"), "{msg}");
        }
    }
}

#[test]
fn data_file_shrinking_after_open_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for vectorized in [false, true] {
        let synth = Synth::new(Fmt::I32, vectorized, 50);
        let stem = format!("shrink{vectorized}");
        let vhdr = synth.write(dir.path(), &stem);
        let mut r = open(&vhdr).unwrap();
        let eeg = dir.path().join(format!("{stem}.eeg"));
        let full = fs::read(&eeg).unwrap();
        fs::write(&eeg, &full[..full.len() / 2]).unwrap();
        match r.read_segment(0, 50, None) {
            Err(Error::Malformed { path, .. }) => assert_eq!(path, eeg),
            other => panic!("expected a Malformed error, got {other:?}"),
        }
        // The start of the file is still there and still right.
        assert_eq!(
            r.read_segment(0, 2, Some(&[0])).unwrap(),
            synth.expected_segment(0, 2, &[0])
        );
    }
}

#[test]
fn invalid_requests_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(&Synth::new(Fmt::I16, false, 10).write(dir.path(), "req")).unwrap();
    assert!(matches!(
        r.read_segment(0, 11, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        r.read_segment(5, 4, None),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        r.read_segment(0, 1, Some(&[5])),
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(r.read_segment(10, 10, None).unwrap().shape(), &[5, 0]);
}

/// Every header value replaced by garbage: never a panic; the values the
/// reader cannot do without must fail.
#[test]
fn garbage_header_values_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = [
        "",
        "abc",
        "-1",
        "0",
        "1",
        "99999999999999999999999999",
        "18446744073709551615",
        "1e308",
        "-0",
        "nan",
        "inf",
        "\u{0}",
        "😀",
        ",,,,",
        "\\1",
        "5e-324",
    ];
    let keys = [
        "Codepage",
        "DataFile",
        "MarkerFile",
        "DataFormat",
        "DataOrientation",
        "DataType",
        "NumberOfChannels",
        "DataPoints",
        "SamplingInterval",
        "BinaryFormat",
        "Ch1",
        "Ch3",
    ];
    // Values without which no recording can be read; SamplingInterval accepts any
    // positive rate (`1`, `1e308` are odd but valid).
    let must_fail = |key: &str, value: &str| match key {
        "DataOrientation" | "NumberOfChannels" | "BinaryFormat" | "DataFormat" => true,
        "DataPoints" => value != "12",
        "SamplingInterval" => value
            .parse::<f64>()
            .map_or(true, |v| !(v > 0.0 && (1e6 / v).is_finite())),
        _ => false,
    };
    for (vectorized, fmt) in [(false, Fmt::F32), (true, Fmt::I16)] {
        let synth = Synth::new(fmt, vectorized, 12);
        for key in keys {
            for (i, value) in garbage.iter().enumerate() {
                let stem = format!("g{vectorized}{key}{i}");
                let vhdr = synth.write(dir.path(), &stem);
                set_line(&vhdr, key, &format!("{key}={value}"));
                let result = open_and_read(&vhdr);
                if must_fail(key, value) {
                    assert!(result.is_err(), "{key}={value} was accepted");
                }
            }
        }
    }
}

#[test]
fn garbage_marker_values_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fields = [
        "",
        "abc",
        "-1",
        "0",
        "99999999999999999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "1e3",
        "😀",
        "\\1",
    ];
    let mut synth = Synth::new(Fmt::I16, false, 12);
    for f in 0..6 {
        for (i, v) in fields.iter().enumerate() {
            let mut parts = ["Stimulus", "S  1", "3", "1", "0", "20240229235959000001"];
            parts[f] = v;
            synth.markers = vec![
                "Mk1=New Segment,,1,1,0,20240229235959000001".into(),
                format!("Mk2={}", parts.join(",")),
                format!("Mk3=New Segment,{}", parts[1..].join(",")),
            ];
            let vhdr = synth.write(dir.path(), &format!("m{f}_{i}"));
            if let Ok(data) = open_and_read(&vhdr) {
                assert_eq!(data.shape(), &[5, 12]);
            }
        }
    }
}

#[test]
fn real_testbva_corruptions_fail_cleanly() {
    let Some(path) = testbva() else { return };
    let src = path.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["vhdr", "vmrk", "dat"] {
        fs::copy(
            src.join(format!("testbva.{ext}")),
            dir.path().join(format!("testbva.{ext}")),
        )
        .unwrap();
    }
    let vhdr = dir.path().join("testbva.vhdr");
    let dat = dir.path().join("testbva.dat");
    let full = fs::read(&dat).unwrap();
    assert_eq!(full.len(), 32 * 4 * 2112);
    // Truncations: whole samples and partial ones, all contradict DataPoints=2112.
    for len in [
        0,
        1,
        3,
        4,
        127,
        128,
        129,
        128 * 1000,
        full.len() - 128,
        full.len() - 1,
    ] {
        fs::write(&dat, &full[..len]).unwrap();
        let msg = err_text(&vhdr);
        assert!(msg.contains("testbva"), "{msg}");
    }
    fs::write(&dat, &full).unwrap();
    assert_eq!(open_and_read(&vhdr).unwrap().shape(), &[32, 2112]);

    fs::remove_file(dir.path().join("testbva.vmrk")).unwrap();
    let msg = err_text(&vhdr);
    assert!(
        msg.contains("MarkerFile") && msg.contains("testbva.vmrk"),
        "{msg}"
    );
    fs::remove_file(&dat).unwrap();
    let msg = err_text(&vhdr);
    assert!(msg.contains("DataFile") && msg.contains("testbva.dat"), "{msg}");
}

// ---------------------------------------------------------------------------
// Random corruption.
// ---------------------------------------------------------------------------

/// A small valid recording, written once per case into its own folder.
fn fresh(dir: &Path, vectorized: bool) -> (Synth, PathBuf) {
    let synth = Synth::new(Fmt::I16, vectorized, 9);
    let vhdr = synth.write(dir, "p");
    (synth, vhdr)
}

fn flip(path: &Path, flips: &[(usize, u8)]) {
    let mut bytes = fs::read(path).unwrap();
    let n = bytes.len();
    for &(at, v) in flips {
        bytes[at % n] = v;
    }
    fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random bytes written into the header: an error or a readable recording, never a panic.
    #[test]
    fn header_byte_flips_never_panic(vectorized: bool, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let (_, vhdr) = fresh(dir.path(), vectorized);
        flip(&vhdr, &flips);
        if let Ok(data) = open_and_read(&vhdr) {
            prop_assert_eq!(data.ncols(), 9);
        }
    }

    /// Random bytes written into the marker file.
    #[test]
    fn marker_byte_flips_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let (synth, vhdr) = fresh(dir.path(), false);
        flip(&dir.path().join("p.vmrk"), &flips);
        // The header and data are intact, so when it opens the samples must be right.
        if let Ok(data) = open_and_read(&vhdr) {
            prop_assert_eq!(data, synth.expected_segment(0, 9, &[0, 1, 2, 3, 4]));
        }
    }

    /// Random header lines deleted or duplicated.
    #[test]
    fn header_line_edits_never_panic(vectorized: bool, edits in prop::collection::vec((any::<usize>(), any::<bool>()), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let (_, vhdr) = fresh(dir.path(), vectorized);
        let text = fs::read_to_string(&vhdr).unwrap();
        let mut lines: Vec<&str> = text.split("\r\n").collect();
        for (at, duplicate) in edits {
            let i = at % lines.len();
            if duplicate { lines.insert(i, lines[i]) } else { lines.remove(i); }
            if lines.is_empty() { break; }
        }
        fs::write(&vhdr, lines.join("\r\n")).unwrap();
        let _ = open_and_read(&vhdr);
    }

    /// Arbitrary windows and picks of a valid recording match the known values.
    #[test]
    fn random_windows_match(vectorized: bool, fmt in 0usize..3, a in 0usize..=40, b in 0usize..=40, picks in prop::collection::vec(0usize..5, 0..7)) {
        let dir = tempfile::tempdir().unwrap();
        let synth = Synth::new(Fmt::ALL[fmt], vectorized, 40);
        let vhdr = synth.write(dir.path(), "w");
        let mut r = open(&vhdr).unwrap();
        let (start, stop) = (a.min(b), a.max(b));
        prop_assert_eq!(r.read_segment(start, stop, Some(&picks)).unwrap(), synth.expected_segment(start, stop, &picks));
    }
}
