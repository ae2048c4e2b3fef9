//! Standardisation (braindecode), events and epochs (MNE) and windows
//! (braindecode) against the reference goldens.
//!
//! Standardisation outputs are compared to 1e-12 relative to the channel peak:
//! the recursions are braindecode's `lfilter` ones, but a division by a small
//! early variance can amplify rounding; we measure ≤4e-16. Event samples, drop decisions
//! (with the channels MNE names) and window indices are integers and must match exactly.

mod common;

use std::collections::BTreeMap;

use common::{crop, f64s, full_recording, golden, max_rel_error};
use neurodl_io::ChannelType;
use neurodl_signal::Error;
use neurodl_signal::events::{
    DropReason, EpochParams, EventMapping, EventWindowParams, FixedWindowParams, create_fixed_length_windows,
    create_windows_from_events, epochs, events_from_annotations,
};
use neurodl_signal::standardize::{exponential_moving_demean, exponential_moving_standardize};
use serde_json::Value;

const STANDARDIZE_TOL: f64 = 1e-12;

#[test]
fn exponential_moving_standardize_matches_braindecode() {
    for name in ["ems_default", "ems_init_block"] {
        let g = golden(name);
        let Some((data, _)) = crop(&g) else { return };
        let microvolts = data.mapv(|v| v * 1e6);
        let block = g["init_block_size"].as_u64().map(|b| b as usize);
        let out =
            exponential_moving_standardize(microvolts.view(), g["factor_new"].as_f64().unwrap(), block, 1e-4)
                .unwrap();
        let err = max_rel_error(&out, &g["output"]);
        eprintln!("{name}: max relative error {err:e}");
        assert!(err < STANDARDIZE_TOL, "{name}: relative error {err:e}");
    }
}

#[test]
fn exponential_moving_demean_matches_braindecode() {
    let g = golden("emd_init_block");
    let Some((data, _)) = crop(&g) else { return };
    let microvolts = data.mapv(|v| v * 1e6);
    let block = g["init_block_size"].as_u64().map(|b| b as usize);
    let out = exponential_moving_demean(microvolts.view(), g["factor_new"].as_f64().unwrap(), block).unwrap();
    let err = max_rel_error(&out, &g["output"]);
    eprintln!("emd_init_block: max relative error {err:e}");
    assert!(err < STANDARDIZE_TOL, "relative error {err:e}");
}

fn t1_t2() -> EventMapping {
    EventMapping::new([("T1", "left"), ("T2", "right")])
}

#[test]
fn events_from_annotations_match_mne() {
    let g = golden("events_t1_t2");
    let Some(rec) = full_recording() else { return };
    let events = events_from_annotations(&rec.info, &t1_t2()).unwrap();
    let expected = g["events"].as_array().unwrap();
    assert_eq!(events.len(), expected.len());
    for (e, x) in events.iter().zip(expected) {
        assert_eq!(e.sample as u64, x[0].as_u64().unwrap());
        let label = if x[2].as_u64().unwrap() == 1 {
            "left"
        } else {
            "right"
        };
        assert_eq!(e.label, label);
        assert_eq!(e.class, if label == "left" { 0 } else { 1 });
    }
}

#[test]
fn epochs_with_baseline_and_rejection_match_mne() {
    let g = golden("epochs_t1_t2");
    let Some(rec) = full_recording() else { return };
    let events = events_from_annotations(&rec.info, &t1_t2()).unwrap();
    let params = EpochParams {
        tmin: g["tmin"].as_f64().unwrap(),
        tmax: g["tmax"].as_f64().unwrap(),
        baseline: Some((None, Some(0.0))),
        reject: BTreeMap::from([(ChannelType::Eeg, g["reject_eeg"].as_f64().unwrap())]),
        flat: BTreeMap::new(),
    };
    let ep = epochs(&rec, &events, &params).unwrap();
    let kept: Vec<u64> = ep.events.iter().map(|e| e.sample as u64).collect();
    let expected_kept: Vec<u64> = g["kept_event_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(kept, expected_kept);
    let drop_log = g["drop_log"].as_array().unwrap();
    assert_eq!(ep.dropped.len() + ep.events.len(), drop_log.len());
    for d in &ep.dropped {
        let expected: Vec<&str> = drop_log[d.event_index]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        match &d.reason {
            DropReason::PeakToPeak { channels } => assert_eq!(channels, &expected, "event {}", d.event_index),
            other => panic!("unexpected drop {other:?}"),
        }
    }
    let picks: Vec<usize> = g["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    for (row, &c) in g["first_epoch_picks"].as_array().unwrap().iter().zip(&picks) {
        let expected = f64s(row);
        let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_eq!(expected.len(), ep.times.len());
        for (i, e) in expected.iter().enumerate() {
            assert!(
                (ep.data[[0, c, i]] - e).abs() <= 1e-12 * scale,
                "channel {c} sample {i}"
            );
        }
    }
}

#[test]
fn windows_from_events_match_braindecode() {
    let g = golden("windows_from_events");
    let Some(rec) = full_recording() else { return };
    let events = events_from_annotations(&rec.info, &t1_t2()).unwrap();
    let stops: Vec<u64> = events
        .iter()
        .map(|e| (e.sample + e.duration_samples) as u64)
        .collect();
    let expected_stops: Vec<u64> = g["trial_stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(stops, expected_stops, "trial stops (onset + truncated duration)");
    for case in g["cases"].as_array().unwrap() {
        let params = EventWindowParams {
            trial_start_offset_samples: case["trial_start_offset_samples"].as_i64().unwrap(),
            trial_stop_offset_samples: case["trial_stop_offset_samples"].as_i64().unwrap(),
            window_size_samples: Some(case["window_size_samples"].as_u64().unwrap() as usize),
            window_stride_samples: Some(case["window_stride_samples"].as_u64().unwrap() as usize),
            drop_last_window: case["drop_last_window"].as_bool().unwrap(),
        };
        let windows = create_windows_from_events(&events, rec.info.n_samples, 7, &params).unwrap();
        let col = |k: &str| -> Vec<u64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        assert_eq!(
            windows.iter().map(|w| w.trial as u64).collect::<Vec<_>>(),
            col("i_trial"),
            "{case}"
        );
        assert_eq!(
            windows
                .iter()
                .map(|w| w.i_window_in_trial as u64)
                .collect::<Vec<_>>(),
            col("i_window_in_trial")
        );
        assert_eq!(windows.iter().map(|w| w.start).collect::<Vec<_>>(), col("starts"));
        assert_eq!(windows.iter().map(|w| w.stop).collect::<Vec<_>>(), col("stops"));
        assert!(windows.iter().all(|w| w.recording == 7 && (w.label as usize) < 2));
    }
}

/// Thresholds per channel type from a golden (`null` for none).
fn thresholds(v: &Value) -> BTreeMap<ChannelType, f64> {
    if v.is_null() {
        BTreeMap::new()
    } else {
        serde_json::from_value(v.clone()).unwrap()
    }
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

#[test]
fn flat_channel_rejection_matches_mne() {
    let g = golden("epochs_flat");
    let Some(original) = full_recording() else { return };
    let events = events_from_annotations(&original.info, &t1_t2()).unwrap();
    assert_eq!(g["baseline"], serde_json::json!([null, 0.0]));
    for case in g["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut rec = original.clone();
        for edit in case["edits"].as_array().unwrap() {
            let channel = edit["channel"].as_str().unwrap();
            let c = rec
                .info
                .channels
                .iter()
                .position(|ch| ch.name == channel)
                .unwrap();
            let (a, b) = (
                edit["start"].as_u64().unwrap() as usize,
                edit["stop"].as_u64().unwrap() as usize,
            );
            rec.data
                .slice_mut(ndarray::s![c, a..b])
                .fill(edit["value"].as_f64().unwrap());
        }
        let params = EpochParams {
            tmin: g["tmin"].as_f64().unwrap(),
            tmax: g["tmax"].as_f64().unwrap(),
            baseline: Some((None, Some(0.0))),
            reject: thresholds(&case["reject"]),
            flat: thresholds(&case["flat"]),
        };
        let ep = epochs(&rec, &events, &params).unwrap();
        let kept: Vec<u64> = ep.events.iter().map(|e| e.sample as u64).collect();
        let expected_kept: Vec<u64> = case["kept_event_samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(kept, expected_kept, "{name}: kept epochs");
        let drop_log = case["drop_log"].as_array().unwrap();
        assert_eq!(ep.dropped.len() + ep.events.len(), drop_log.len(), "{name}");
        for d in &ep.dropped {
            assert_eq!(
                d.reason.channels(),
                names(&drop_log[d.event_index]),
                "{name}: event {}",
                d.event_index
            );
            if params.reject.is_empty() {
                assert!(
                    matches!(d.reason, DropReason::Flat { .. }),
                    "{name}: {:?}",
                    d.reason
                );
            }
        }
        eprintln!(
            "{name}: {} of {} epochs kept, drop log equal to MNE's; closest other peak-to-peak {:.3}% from a threshold",
            ep.events.len(),
            drop_log.len(),
            100.0 * case["closest_relative_margin"].as_f64().unwrap()
        );
        if name == "zeroed_segments" {
            let reason = |i: usize| &ep.dropped.iter().find(|d| d.event_index == i).unwrap().reason;
            // Epoch 1 is flat only; epoch 2 is flat (Cz) and too large (frontal channels).
            assert_eq!(
                reason(1),
                &DropReason::Flat {
                    channels: vec!["C3..".into(), "Cz..".into()]
                }
            );
            match reason(2) {
                DropReason::PeakToPeakAndFlat { too_large, flat } => {
                    assert_eq!(flat, &["Cz.."]);
                    assert!(
                        too_large.iter().all(|c| c.starts_with('F') || c.starts_with('A')),
                        "{too_large:?}"
                    );
                }
                other => panic!("epoch 2: {other:?}"),
            }
            // C4's peak-to-peak equals the threshold exactly in epoch 5: strict `<` keeps it.
            assert_eq!(case["exact_ties"].as_u64(), Some(1));
            assert!(ep.events.iter().any(|e| e.sample == 7312));
        }
    }
}

fn opt_usize(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize)
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// Golden cases where neurodl refuses: (case, parameter named in the error, part of
/// its message). The first ones braindecode refuses too; the last three are
/// deliberate differences (see `create_fixed_length_windows`), checked below against
/// what braindecode returned instead.
const REFUSED: [(&str, &str, &str); 10] = [
    (
        "window_longer_than_recording",
        "window_size_samples",
        "longer than the span",
    ),
    ("zero_stride", "window_stride_samples", "at least 1"),
    ("zero_window_size", "window_size_samples", "at least 1"),
    (
        "stride_without_window_size",
        "window_stride_samples",
        "needs window_size_samples",
    ),
    (
        "window_longer_than_span",
        "window_size_samples",
        "longer than the span",
    ),
    (
        "start_offset_at_recording_end",
        "start_offset_samples",
        "before the stop",
    ),
    (
        "stop_before_start_offset",
        "start_offset_samples",
        "before the stop",
    ),
    (
        "window_longer_than_span_drop",
        "window_size_samples",
        "longer than the span",
    ),
    (
        "stop_past_recording_end",
        "stop_samples",
        "past the recording's end",
    ),
    ("stop_zero", "stop_samples", "leave it unset"),
];

#[test]
fn fixed_length_windows_match_braindecode() {
    let g = golden("fixed_length_windows");
    let n = g["recording_n_times"].as_u64().unwrap() as usize;
    // The real recording's length: the goldens only need it, not the samples.
    if let Some(rec) = full_recording() {
        assert_eq!(rec.info.n_samples, n);
    }
    let cases = g["cases"].as_array().unwrap();
    let (mut matched, mut refused) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let params = FixedWindowParams {
            start_offset_samples: case["start_offset_samples"].as_u64().unwrap() as usize,
            stop_samples: opt_usize(&case["stop_offset_samples"]),
            window_size_samples: opt_usize(&case["window_size_samples"]),
            window_stride_samples: opt_usize(&case["window_stride_samples"]),
            drop_last_window: case["drop_last_window"].as_bool().unwrap(),
            label: None,
        };
        let got = create_fixed_length_windows(n, 3, &params);
        if let Some(&(_, param, fragment)) = REFUSED.iter().find(|r| r.0 == name) {
            let Err(Error::InvalidParameter { param: p, reason, .. }) = got else {
                panic!("{name}: neurodl should refuse, got {got:?}");
            };
            assert_eq!(
                (p.as_str(), reason.contains(fragment)),
                (param, true),
                "{name}: {reason}"
            );
            match name {
                "window_longer_than_span_drop" => assert_eq!(u64s(&case["starts"]), Vec::<u64>::new()),
                "stop_past_recording_end" => assert!(*u64s(&case["stops"]).last().unwrap() > n as u64),
                "stop_zero" => {
                    assert!(case["warnings"].to_string().contains("Using `None`"), "{name}");
                }
                _ => assert!(case["error"].is_object(), "{name}: braindecode refuses it too"),
            }
            refused += 1;
            continue;
        }
        assert!(
            case["error"].is_null(),
            "{name}: braindecode refuses but neurodl has no expectation"
        );
        let w = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            w.iter().map(|w| w.start).collect::<Vec<_>>(),
            u64s(&case["starts"]),
            "{name}: starts"
        );
        assert_eq!(
            w.iter().map(|w| w.stop).collect::<Vec<_>>(),
            u64s(&case["stops"]),
            "{name}: stops"
        );
        assert_eq!(
            w.iter().map(|w| w.i_window_in_trial as u64).collect::<Vec<_>>(),
            u64s(&case["i_window_in_trial"]),
            "{name}"
        );
        assert!(
            w.iter()
                .all(|w| w.recording == 3 && w.trial == 0 && w.label == u32::MAX)
        );
        matched += 1;
    }
    assert_eq!(
        refused,
        REFUSED.len(),
        "every expected refusal has its golden case"
    );
    eprintln!("fixed-length windows: {matched} cases equal to braindecode, {refused} refused");
}
