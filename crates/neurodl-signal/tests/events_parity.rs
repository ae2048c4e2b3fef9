//! Standardisation (braindecode), events and epochs (MNE) and windows
//! (braindecode) against the reference goldens.
//!
//! Standardisation outputs are compared to 1e-12 relative to the channel peak:
//! the recursions are braindecode's `lfilter` ones, but a division by a small
//! early variance can amplify rounding; we measure ≤4e-16. Event samples, drop decisions and window
//! indices are integers and must match exactly.

mod common;

use std::collections::BTreeMap;

use common::{crop, f64s, full_recording, golden, max_rel_error};
use neurodl_io::ChannelType;
use neurodl_signal::events::{
    DropReason, EpochParams, EventMapping, EventWindowParams, create_windows_from_events, epochs,
    events_from_annotations,
};
use neurodl_signal::standardize::{exponential_moving_demean, exponential_moving_standardize};

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
