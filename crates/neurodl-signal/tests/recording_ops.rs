//! Recording-level operations: channel bookkeeping, annotations through crop
//! and resampling, references, windows and epochs at the recording's edges,
//! and a clear error for every bad parameter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array2, array};
use neurodl_io::{Annotation, ChannelInfo, ChannelType, Format, Recording, RecordingInfo, SubjectInfo};
use neurodl_signal::Error;
use neurodl_signal::events::{
    DropReason, EpochParams, EventMapping, EventWindowParams, FixedWindowParams, create_fixed_length_windows,
    create_windows_from_events, epochs, events_from_annotations,
};
use neurodl_signal::fir::{FirSpec, design_fir, design_notch};
use neurodl_signal::iir::{Band, butter_sos};
use neurodl_signal::ops::{self, Bipolar, ResampleMethod};
use neurodl_signal::resample::{resample_fft, resample_poly};

fn channel(name: &str, kind: ChannelType, sfreq: f64) -> ChannelInfo {
    ChannelInfo {
        name: name.into(),
        kind,
        unit: if kind.is_voltage() { "V".into() } else { "".into() },
        sfreq,
        position: None,
    }
}

/// A small synthetic recording: `names` EEG channels (plus optional stim) at `sfreq`.
fn synthetic(names: &[&str], sfreq: f64, n: usize, annotations: Vec<Annotation>) -> Recording {
    let channels: Vec<ChannelInfo> = names
        .iter()
        .map(|n| {
            channel(
                n,
                if *n == "STI" {
                    ChannelType::Stim
                } else {
                    ChannelType::Eeg
                },
                sfreq,
            )
        })
        .collect();
    let data = Array2::from_shape_fn((names.len(), n), |(c, t)| {
        if names[c] == "STI" {
            0.0
        } else {
            ((t as f64) * 0.05 * (c + 1) as f64).sin() * 1e-5 + c as f64 * 1e-6
        }
    });
    Recording {
        info: RecordingInfo {
            format: Format::EdfPlus,
            path: PathBuf::from("synthetic.edf"),
            channels,
            sfreq,
            n_samples: n,
            meas_date: None,
            subject: SubjectInfo::default(),
            session: None,
            annotations,
            extra: BTreeMap::new(),
            warnings: Vec::new(),
        },
        data,
    }
}

fn ann(onset: f64, duration: f64, d: &str) -> Annotation {
    Annotation {
        onset,
        duration,
        description: d.into(),
    }
}

fn param_of(e: Error) -> String {
    match e {
        Error::InvalidParameter { param, .. } => param,
        other => panic!("expected an invalid-parameter error, got {other}"),
    }
}

#[test]
fn average_reference_zeroes_the_channel_mean() {
    let mut rec = synthetic(&["A", "B", "C"], 100.0, 200, vec![]);
    ops::set_average_reference(&mut rec).unwrap();
    for t in 0..200 {
        assert!(rec.data.column(t).sum().abs() < 1e-18);
    }
}

#[test]
fn named_reference_makes_the_reference_channel_zero_and_keeps_it() {
    let mut rec = synthetic(&["A", "B", "C"], 100.0, 50, vec![]);
    let before = rec.data.clone();
    ops::set_reference(&mut rec, &["B".into()]).unwrap();
    assert_eq!(rec.info.channels.len(), 3);
    assert!(rec.data.row(1).iter().all(|v| *v == 0.0));
    assert_eq!(rec.data[[0, 7]], before[[0, 7]] - before[[1, 7]]);
    let mut linked = synthetic(&["A", "B", "C"], 100.0, 50, vec![]);
    ops::set_reference(&mut linked, &["A".into(), "C".into()]).unwrap();
    assert!((linked.data[[1, 3]] - (before[[1, 3]] - (before[[0, 3]] + before[[2, 3]]) / 2.0)).abs() < 1e-20);
}

#[test]
fn bipolar_derivation_replaces_its_electrodes() {
    let mut rec = synthetic(&["A", "B", "C"], 100.0, 20, vec![]);
    let before = rec.data.clone();
    let pair = Bipolar {
        anode: "A".into(),
        cathode: "B".into(),
        name: None,
    };
    ops::set_bipolar_reference(&mut rec, &[pair]).unwrap();
    assert_eq!(rec.info.channel_names(), vec!["C", "A-B"]);
    assert_eq!(rec.data[[1, 5]], before[[0, 5]] - before[[1, 5]]);
    let bad = Bipolar {
        anode: "C".into(),
        cathode: "Nope".into(),
        name: None,
    };
    assert_eq!(
        param_of(ops::set_bipolar_reference(&mut rec, &[bad]).unwrap_err()),
        "cathode"
    );
}

#[test]
fn pick_drop_rename_keep_rows_and_names_together() {
    let mut rec = synthetic(&["A", "B", "C", "STI"], 100.0, 10, vec![]);
    let c_row = rec.data.row(2).to_owned();
    ops::pick_types(&mut rec, &[ChannelType::Eeg]).unwrap();
    assert_eq!(rec.info.channel_names(), vec!["A", "B", "C"]);
    ops::drop_channels(&mut rec, &["A".into()]).unwrap();
    ops::pick_channels(&mut rec, &["C".into(), "B".into()]).unwrap();
    assert_eq!(rec.info.channel_names(), vec!["C", "B"]);
    assert_eq!(rec.data.row(0), c_row);
    ops::rename_channels(&mut rec, &BTreeMap::from([("C".to_string(), "Cz".to_string())])).unwrap();
    assert_eq!(rec.info.channel_names(), vec!["Cz", "B"]);
    let clash = BTreeMap::from([("Cz".to_string(), "B".to_string())]);
    assert_eq!(
        param_of(ops::rename_channels(&mut rec, &clash).unwrap_err()),
        "rename"
    );
    assert_eq!(
        param_of(ops::pick_channels(&mut rec, &["X".into()]).unwrap_err()),
        "pick"
    );
    assert_eq!(
        param_of(ops::pick_types(&mut rec, &[ChannelType::Ecg]).unwrap_err()),
        "pick_types"
    );
}

#[test]
fn crop_shifts_clips_and_drops_annotations() {
    let anns = vec![
        ann(0.5, 0.0, "early"),
        ann(1.5, 1.0, "straddles"),
        ann(3.0, 0.5, "inside"),
        ann(9.5, 0.0, "late"),
    ];
    let mut rec = synthetic(&["A"], 100.0, 1000, anns);
    let original = rec.data.clone();
    ops::crop(&mut rec, 2.0, Some(5.0)).unwrap();
    // tmax is included, as in MNE.
    assert_eq!(rec.info.n_samples, 301);
    assert_eq!(rec.data[[0, 0]], original[[0, 200]]);
    let got: Vec<(f64, f64, &str)> = rec
        .info
        .annotations
        .iter()
        .map(|a| (a.onset, a.duration, a.description.as_str()))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].2, "straddles");
    assert!((got[0].0 - 0.0).abs() < 1e-12 && (got[0].1 - 0.5).abs() < 1e-12);
    assert!((got[1].0 - 1.0).abs() < 1e-12 && got[1].2 == "inside");
    assert_eq!(param_of(ops::crop(&mut rec, 1.0, Some(0.5)).unwrap_err()), "tmax");
    assert_eq!(param_of(ops::crop(&mut rec, 4.0, None).unwrap_err()), "tmin");
    assert_eq!(param_of(ops::crop(&mut rec, -1.0, None).unwrap_err()), "tmin");
}

#[test]
fn resampling_keeps_annotation_times_and_stim_codes() {
    let anns = vec![ann(1.0, 0.5, "T1"), ann(2.37, 0.0, "T2")];
    let mut rec = synthetic(&["A", "B", "STI"], 160.0, 800, anns.clone());
    // A one-sample trigger must survive 160 → 100 Hz: old sample 161 falls in
    // the span of new sample 101 (old samples 161..163).
    rec.data[[2, 161]] = 3.0;
    ops::resample(&mut rec, 100.0, ResampleMethod::Fft).unwrap();
    assert_eq!(rec.info.n_samples, 500);
    assert_eq!(rec.info.sfreq, 100.0);
    assert!(rec.info.channels.iter().all(|c| c.sfreq == 100.0));
    assert_eq!(rec.info.annotations, anns, "onsets are seconds and do not change");
    let codes: Vec<(usize, f64)> = rec
        .data
        .row(2)
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, v)| *v != 0.0)
        .collect();
    assert_eq!(codes, vec![(101, 3.0)]);
    // The event sample follows the new rate.
    let events = events_from_annotations(&rec.info, &EventMapping::new([("T2", "x")])).unwrap();
    assert_eq!(events[0].sample, 237);
    let mut poly = synthetic(&["A"], 160.0, 800, vec![]);
    ops::resample(&mut poly, 100.0, ResampleMethod::Polyphase).unwrap();
    assert_eq!(poly.info.n_samples, 500);
    assert_eq!(
        param_of(ops::resample(&mut poly, -5.0, ResampleMethod::Fft).unwrap_err()),
        "sfreq"
    );
}

#[test]
fn zscore_gives_zero_mean_unit_variance_and_scale_updates_units() {
    let mut rec = synthetic(&["A", "B"], 100.0, 300, vec![]);
    ops::scale(&mut rec, 1e6, &[ChannelType::Eeg]).unwrap();
    assert_eq!(rec.info.channels[0].unit, "uV");
    ops::zscore(&mut rec).unwrap();
    for row in rec.data.outer_iter() {
        let mean = row.sum() / 300.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 300.0;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
    }
    assert_eq!(
        param_of(ops::scale(&mut rec, 0.0, &[ChannelType::Eeg]).unwrap_err()),
        "factor"
    );
}

#[test]
fn events_at_the_very_start_and_end_and_epochs_that_leave_the_recording() {
    let anns = vec![ann(0.0, 1.0, "T1"), ann(4.0, 0.99, "T2"), ann(9.99, 0.0, "T1")];
    let rec = synthetic(&["A", "B"], 100.0, 1000, anns);
    let mapping = EventMapping::new([("T1", "left"), ("T2", "right")]);
    let events = events_from_annotations(&rec.info, &mapping).unwrap();
    assert_eq!(
        events.iter().map(|e| e.sample).collect::<Vec<_>>(),
        vec![0, 400, 999]
    );
    let params = EpochParams {
        tmin: -0.1,
        tmax: 0.5,
        baseline: None,
        reject: BTreeMap::new(),
        flat: BTreeMap::new(),
    };
    let ep = epochs(&rec, &events, &params).unwrap();
    assert_eq!(ep.events.len(), 1);
    assert_eq!(ep.data.shape(), &[1, 2, 61]);
    assert_eq!(ep.dropped.len(), 2);
    assert!(ep.dropped.iter().all(|d| d.reason == DropReason::OutOfBounds));
    // Windows: the event at the very start works; one at the very end fails clearly.
    let wp = EventWindowParams {
        trial_start_offset_samples: 0,
        trial_stop_offset_samples: 0,
        window_size_samples: Some(50),
        window_stride_samples: Some(30),
        drop_last_window: false,
    };
    let w = create_windows_from_events(&events[..2], 1000, 0, &wp).unwrap();
    // Trial 0: 0..100 → starts 0, 30, then 50 aligned to the end; trial 1: 400..499.
    assert_eq!(
        w.iter().map(|w| (w.trial, w.start)).collect::<Vec<_>>(),
        vec![(0, 0), (0, 30), (0, 50), (1, 400), (1, 430), (1, 449)]
    );
    let too_long = EventWindowParams {
        window_size_samples: Some(200),
        ..wp.clone()
    };
    assert_eq!(
        param_of(create_windows_from_events(&events[..2], 1000, 0, &too_long).unwrap_err()),
        "window_size_samples"
    );
    let early = EventWindowParams {
        trial_start_offset_samples: -10,
        ..wp.clone()
    };
    assert_eq!(
        param_of(create_windows_from_events(&events, 1000, 0, &early).unwrap_err()),
        "trial_start_offset_samples"
    );
    let late = EventWindowParams {
        trial_stop_offset_samples: 5,
        ..wp
    };
    assert_eq!(
        param_of(create_windows_from_events(&events, 1000, 0, &late).unwrap_err()),
        "trial_stop_offset_samples"
    );
    let missing = EventMapping::new([("T9", "x")]);
    let err = events_from_annotations(&rec.info, &missing).unwrap_err();
    assert!(
        err.to_string().contains("T9") && err.to_string().contains("T1, T2"),
        "{err}"
    );
}

#[test]
fn fixed_length_windows_follow_braindecode() {
    let p = FixedWindowParams {
        window_size_samples: Some(4),
        window_stride_samples: Some(3),
        ..Default::default()
    };
    let w = create_fixed_length_windows(11, 2, &p).unwrap();
    assert_eq!(w.iter().map(|w| w.start).collect::<Vec<_>>(), vec![0, 3, 6, 7]);
    let dropped = create_fixed_length_windows(
        11,
        2,
        &FixedWindowParams {
            drop_last_window: true,
            ..p
        },
    )
    .unwrap();
    assert_eq!(dropped.iter().map(|w| w.start).collect::<Vec<_>>(), vec![0, 3, 6]);
    let whole = create_fixed_length_windows(11, 0, &FixedWindowParams::default()).unwrap();
    assert_eq!((whole.len(), whole[0].stop), (1, 11));
    let long = FixedWindowParams {
        window_size_samples: Some(12),
        ..Default::default()
    };
    assert_eq!(
        param_of(create_fixed_length_windows(11, 0, &long).unwrap_err()),
        "window_size_samples"
    );
    assert_eq!(std::mem::size_of::<neurodl_signal::events::WindowRef>(), 32);
}

#[test]
fn bad_filter_parameters_name_the_parameter() {
    let bp = |l, h| {
        design_fir(160.0, &FirSpec::bandpass(l, h))
            .map(|_| ())
            .unwrap_err()
    };
    assert_eq!(param_of(bp(4.0, 80.0)), "h_freq");
    assert_eq!(param_of(bp(4.0, 95.0)), "h_freq");
    assert_eq!(param_of(bp(-1.0, 30.0)), "l_freq");
    assert_eq!(param_of(bp(f64::NAN, 30.0)), "l_freq");
    assert_eq!(param_of(bp(30.0, 30.0)), "l_freq");
    assert_eq!(
        param_of(design_fir(160.0, &FirSpec::highpass(80.0)).unwrap_err()),
        "l_freq"
    );
    assert_eq!(
        param_of(design_fir(0.0, &FirSpec::lowpass(10.0)).unwrap_err()),
        "sfreq"
    );
    let even = FirSpec {
        filter_length: Some(100),
        ..FirSpec::lowpass(30.0)
    };
    assert_eq!(param_of(design_fir(160.0, &even).unwrap_err()), "filter_length");
    assert_eq!(
        param_of(design_notch(160.0, &[80.0], None, 1.0, None).unwrap_err()),
        "freqs"
    );
    let butter = |band| butter_sos(4, band, 160.0).map(|_| ()).unwrap_err();
    assert_eq!(param_of(butter(Band::Lowpass { cutoff: 80.0 })), "cutoff");
    assert_eq!(param_of(butter(Band::Bandpass { low: 30.0, high: 4.0 })), "low");
    assert_eq!(
        param_of(butter(Band::Bandpass {
            low: -4.0,
            high: 30.0
        })),
        "low"
    );
    assert_eq!(
        param_of(butter_sos(0, Band::Lowpass { cutoff: 10.0 }, 160.0).unwrap_err()),
        "order"
    );
    let short = butter_sos(4, Band::Bandpass { low: 4.0, high: 30.0 }, 160.0).unwrap();
    let mut data = Array2::<f64>::zeros((1, 20));
    assert_eq!(
        param_of(short.sosfiltfilt(data.view_mut()).unwrap_err()),
        "data length"
    );
    assert_eq!(param_of(resample_poly(data.view(), 0, 2).unwrap_err()), "up");
    assert_eq!(
        param_of(resample_fft(data.view(), f64::INFINITY).unwrap_err()),
        "ratio"
    );
}

#[test]
fn non_finite_samples_are_refused_with_channel_and_sample() {
    let mut rec = synthetic(&["A", "B"], 160.0, 400, vec![]);
    rec.data[[1, 123]] = f64::NAN;
    let err = ops::filter_fir(&mut rec, Some(1.0), Some(30.0)).unwrap_err();
    match &err {
        Error::NonFinite { channel, sample, .. } => assert_eq!((channel.as_str(), *sample), ("B", 123)),
        other => panic!("{other}"),
    }
    rec.data[[1, 123]] = f64::INFINITY;
    assert!(matches!(
        ops::resample(&mut rec, 100.0, ResampleMethod::Fft),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        ops::filter_iir(&mut rec, 4, Band::Highpass { cutoff: 1.0 }, true),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        ops::exponential_moving_standardize(&mut rec, 1e-3, None, 1e-4),
        Err(Error::NonFinite { .. })
    ));
}

#[test]
fn single_channel_and_trivial_inputs() {
    let line = Array2::from_shape_fn((1, 200), |(_, t)| 0.5 + t as f64 * 0.01);
    let f = design_fir(160.0, &FirSpec::lowpass(30.0)).unwrap();
    assert_eq!(f.taps.len(), 71);
    let mut y = line.clone();
    f.apply(y.view_mut()).unwrap();
    // A line continues as a line under odd reflection, and a symmetric
    // unit-DC-gain filter keeps lines: the edges show no transient.
    for (a, b) in y.iter().zip(line.iter()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let x = array![[1.0, 2.0, 3.0, 4.0, 5.0]];
    assert_eq!(resample_poly(x.view(), 2, 2).unwrap(), x);
    assert_eq!(resample_fft(x.view(), 2.0).unwrap().ncols(), 10);
}

#[test]
fn pipelines_apply_in_parallel_and_name_the_failing_step() {
    use neurodl_signal::pipeline::Pipeline;
    let p = Pipeline::from_toml_str(
        "[[step]]\nop = \"filter\"\nl_freq = 1.0\nh_freq = 30.0\n[[step]]\nop = \"resample\"\nsfreq = 50.0\n",
        "<test>",
    )
    .unwrap();
    let recs = vec![
        synthetic(&["A", "B"], 100.0, 1000, vec![]),
        synthetic(&["A"], 60.0, 600, vec![]),
    ];
    let mut sequential = recs[0].clone();
    p.apply(&mut sequential).unwrap();
    let results = p.apply_all(recs);
    let first = results[0].as_ref().unwrap();
    assert_eq!(
        first.data, sequential.data,
        "parallel and sequential runs agree exactly"
    );
    let err = results[1].as_ref().unwrap_err().to_string();
    // 30 Hz is the Nyquist frequency of the 60 Hz recording.
    assert!(err.starts_with("step 1 (filter): invalid h_freq = 30"), "{err}");
}

#[test]
fn event_samples_rescale_like_mne_raw_resample() {
    use neurodl_signal::resample::rescale_samples;
    // MNE: min(round(sample · ratio), n_new − 1), NumPy rounding (ties to even).
    let ratio = 100.0 / 160.0;
    assert_eq!(
        rescale_samples(&[0, 4, 12, 672, 19_999], ratio, 12_500),
        vec![0, 2, 8, 420, 12_499]
    );
    // 4 · 0.625 = 2.5 → 2 and 12 · 0.625 = 7.5 → 8: ties go to the even neighbour.
    assert_eq!(rescale_samples(&[20_000], ratio, 12_500), vec![12_499]);
}

fn sine(freq: f64, sfreq: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|t| (2.0 * std::f64::consts::PI * freq * t as f64 / sfreq).sin())
        .collect()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn notch_removes_the_line_frequency_and_its_harmonics_but_not_the_rest() {
    let (sfreq, n) = (500.0, 5000);
    let mut rec = synthetic(&["A", "B"], sfreq, n, vec![]);
    let (line, harmonic, alpha) = (sine(60.0, sfreq, n), sine(180.0, sfreq, n), sine(10.0, sfreq, n));
    for t in 0..n {
        rec.data[[0, t]] = line[t] + harmonic[t];
        rec.data[[1, t]] = alpha[t];
    }
    ops::notch(&mut rec, 60.0).unwrap();
    // Away from the edges (the filter is 6.6 s of taps; judge the middle second).
    let middle = |r: usize| rec.data.row(r).slice(ndarray::s![2000..2500]).to_vec();
    assert!(
        rms(&middle(0)) < 0.01,
        "60 + 180 Hz left: rms {}",
        rms(&middle(0))
    );
    assert!(
        (rms(&middle(1)) - rms(&alpha[2000..2500])).abs() < 0.01,
        "10 Hz must pass"
    );
    assert_eq!(param_of(ops::notch(&mut rec, 250.0).unwrap_err()), "notch");
}

#[test]
fn sosfiltfilt_keeps_a_constant_signal_exactly_in_the_pass_band() {
    // Steady-state initial conditions: a low-pass passes DC with no edge transient.
    let sos = butter_sos(5, Band::Lowpass { cutoff: 20.0 }, 160.0).unwrap();
    let mut x = Array2::from_elem((1, 300), 3.25);
    sos.sosfiltfilt(x.view_mut()).unwrap();
    assert!(
        x.iter().all(|v| (v - 3.25).abs() < 1e-12),
        "{:?}",
        &x.as_slice().unwrap()[..5]
    );
}

#[test]
fn polyphase_resampling_of_a_recording_accepts_non_integer_rates() {
    let mut rec = synthetic(&["A"], 160.0, 1600, vec![ann(5.0, 1.0, "T1")]);
    ops::resample(&mut rec, 99.5, ResampleMethod::Polyphase).unwrap();
    // 99.5/160 = 199/320: ceil(1600 · 199 / 320) samples.
    assert_eq!(rec.info.n_samples, 995);
    assert_eq!(rec.info.annotations[0].onset, 5.0);
    let err = ops::resample(&mut rec, 100.0 / 3.0, ResampleMethod::Polyphase).unwrap_err();
    assert_eq!(param_of(err), "sfreq");
}

#[test]
fn degenerate_window_and_epoch_requests_are_errors_not_hangs_or_huge_allocations() {
    let rec = synthetic(
        &["A"],
        100.0,
        1000,
        vec![ann(1.0, 0.0, "T1"), ann(3.0, 0.0, "T1")],
    );
    let events = events_from_annotations(&rec.info, &EventMapping::new([("T1", "x")])).unwrap();
    // Zero-duration events and no window size: nothing to infer a size from.
    let infer = EventWindowParams {
        trial_start_offset_samples: 0,
        trial_stop_offset_samples: 0,
        window_size_samples: None,
        window_stride_samples: None,
        drop_last_window: false,
    };
    assert_eq!(
        param_of(create_windows_from_events(&events, 1000, 0, &infer).unwrap_err()),
        "window_size_samples"
    );
    // With a stop offset the trial size is inferred: one window per trial.
    let offset = EventWindowParams {
        trial_stop_offset_samples: 50,
        ..infer
    };
    let w = create_windows_from_events(&events, 1000, 0, &offset).unwrap();
    assert_eq!(
        w.iter().map(|w| (w.start, w.stop)).collect::<Vec<_>>(),
        vec![(100, 150), (300, 350)]
    );
    let huge = EpochParams {
        tmin: 0.0,
        tmax: 1e9,
        baseline: None,
        reject: BTreeMap::new(),
        flat: BTreeMap::new(),
    };
    assert_eq!(param_of(epochs(&rec, &events, &huge).unwrap_err()), "tmax");
    let x = Array2::<f64>::zeros((1, 10));
    assert_eq!(
        param_of(resample_poly(x.view(), 1_000_003, 2).unwrap_err()),
        "up/down"
    );
}

/// `read_and_apply` streams blocks of channels through the channel-wise head of a
/// pipeline; the result must be `read_all` + `apply`, bit for bit, metadata included,
/// with a stimulus channel in the middle of the blocks and a reference step after them.
#[test]
fn reading_and_preprocessing_in_blocks_of_channels_equals_reading_everything_first() {
    use neurodl_io::edf::{EdfVariant, write_edf};
    use neurodl_io::open_recording;
    use neurodl_signal::pipeline::Pipeline;
    // 41 channels × 8000 samples of f64 is 2.6 MB: several streaming blocks.
    let mut names: Vec<String> = (0..40).map(|c| format!("E{c}")).collect();
    names.insert(17, "STI".into());
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut rec = synthetic(
        &name_refs,
        160.0,
        8000,
        vec![ann(1.0, 4.0, "T1"), ann(20.0, 4.0, "T2")],
    );
    rec.data
        .row_mut(17)
        .iter_mut()
        .skip(300)
        .step_by(997)
        .for_each(|v| *v = 3.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.bdf");
    write_edf(&path, &rec, EdfVariant::BdfPlus).unwrap();

    let pipeline = Pipeline::from_toml_str(
        r#"
[[step]]
op = "crop"
tmin = 0.5
[[step]]
op = "filter"
l_freq = 4.0
h_freq = 38.0
[[step]]
op = "resample"
sfreq = 100.0
[[step]]
op = "scale"
factor = 1e6
[[step]]
op = "exponential_moving_standardize"
init_block_size = 500
[[step]]
op = "average_reference"
"#,
        "<test>",
    )
    .unwrap();
    let mut whole = open_recording(&path).unwrap().read_all().unwrap();
    pipeline.apply(&mut whole).unwrap();
    let streamed = pipeline
        .read_and_apply(open_recording(&path).unwrap().as_mut())
        .unwrap();
    assert_eq!(streamed.data.dim(), (41, whole.info.n_samples));
    assert_eq!(
        streamed, whole,
        "same samples, channels, units, rate and annotations"
    );

    // A failing step is reported with its position, as `apply` reports it.
    let bad = Pipeline::from_toml_str(
        "[[step]]\nop = \"filter\"\nl_freq = 4.0\nh_freq = 80.0\n",
        "<test>",
    )
    .unwrap();
    let err = bad
        .read_and_apply(open_recording(&path).unwrap().as_mut())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("step 1 (filter): invalid h_freq = 80"), "{err}");
}
