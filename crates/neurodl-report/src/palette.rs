//! Colours: a colour-blind-safe qualitative palette, a sequential map for heat maps and
//! the neutral tones of axes and text.

use crate::canvas::Rgb;

/// Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour
/// vision deficiencies. Their yellow (#F0E442) is left out: it is nearly invisible as a thin
/// line on white. After these seven, curves repeat the colours with a dashed line.
pub(crate) const SERIES: [Rgb; 7] = [
    Rgb::hex(0x0072B2), // blue
    Rgb::hex(0xD55E00), // vermillion
    Rgb::hex(0x009E73), // bluish green
    Rgb::hex(0xCC79A7), // reddish purple
    Rgb::hex(0xE69F00), // orange
    Rgb::hex(0x56B4E9), // sky blue
    Rgb::hex(0x000000), // black
];

/// Label-overlay colours for class ids 1, 2, ...: Okabe–Ito including yellow (bright
/// colours read well over a grey image), then further distinct hues.
pub(crate) const CLASSES: [Rgb; 10] = [
    Rgb::hex(0xE69F00),
    Rgb::hex(0x56B4E9),
    Rgb::hex(0x009E73),
    Rgb::hex(0xF0E442),
    Rgb::hex(0x0072B2),
    Rgb::hex(0xD55E00),
    Rgb::hex(0xCC79A7),
    Rgb::hex(0x8C564B),
    Rgb::hex(0x7F7F7F),
    Rgb::hex(0xBCBD22),
];

/// Colour of class id `id` (>= 1) in an overlay.
pub(crate) fn class_color(id: u8) -> Rgb {
    CLASSES[(usize::from(id) - 1) % CLASSES.len()]
}

/// Main text (titles, labels).
pub(crate) const TEXT: Rgb = Rgb::hex(0x222222);
/// Tick labels and secondary text.
pub(crate) const TEXT_MUTED: Rgb = Rgb::hex(0x555555);
/// Axis lines.
pub(crate) const AXIS: Rgb = Rgb::hex(0x888888);
/// Grid lines: visible, but behind the data.
pub(crate) const GRID: Rgb = Rgb::hex(0xE6E6E6);
/// White.
pub(crate) const WHITE: Rgb = Rgb::hex(0xFFFFFF);
/// Bars of a bar chart.
pub(crate) const BAR: Rgb = SERIES[0];
/// Error bars.
pub(crate) const ERROR_BAR: Rgb = Rgb::hex(0x333333);
/// A reference line (e.g. chance level).
pub(crate) const REFERENCE: Rgb = SERIES[1];

/// Matplotlib's "Blues" (ColorBrewer) anchors, light to dark: sequential and monotone in
/// lightness, so it reads correctly in grey scale and for colour-blind readers.
const BLUES: [Rgb; 9] = [
    Rgb::hex(0xF7FBFF),
    Rgb::hex(0xDEEBF7),
    Rgb::hex(0xC6DBEF),
    Rgb::hex(0x9ECAE1),
    Rgb::hex(0x6BAED6),
    Rgb::hex(0x4292C6),
    Rgb::hex(0x2171B5),
    Rgb::hex(0x08519C),
    Rgb::hex(0x08306B),
];

/// The sequential map at `t` in 0..=1 (clamped; NaN reads as 0), linearly interpolated.
pub(crate) fn blues(t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (BLUES.len() - 1) as f64;
    let i = (pos.floor() as usize).min(BLUES.len() - 2);
    let f = pos - i as f64;
    BLUES[i + 1].over(BLUES[i], f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blues_runs_light_to_dark() {
        let mut last = f64::INFINITY;
        for k in 0..=20 {
            let l = blues(f64::from(k) / 20.0).luminance();
            assert!(l < last, "luminance must fall monotonically, {l} after {last}");
            last = l;
        }
        assert_eq!(blues(0.0), BLUES[0]);
        assert_eq!(blues(1.0), BLUES[8]);
        assert_eq!(blues(f64::NAN), BLUES[0]);
    }

    #[test]
    fn class_colours_cycle() {
        assert_eq!(class_color(1), CLASSES[0]);
        assert_eq!(class_color(11), CLASSES[0]);
        assert_eq!(class_color(255), CLASSES[254 % 10]);
    }
}
