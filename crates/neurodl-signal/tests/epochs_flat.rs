//! Flat-channel rejection (MNE's `Epochs(flat=...)`) on small hand-made
//! recordings: the strict comparison at the threshold, NaN samples, the drop
//! reasons when `reject` and `flat` both fire, which channel types are checked,
//! bad thresholds, and pipeline files written before `flat` existed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::Array2;
use neurodl_io::{ChannelInfo, ChannelType, Format, Recording, RecordingInfo, SubjectInfo};
use neurodl_signal::Error;
use neurodl_signal::events::{DropReason, EpochParams, Event, epochs};

/// Channels `A`, `B` (EEG) and `EOG` (EOG) at 100 Hz, 1000 samples: slow sines
/// of 2 units peak to peak, so nothing is flat until a test makes it so.
fn recording() -> Recording {
    let kinds = [
        ("A", ChannelType::Eeg),
        ("B", ChannelType::Eeg),
        ("EOG", ChannelType::Eog),
    ];
    let channels = kinds
        .iter()
        .map(|&(name, kind)| ChannelInfo {
            name: name.into(),
            kind,
            unit: "V".into(),
            sfreq: 100.0,
            position: None,
        })
        .collect();
    let data = Array2::from_shape_fn((3, 1000), |(c, t)| (t as f64 * 0.1 + c as f64).sin());
    Recording {
        info: RecordingInfo {
            format: Format::EdfPlus,
            path: PathBuf::from("synthetic.edf"),
            channels,
            sfreq: 100.0,
            n_samples: 1000,
            meas_date: None,
            subject: SubjectInfo::default(),
            session: None,
            annotations: Vec::new(),
            extra: BTreeMap::new(),
            warnings: Vec::new(),
        },
        data,
    }
}

/// Events at samples 100, 400 and 700; epochs cover samples 0..=99 after each.
fn events() -> Vec<Event> {
    [100, 400, 700]
        .iter()
        .map(|&sample| Event {
            sample,
            duration_samples: 0,
            class: 0,
            label: "x".into(),
            description: "T1".into(),
        })
        .collect()
}

fn params(reject: &[(ChannelType, f64)], flat: &[(ChannelType, f64)]) -> EpochParams {
    EpochParams {
        tmin: 0.0,
        tmax: 0.99,
        // No baseline: the samples the tests write stay exactly as written.
        baseline: None,
        reject: reject.iter().copied().collect(),
        flat: flat.iter().copied().collect(),
    }
}

/// Channel `c` constant 0 over event `e`'s epoch, except `spike` at its 10th sample.
fn flatten(rec: &mut Recording, c: usize, e: usize, spike: f64) {
    let start = events()[e].sample;
    rec.data.slice_mut(ndarray::s![c, start..start + 100]).fill(0.0);
    rec.data[[c, start + 10]] = spike;
}

fn reasons(rec: &Recording, p: &EpochParams) -> Vec<(usize, DropReason)> {
    epochs(rec, &events(), p)
        .unwrap()
        .dropped
        .into_iter()
        .map(|d| (d.event_index, d.reason))
        .collect()
}

#[test]
fn a_peak_to_peak_equal_to_the_flat_threshold_is_kept_and_one_below_is_dropped() {
    let mut rec = recording();
    flatten(&mut rec, 0, 1, 0.25);
    let at = params(&[], &[(ChannelType::Eeg, 0.25)]);
    let ep = epochs(&rec, &events(), &at).unwrap();
    assert!(ep.dropped.is_empty(), "{:?}", ep.dropped);
    assert_eq!(ep.data.shape(), &[3, 3, 100]);
    let above = params(&[], &[(ChannelType::Eeg, 0.25 + 1e-12)]);
    assert_eq!(
        reasons(&rec, &above),
        vec![(
            1,
            DropReason::Flat {
                channels: vec!["A".into()]
            }
        )]
    );
    // A zero threshold drops nothing, even an exactly constant channel (as in MNE).
    flatten(&mut rec, 1, 2, 0.0);
    assert!(reasons(&rec, &params(&[], &[(ChannelType::Eeg, 0.0)])).is_empty());
}

#[test]
fn reject_and_flat_together_name_both_lists_in_mne_order() {
    let mut rec = recording();
    flatten(&mut rec, 1, 0, 0.0);
    // Channel A of event 0 gets a 10-unit jump: too large for reject = 5.
    rec.data[[0, 150]] = 10.0;
    flatten(&mut rec, 0, 2, 0.0);
    let p = params(&[(ChannelType::Eeg, 5.0)], &[(ChannelType::Eeg, 0.1)]);
    let got = reasons(&rec, &p);
    assert_eq!(
        got,
        vec![
            (
                0,
                DropReason::PeakToPeakAndFlat {
                    too_large: vec!["A".into()],
                    flat: vec!["B".into()],
                }
            ),
            (
                2,
                DropReason::Flat {
                    channels: vec!["A".into()]
                }
            ),
        ]
    );
    // MNE's drop log lists the channels `reject` found, then those `flat` found.
    assert_eq!(got[0].1.channels(), ["A", "B"]);
    assert_eq!(DropReason::OutOfBounds.channels(), Vec::<&str>::new());
}

#[test]
fn only_the_listed_channel_types_are_checked() {
    let mut rec = recording();
    flatten(&mut rec, 2, 0, 0.0);
    assert!(reasons(&rec, &params(&[], &[(ChannelType::Eeg, 0.1)])).is_empty());
    assert_eq!(
        reasons(&rec, &params(&[], &[(ChannelType::Eog, 0.1)])),
        vec![(
            0,
            DropReason::Flat {
                channels: vec!["EOG".into()]
            }
        )]
    );
}

#[test]
fn a_nan_sample_fails_every_threshold_of_its_type() {
    let mut rec = recording();
    rec.data[[1, 420]] = f64::NAN;
    assert_eq!(
        reasons(&rec, &params(&[], &[(ChannelType::Eeg, 0.1)])),
        vec![(
            1,
            DropReason::Flat {
                channels: vec!["B".into()]
            }
        )]
    );
    assert_eq!(
        reasons(&rec, &params(&[(ChannelType::Eeg, 5.0)], &[])),
        vec![(
            1,
            DropReason::PeakToPeak {
                channels: vec!["B".into()]
            }
        )]
    );
}

fn error_param(rec: &Recording, p: &EpochParams) -> (String, String) {
    match epochs(rec, &events(), p) {
        Err(Error::InvalidParameter { param, reason, .. }) => (param, reason),
        other => panic!("expected an invalid-parameter error, got {other:?}"),
    }
}

#[test]
fn bad_flat_thresholds_and_missing_channel_types_are_refused() {
    let rec = recording();
    for bad in [-1e-6, f64::NAN, f64::INFINITY] {
        let (param, reason) = error_param(&rec, &params(&[], &[(ChannelType::Eeg, bad)]));
        assert_eq!(param, "flat.eeg", "{bad}");
        assert!(reason.contains(">= 0"), "{reason}");
    }
    let (param, reason) = error_param(&rec, &params(&[], &[(ChannelType::Ecg, 1e-6)]));
    assert_eq!(param, "flat.ecg");
    assert!(reason.contains("no ecg channel"), "{reason}");
    let (param, _) = error_param(&rec, &params(&[(ChannelType::Emg, 1e-3)], &[]));
    assert_eq!(param, "reject.emg");
}

#[test]
fn flat_defaults_to_empty_and_drop_reasons_serialise_with_their_name() {
    let old: EpochParams = toml::from_str("tmin = -0.5\ntmax = 2.0\nreject = { eeg = 5e-4 }\n").unwrap();
    assert!(old.flat.is_empty());
    assert_eq!(old.reject[&ChannelType::Eeg], 5e-4);
    let new: EpochParams =
        toml::from_str("tmin = 0.0\ntmax = 1.0\nreject = {}\nflat = { eeg = 1e-6 }\n").unwrap();
    assert_eq!(new.flat, BTreeMap::from([(ChannelType::Eeg, 1e-6)]));
    let json = serde_json::to_value(DropReason::Flat {
        channels: vec!["Cz".into()],
    })
    .unwrap();
    assert_eq!(json, serde_json::json!({"reason": "flat", "channels": ["Cz"]}));
}
