//! FFT (MNE) and polyphase (SciPy) resampling against the reference goldens.
//!
//! Tolerance 1e-12 of the channel peak: both sides compute the same sums in a
//! different order (FFT library, loop order), which we measure at ≤2e-15;
//! a wrong padding, Nyquist-bin or alignment choice gives errors ≥1e-3.

mod common;

use common::{crop, golden, max_rel_error};
use neurodl_signal::resample::{resample_fft, resample_fft_owned, resample_poly};

#[test]
fn fft_resampling_matches_mne_including_non_integer_ratios() {
    for name in [
        "resample_fft_100p0",
        "resample_fft_128p0",
        "resample_fft_250p0",
        "resample_fft_99p5",
    ] {
        let g = golden(name);
        let Some((data, sfreq)) = crop(&g) else { return };
        let ratio = g["new_sfreq"].as_f64().unwrap() / sfreq;
        let out = resample_fft(data.view(), ratio).unwrap();
        // The in-place variant (used by `ops::resample`) gives identical samples.
        assert_eq!(
            resample_fft_owned(data.clone(), ratio).unwrap(),
            out,
            "{name}: in place"
        );
        assert_eq!(out.ncols() as u64, g["n_out"].as_u64().unwrap(), "{name}: length");
        let err = max_rel_error(&out, &g["output"]);
        eprintln!("{name}: max relative error {err:e}");
        assert!(err < 1e-12, "{name}: relative error {err:e}");
    }
}

#[test]
fn polyphase_resampling_matches_scipy() {
    for name in ["resample_poly_5_8", "resample_poly_3_2", "resample_poly_7_11"] {
        let g = golden(name);
        let Some((data, _)) = crop(&g) else { return };
        let (up, down) = (
            g["up"].as_u64().unwrap() as usize,
            g["down"].as_u64().unwrap() as usize,
        );
        let out = resample_poly(data.view(), up, down).unwrap();
        assert_eq!(out.ncols() as u64, g["n_out"].as_u64().unwrap(), "{name}: length");
        let err = max_rel_error(&out, &g["output"]);
        eprintln!("{name}: max relative error {err:e}");
        assert!(err < 1e-12, "{name}: relative error {err:e}");
    }
}
