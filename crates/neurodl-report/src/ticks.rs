//! Axis ranges, "nice" tick positions (1–2–2.5–5 × 10ᵏ) and their labels.

/// A data range `lo..=hi` widened by `pad` (a fraction of its span) on both sides; a
/// zero-span range is widened around its value so a constant series still gets an axis.
pub(crate) fn padded_range(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - span * pad, hi + span * pad)
    } else {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - half, hi + half)
    }
}

/// Tick values inside `lo..=hi`, about `target` of them, at a step of 1, 2, 2.5 or 5 times
/// a power of ten; with `integer`, the step is at least 1 (epochs, counts).
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Vec<f64> {
    let step = nice_step(lo, hi, target, integer);
    if !step.is_finite() || step <= 0.0 {
        return vec![lo];
    }
    // Rounded to the step's decimals so 3 × 0.2 prints and compares as 0.6.
    let scale = exact_decimals(step).map(|d| 10f64.powi(d as i32));
    let first = (lo / step - 1e-9).ceil();
    let mut out = Vec::new();
    let mut k = first;
    loop {
        let v = match scale {
            Some(m) => (k * step * m).round() / m,
            None => k * step,
        };
        if v > hi + step * 1e-9 || out.len() > 1000 {
            break;
        }
        // Snap values that are zero up to rounding, so no "-0.0" label appears.
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    out
}

fn nice_step(lo: f64, hi: f64, target: usize, integer: bool) -> f64 {
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    // Thresholds at the (rounded) geometric means of neighbouring steps, so the tick count
    // lands as near the target as possible instead of always below it.
    let nice = if norm < 1.45 {
        1.0
    } else if norm < 2.25 {
        2.0
    } else if norm < 3.5 {
        2.5
    } else if norm < 7.1 {
        5.0
    } else {
        10.0
    };
    let step = nice * mag;
    if integer { step.max(1.0).round() } else { step }
}

/// Formats tick values with the fewest decimals that tell them apart; very large or
/// very small magnitudes switch to scientific notation.
pub(crate) fn tick_labels(ticks: &[f64]) -> Vec<String> {
    if ticks.is_empty() {
        return Vec::new();
    }
    let max_abs = ticks.iter().fold(0f64, |m, v| m.max(v.abs()));
    let step = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let scientific = max_abs >= 1e6 || (max_abs > 0.0 && max_abs < 1e-3);
    if scientific {
        return ticks
            .iter()
            .map(|&v| {
                if v == 0.0 {
                    "0".to_string()
                } else {
                    format!("{v:.2e}")
                }
            })
            .collect();
    }
    let decimals = if step.is_finite() {
        decimals_for(step)
    } else {
        decimals_for(max_abs.max(1.0))
    };
    ticks.iter().map(|&v| format!("{v:.decimals$}")).collect()
}

/// Smallest number of decimals d (<= 6) for which `step` * 10^d is an integer, if any.
fn exact_decimals(step: f64) -> Option<usize> {
    (0..=6).find(|&d| {
        let s = (step * 10f64.powi(d as i32)).abs();
        s.round() >= 1.0 && (s - s.round()).abs() < 1e-6 * s
    })
}

/// Decimals to print values spaced `step` apart (6 at most).
fn decimals_for(step: f64) -> usize {
    exact_decimals(step).unwrap_or(6)
}

/// A data value written with about three significant digits (bar values, reference lines).
pub(crate) fn format_value(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else if a < 10.0 {
        format!("{v:.3}")
    } else if a < 100.0 {
        format!("{v:.2}")
    } else if a < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 1.0, 5, false), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = nice_ticks(0.37, 0.93, 6, false);
        assert!(t.iter().all(|&v| (0.37..=0.93).contains(&v)), "{t:?}");
        assert_eq!(tick_labels(&t), vec!["0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]);
        assert_eq!(
            tick_labels(&nice_ticks(-1.0, 1.5, 5, false)),
            vec!["-1.0", "-0.5", "0.0", "0.5", "1.0", "1.5"]
        );
    }

    #[test]
    fn tiny_steps_are_not_rounded_away() {
        let t = nice_ticks(0.0, 4e-8, 4, false);
        assert_eq!(t.len(), 5, "{t:?}");
        assert!((t[1] - 1e-8).abs() < 1e-20);
    }

    #[test]
    fn integer_axes_never_step_below_one() {
        assert_eq!(nice_ticks(0.8, 3.2, 8, true), vec![1.0, 2.0, 3.0]);
        assert_eq!(tick_labels(&[1.0, 2.0, 3.0]), vec!["1", "2", "3"]);
    }

    #[test]
    fn quarter_steps_keep_two_decimals() {
        assert_eq!(
            tick_labels(&nice_ticks(0.0, 1.0, 4, false)),
            vec!["0.00", "0.25", "0.50", "0.75", "1.00"]
        );
    }

    #[test]
    fn extreme_magnitudes_use_scientific_notation() {
        assert_eq!(tick_labels(&[0.0, 2e6, 4e6]), vec!["0", "2.00e6", "4.00e6"]);
        assert_eq!(format_value(1.5e-5), "1.50e-5");
        assert_eq!(format_value(0.7341), "0.734");
        assert_eq!(format_value(73.41), "73.41");
    }

    #[test]
    fn degenerate_ranges_are_widened() {
        assert_eq!(padded_range(0.0, 0.0, 0.05), (-1.0, 1.0));
        let (lo, hi) = padded_range(0.8, 0.8, 0.05);
        assert!((lo - 0.72).abs() < 1e-12 && (hi - 0.88).abs() < 1e-12);
        assert_eq!(padded_range(0.0, 10.0, 0.1), (-1.0, 11.0));
    }
}
