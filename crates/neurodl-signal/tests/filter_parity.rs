//! FIR (MNE) and Butterworth SOS (SciPy) filters against the reference goldens.
//!
//! Tolerances: designs (taps, SOS coefficients) are compared to 1e-12 absolute;
//! MNE filters with overlap-add FFTs and SciPy with its own section loops, so
//! filtered outputs differ only by rounding accumulated over a few hundred
//! taps; 1e-12 of the channel's peak is ~1000x what we measure (≤2e-15)
//! while still catching any off-by-one in padding or delay, which
//! shows up as errors of order 1e-2.

mod common;

use common::{crop, f64s, golden, max_rel_error};
use neurodl_signal::fir::{FirSpec, design_fir, design_notch};
use neurodl_signal::iir::{Band, butter_sos};

const OUTPUT_TOL: f64 = 1e-12;

fn opt(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn fir_designs_and_outputs_match_mne() {
    for name in [
        "fir_bandpass_4_38",
        "fir_highpass_1",
        "fir_lowpass_30",
        "fir_bandstop_45_55",
    ] {
        let g = golden(name);
        let spec = FirSpec {
            l_freq: opt(&g["l_freq"]),
            h_freq: opt(&g["h_freq"]),
            l_trans_bandwidth: opt(&g["l_trans_bandwidth"]),
            h_trans_bandwidth: opt(&g["h_trans_bandwidth"]),
            filter_length: None,
        };
        let filter = design_fir(g["sfreq"].as_f64().unwrap(), &spec).unwrap();
        let expected = f64s(&g["taps"]);
        assert_eq!(filter.taps.len(), expected.len(), "{name}: filter length");
        for (a, e) in filter.taps.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-12, "{name}: tap {a} vs {e}");
        }
        let Some((mut data, _)) = crop(&g) else { return };
        filter.apply(data.view_mut()).unwrap();
        let err = max_rel_error(&data, &g["output"]);
        eprintln!("{name}: max relative error {err:e}");
        assert!(err < OUTPUT_TOL, "{name}: relative error {err:e}");
    }
}

#[test]
fn fir_notch_matches_mne() {
    let g = golden("fir_notch_50_60");
    let filter = design_notch(160.0, &f64s(&g["freqs"]), None, 1.0, None).unwrap();
    let Some((mut data, _)) = crop(&g) else { return };
    filter.apply(data.view_mut()).unwrap();
    let err = max_rel_error(&data, &g["output"]);
    assert!(err < OUTPUT_TOL, "notch: relative error {err:e}");
}

#[test]
fn fir_on_signal_shorter_than_filter_matches_mne() {
    let g = golden("fir_short_single_channel");
    let Some((data, _)) = crop(&g) else { return };
    let mut short = data.slice(ndarray::s![0..1, 0..100]).to_owned();
    let filter = design_fir(160.0, &FirSpec::bandpass(4.0, 38.0)).unwrap();
    assert!(filter.taps.len() > 100);
    filter.apply(short.view_mut()).unwrap();
    let err = max_rel_error(&short, &g["output"]);
    assert!(err < OUTPUT_TOL, "short: relative error {err:e}");
}

fn band_of(btype: &str, wn: &serde_json::Value) -> Band {
    match btype {
        "lowpass" => Band::Lowpass {
            cutoff: wn.as_f64().unwrap(),
        },
        "highpass" => Band::Highpass {
            cutoff: wn.as_f64().unwrap(),
        },
        "bandpass" => Band::Bandpass {
            low: wn[0].as_f64().unwrap(),
            high: wn[1].as_f64().unwrap(),
        },
        "bandstop" => Band::Bandstop {
            low: wn[0].as_f64().unwrap(),
            high: wn[1].as_f64().unwrap(),
        },
        other => panic!("unknown btype {other}"),
    }
}

#[test]
fn butterworth_sos_coefficients_match_scipy() {
    let g = golden("butter_sos_designs");
    let sfreq = g["sfreq"].as_f64().unwrap();
    for d in g["designs"].as_array().unwrap() {
        let order = d["order"].as_u64().unwrap() as usize;
        let btype = d["btype"].as_str().unwrap();
        let sos = butter_sos(order, band_of(btype, &d["wn"]), sfreq).unwrap();
        let expected = d["sos"].as_array().unwrap();
        assert_eq!(
            sos.sections.len(),
            expected.len(),
            "{btype} order {order}: sections"
        );
        for (s, e) in sos.sections.iter().zip(expected) {
            for (a, b) in s.iter().zip(f64s(e)) {
                // Relative: high-order band filters have gains of order 1e-10 in section 0.
                assert!(
                    (a - b).abs() <= 1e-10 * b.abs().max(1e-300) + 1e-13,
                    "{btype} order {order}: {s:?} vs {e}"
                );
            }
        }
    }
}

#[test]
fn sosfilt_and_sosfiltfilt_match_scipy() {
    for name in ["iir_bandpass_order4", "iir_highpass_order5"] {
        let g = golden(name);
        let order = g["order"].as_u64().unwrap() as usize;
        let sos = butter_sos(order, band_of(g["btype"].as_str().unwrap(), &g["wn"]), 160.0).unwrap();
        let Some((data, _)) = crop(&g) else { return };
        let mut zero_phase = data.clone();
        sos.sosfiltfilt(zero_phase.view_mut()).unwrap();
        let err = max_rel_error(&zero_phase, &g["sosfiltfilt"]);
        assert!(err < OUTPUT_TOL, "{name} sosfiltfilt: relative error {err:e}");
        let mut causal = data.clone();
        sos.sosfilt(causal.view_mut()).unwrap();
        let err = max_rel_error(&causal, &g["sosfilt"]);
        assert!(err < OUTPUT_TOL, "{name} sosfilt: relative error {err:e}");
    }
}
