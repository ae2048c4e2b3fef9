//! What the line plot and the bar chart share: type sizes that scale with the image, the
//! plot frame, value-to-pixel mapping, title, grid, ticks and axis labels.

use crate::canvas::{Canvas, HAlign, TextOpts, VAlign, fit_text, text_width};
use crate::error::ReportError;
use crate::palette;

/// Type and spacing sizes (output pixels) for one image, all derived from its area so a
/// small thumbnail and a large figure look alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    /// Tick labels, legend entries.
    pub tick: f64,
    /// Axis labels.
    pub label: f64,
    /// The title.
    pub title: f64,
    /// General padding.
    pub pad: f64,
    /// Length of a tick mark.
    pub tick_len: f64,
    /// Stroke of a data line.
    pub line: f64,
}

impl Sizes {
    pub(crate) fn for_image(w: u32, h: u32) -> Sizes {
        let base = ((f64::from(w) * f64::from(h)).sqrt() / 38.0).clamp(13.0, 34.0);
        Sizes {
            tick: base,
            label: base * 1.12,
            title: base * 1.38,
            pad: base * 0.8,
            tick_len: (base * 0.35).max(3.0),
            line: (base / 7.0).clamp(1.5, 4.0),
        }
    }
}

/// The plot rectangle in output pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Frame {
    pub(crate) fn width(&self) -> f64 {
        self.right - self.left
    }

    pub(crate) fn height(&self) -> f64 {
        self.bottom - self.top
    }
}

/// A linear map from data `lo..hi` onto pixels `p0..p1` (p1 < p0 for an upward y axis).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub p0: f64,
    pub p1: f64,
}

impl Scale {
    pub(crate) fn map(&self, v: f64) -> f64 {
        self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)
    }
}

/// Height of the title band at the top (0 for an empty title).
pub(crate) fn title_band(title: &str, s: &Sizes) -> f64 {
    if title.is_empty() {
        s.pad
    } else {
        s.pad + s.title * 0.75 + s.pad * 1.2
    }
}

/// The title, bold, centred over the whole image width, shortened if it does not fit.
pub(crate) fn draw_title(c: &mut Canvas<'_>, title: &str, width: f64, s: &Sizes) -> Result<(), ReportError> {
    if title.is_empty() {
        return Ok(());
    }
    let text = fit_text(title, s.title, true, width - 2.0 * s.pad)?;
    let opts = TextOpts::new(s.title, palette::TEXT)
        .bold()
        .align(HAlign::Center, VAlign::Top);
    c.text(&text, (width / 2.0, s.pad), opts)
}

/// Widest of `labels` at tick size.
pub(crate) fn max_width(labels: &[String], size: f64) -> Result<f64, ReportError> {
    labels
        .iter()
        .try_fold(0f64, |m, l| Ok(m.max(text_width(l, size, false)?)))
}

/// Space left of the frame for y tick labels of `tick_w` and a rotated axis label.
pub(crate) fn left_margin(tick_w: f64, y_label: &str, s: &Sizes) -> f64 {
    let label = if y_label.is_empty() {
        0.0
    } else {
        s.label * 0.8 + s.pad * 0.7
    };
    s.pad + label + tick_w + s.tick_len + s.pad * 0.4
}

/// Space below the frame for one line of x tick labels and the axis label.
pub(crate) fn bottom_margin(x_label: &str, s: &Sizes) -> f64 {
    let label = if x_label.is_empty() {
        0.0
    } else {
        s.label * 0.8 + s.pad * 0.7
    };
    s.tick_len + s.pad * 0.4 + s.tick * 0.75 + label + s.pad
}

/// Horizontal grid lines, y ticks with labels, and the rotated y-axis label.
pub(crate) fn draw_y_axis(
    c: &mut Canvas<'_>,
    frame: &Frame,
    y: &Scale,
    ticks: &[f64],
    labels: &[String],
    y_label: &str,
    s: &Sizes,
) -> Result<(), ReportError> {
    for &t in ticks {
        let py = y.map(t);
        c.line((frame.left, py), (frame.right, py), palette::GRID, 1.0)?;
    }
    for (&t, l) in ticks.iter().zip(labels) {
        let py = y.map(t);
        c.line(
            (frame.left - s.tick_len, py),
            (frame.left, py),
            palette::AXIS,
            1.0,
        )?;
        let opts = TextOpts::new(s.tick, palette::TEXT_MUTED).align(HAlign::Right, VAlign::Center);
        c.text(l, (frame.left - s.tick_len - s.pad * 0.4, py), opts)?;
    }
    if !y_label.is_empty() {
        let text = fit_text(y_label, s.label, false, frame.height())?;
        let opts = TextOpts::new(s.label, palette::TEXT)
            .align(HAlign::Center, VAlign::Top)
            .vertical();
        c.text(&text, (s.pad, (frame.top + frame.bottom) / 2.0), opts)?;
    }
    c.line(
        (frame.left, frame.top),
        (frame.left, frame.bottom),
        palette::AXIS,
        1.0,
    )
}

/// The x axis line and, under the frame, the x-axis label.
pub(crate) fn draw_x_axis_line_and_label(
    c: &mut Canvas<'_>,
    frame: &Frame,
    image_h: f64,
    x_label: &str,
    s: &Sizes,
) -> Result<(), ReportError> {
    c.line(
        (frame.left, frame.bottom),
        (frame.right, frame.bottom),
        palette::AXIS,
        1.0,
    )?;
    if !x_label.is_empty() {
        let text = fit_text(x_label, s.label, false, frame.width())?;
        let opts = TextOpts::new(s.label, palette::TEXT).align(HAlign::Center, VAlign::Bottom);
        c.text(&text, ((frame.left + frame.right) / 2.0, image_h - s.pad), opts)?;
    }
    Ok(())
}

/// Vertical grid lines and numeric x ticks with labels.
pub(crate) fn draw_x_ticks(
    c: &mut Canvas<'_>,
    frame: &Frame,
    x: &Scale,
    ticks: &[f64],
    labels: &[String],
    s: &Sizes,
) -> Result<(), ReportError> {
    for &t in ticks {
        let px = x.map(t);
        c.line((px, frame.top), (px, frame.bottom), palette::GRID, 1.0)?;
    }
    for (&t, l) in ticks.iter().zip(labels) {
        let px = x.map(t);
        c.line(
            (px, frame.bottom),
            (px, frame.bottom + s.tick_len),
            palette::AXIS,
            1.0,
        )?;
        let opts = TextOpts::new(s.tick, palette::TEXT_MUTED).align(HAlign::Center, VAlign::Top);
        c.text(l, (px, frame.bottom + s.tick_len + s.pad * 0.4), opts)?;
    }
    Ok(())
}

/// How many ticks fit along `length` pixels at `spacing` pixels apart, within 2..=max.
pub(crate) fn tick_target(length: f64, spacing: f64, max: usize) -> usize {
    ((length / spacing).floor() as usize).clamp(2, max)
}
