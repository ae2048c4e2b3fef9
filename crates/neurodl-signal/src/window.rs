//! Window functions and the windowed-sinc (`firwin`) low-pass design shared by
//! the FIR filters and the polyphase resampler.
//!
//! Sample positions are computed the way SciPy computes them (a `linspace`
//! from −π to π for cosine windows) so that designed taps agree with SciPy's
//! to the last few bits, not merely to the formula.

use std::f64::consts::PI;

/// Symmetric Hamming window of `m` points (SciPy `get_window("hamming", m, fftbins=False)`).
pub fn hamming(m: usize) -> Vec<f64> {
    match m {
        0 => Vec::new(),
        1 => vec![1.0],
        _ => linspace(-PI, PI, m)
            .into_iter()
            .map(|f| 0.54 + 0.46 * f.cos())
            .collect(),
    }
}

/// Symmetric Kaiser window of `m` points with shape `beta` (SciPy `windows.kaiser(m, beta)`).
pub fn kaiser(m: usize, beta: f64) -> Vec<f64> {
    match m {
        0 => Vec::new(),
        1 => vec![1.0],
        _ => {
            let alpha = (m - 1) as f64 / 2.0;
            let norm = bessel_i0(beta);
            (0..m)
                .map(|n| {
                    let r = (n as f64 - alpha) / alpha;
                    bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / norm
                })
                .collect()
        }
    }
}

/// `numpy.linspace(start, stop, num)` including its exact endpoint.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut out: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    out[num - 1] = stop;
    out
}

/// Modified Bessel function of the first kind, order 0.
///
/// The power series converges quickly for the arguments windows use
/// (|x| ≲ 50); terms are summed until they stop changing the total.
pub fn bessel_i0(x: f64) -> f64 {
    let half_sq = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    loop {
        term *= half_sq / (k * k);
        let next = sum + term;
        if next == sum {
            return sum;
        }
        sum = next;
        k += 1.0;
    }
}

/// `numpy.sinc`: sin(πx)/(πx), 1 at 0.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let y = PI * x;
        y.sin() / y
    }
}

/// Windowed-sinc low-pass of `numtaps` taps with cut-off `cutoff` (relative to
/// Nyquist = 1), scaled to unit gain at DC: SciPy `firwin(numtaps, cutoff, window=...)`.
pub fn firwin_lowpass(numtaps: usize, cutoff: f64, window: &[f64]) -> Vec<f64> {
    debug_assert_eq!(window.len(), numtaps);
    let alpha = 0.5 * (numtaps as f64 - 1.0);
    let mut h: Vec<f64> = (0..numtaps)
        .map(|i| {
            let m = i as f64 - alpha;
            cutoff * sinc(cutoff * m) * window[i]
        })
        .collect();
    let gain: f64 = h.iter().sum();
    for v in &mut h {
        *v /= gain;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_i0_matches_known_values() {
        // Abramowitz & Stegun table 9.8 values.
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-16);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-15);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_45).abs() < 1e-12);
    }

    #[test]
    fn windows_are_symmetric_with_unit_peak() {
        let w = hamming(11);
        assert!((w[5] - 1.0).abs() < 1e-15 && (w[0] - 0.08).abs() < 1e-15);
        let k = kaiser(9, 5.0);
        assert!((k[4] - 1.0).abs() < 1e-15);
        for i in 0..9 {
            assert!((k[i] - k[8 - i]).abs() < 1e-15);
        }
    }
}
