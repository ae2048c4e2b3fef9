//! Writes `examples/data/sample_eeg.edf`, the small recording the README's quick start
//! inspects: 8 EEG channels + 1 EOG + a stimulus channel, 20 s at 128 Hz, EDF+ with
//! annotations. Deterministic (no random source), so re-running it reproduces the
//! committed file byte for byte:
//!
//! ```text
//! cargo run -p neurodl-io --example make_sample_recording
//! ```
//!
//! The signal is a plausible resting EEG sketch: a 10 Hz alpha rhythm strongest over
//! occipital channels, a 1/f-like mixture of slower and faster components, eye blinks
//! on the frontal and EOG channels, and event markers every 2 s.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use chrono::NaiveDate;
use ndarray::Array2;
use neurodl_io::edf::{EdfVariant, write_edf};
use neurodl_io::testdata::repo_root;
use neurodl_io::{Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, SubjectInfo};

fn main() -> Result<(), neurodl_io::Error> {
    let sfreq = 128.0;
    let n = 20 * 128;
    let names = [
        "Fp1", "Fp2", "C3", "Cz", "C4", "P3", "O1", "O2", "EOG V", "Status",
    ];
    // Alpha weight per EEG channel: occipital strongest, frontal weakest.
    let alpha = [0.2, 0.2, 0.5, 0.5, 0.5, 0.8, 1.0, 1.0];
    let channels: Vec<ChannelInfo> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ChannelInfo {
            name: (*name).into(),
            kind: match i {
                8 => ChannelType::Eog,
                9 => ChannelType::Stim,
                _ => ChannelType::Eeg,
            },
            unit: if i == 9 { String::new() } else { "V".into() },
            sfreq,
            position: None,
        })
        .collect();
    let blink = |t: f64| -> f64 {
        // Blinks at 3.2 s, 9.7 s and 15.1 s, each a 0.3 s bump.
        [3.2, 9.7, 15.1]
            .iter()
            .map(|c| (-((t - c) / 0.08).powi(2)).exp())
            .sum()
    };
    let mut annotations = Vec::new();
    let data = Array2::from_shape_fn((names.len(), n), |(c, j)| {
        let t = j as f64 / sfreq;
        let phase = c as f64 * 0.7;
        match c {
            0..=7 => {
                let background = 6e-6 * (2.0 * PI * 2.3 * t + phase).sin()
                    + 3e-6 * (2.0 * PI * 5.1 * t + 2.0 * phase).sin()
                    + 1e-6 * (2.0 * PI * 21.0 * t + 3.0 * phase).sin();
                let alpha_wave = alpha[c] * 15e-6 * (2.0 * PI * 10.0 * t + phase).sin();
                let eye = if c < 2 { 80e-6 * blink(t) } else { 0.0 };
                background + alpha_wave + eye
            }
            8 => 150e-6 * blink(t) + 2e-6 * (2.0 * PI * 0.5 * t).sin(),
            _ => {
                if j % 256 < 13 && j >= 256 {
                    (1 + (j / 256) % 2) as f64
                } else {
                    0.0
                }
            }
        }
    });
    for k in 1..10 {
        let code = 1 + k % 2;
        annotations.push(Annotation {
            onset: 2.0 * k as f64,
            duration: 0.1,
            description: if code == 1 {
                "stimulus/left"
            } else {
                "stimulus/right"
            }
            .into(),
        });
    }
    for t in [3.2, 9.7, 15.1] {
        annotations.push(Annotation {
            onset: t - 0.15,
            duration: 0.3,
            description: "blink".into(),
        });
    }
    let info = RecordingInfo {
        format: Format::EdfPlus,
        path: "sample_eeg.edf".into(),
        channels,
        sfreq,
        n_samples: n,
        meas_date: NaiveDate::from_ymd_opt(2026, 1, 15).and_then(|d| d.and_hms_opt(9, 30, 0)),
        subject: SubjectInfo {
            id: Some("sample01".into()),
            ..SubjectInfo::default()
        },
        session: None,
        annotations,
        extra: BTreeMap::new(),
        warnings: Vec::new(),
    };
    let mut rec = Recording { info, data };
    rec.info.sort_annotations();
    let path = repo_root().join("examples/data/sample_eeg.edf");
    let report = write_edf(&path, &rec, EdfVariant::EdfPlus)?;
    println!(
        "wrote {} ({} records of {} s)",
        path.display(),
        report.n_records,
        report.record_duration
    );
    Ok(())
}
