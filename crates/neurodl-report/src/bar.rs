//! Bar charts with error bars and an optional reference line.

use crate::axes::{self, Frame, Scale, Sizes};
use crate::canvas::{self, Canvas, HAlign, TextOpts, VAlign, fit_text, text_width};
use crate::error::ReportError;
use crate::palette;
use crate::ticks::{format_value, nice_ticks, tick_labels};

const PLOT: &str = "bar chart";

/// One bar: a labelled value with an optional symmetric error (e.g. ± one standard
/// deviation across folds).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Category label under the bar.
    pub label: String,
    /// Bar height.
    pub value: f64,
    /// Half-length of the error bar; `None` draws none.
    pub err: Option<f64>,
}

impl Bar {
    /// A bar without an error bar.
    pub fn new(label: impl Into<String>, value: f64) -> Self {
        Bar {
            label: label.into(),
            value,
            err: None,
        }
    }

    /// A bar with an error bar of half-length `err`.
    pub fn with_err(label: impl Into<String>, value: f64, err: f64) -> Self {
        Bar {
            label: label.into(),
            value,
            err: Some(err),
        }
    }

    /// The error half-length, when it is present and finite.
    fn finite_err(&self) -> Option<f64> {
        self.err.filter(|e| e.is_finite())
    }
}

/// Draws `bars` (left to right, in the given order) with their error bars and, if given,
/// a dashed horizontal `reference_line` at `value` labelled with its text (e.g.
/// `Some((0.25, "chance"))`), and returns the PNG bytes of a `size` (width, height) image.
///
/// The value axis always includes 0. Each bar's value is written above it when it fits.
/// Labels that do not fit side by side are turned vertical, and with many bars only every
/// k-th is labelled so labels never overprint. A bar whose value is NaN or
/// infinite keeps its slot and label and reads "n/a"; a NaN or infinite error is drawn as
/// no error bar.
///
/// # Errors
/// [`ReportError::EmptyInput`] with no bars or no finite value;
/// [`ReportError::InvalidInput`] for a negative error or a non-finite reference value;
/// [`ReportError::InvalidSize`] for a side outside 160..=8192; [`ReportError::TooCrowded`]
/// when the bars would be under 2 pixels apart.
pub fn bar_chart_png(
    title: &str,
    y_label: &str,
    bars: &[Bar],
    reference_line: Option<(f64, &str)>,
    size: (u32, u32),
) -> Result<Vec<u8>, ReportError> {
    canvas::check_size(size)?;
    if bars.is_empty() {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no bars were given".into(),
        });
    }
    if let Some((i, b)) = bars
        .iter()
        .enumerate()
        .find(|(_, b)| b.finite_err().is_some_and(|e| e < 0.0))
    {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!(
                "bar {} ({:?}) has a negative error {}",
                i + 1,
                b.label,
                b.err.unwrap_or_default()
            ),
        });
    }
    if let Some((v, label)) = reference_line
        && !v.is_finite()
    {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!("reference line {label:?} has a non-finite value {v}"),
        });
    }
    if !bars.iter().any(|b| b.value.is_finite()) {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no bar has a finite value".into(),
        });
    }
    let (mut lo, mut hi) = (0f64, 0f64);
    for b in bars.iter().filter(|b| b.value.is_finite()) {
        let e = b.finite_err().unwrap_or(0.0);
        lo = lo.min(b.value - e);
        hi = hi.max(b.value + e);
    }
    if let Some((v, _)) = reference_line {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let span = hi - lo;
    if !span.is_finite() {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: "the values span more than a 64-bit float can represent".into(),
        });
    }
    let span = if span > 0.0 { span } else { 1.0 };
    // Headroom above for value labels; a little room below only when bars go negative.
    let hi = if hi > 0.0 || lo == 0.0 {
        hi + span * 0.12
    } else {
        hi
    };
    let lo = if lo < 0.0 { lo - span * 0.12 } else { lo };

    canvas::render_png(size, |c| {
        draw(c, title, y_label, bars, reference_line, size, (lo, hi))
    })
}

fn draw(
    c: &mut Canvas<'_>,
    title: &str,
    y_label: &str,
    bars: &[Bar],
    reference_line: Option<(f64, &str)>,
    size: (u32, u32),
    (lo, hi): (f64, f64),
) -> Result<(), ReportError> {
    let (w, h) = (f64::from(size.0), f64::from(size.1));
    let s = Sizes::for_image(size.0, size.1);
    let n = bars.len() as f64;

    let top = axes::title_band(title, &s);
    let y_ticks = nice_ticks(lo, hi, axes::tick_target(h * 0.7, s.tick * 3.2, 10), false);
    let y_labels = tick_labels(&y_ticks);
    let left = axes::left_margin(axes::max_width(&y_labels, s.tick)?, y_label, &s);
    let right = w - s.pad * 2.0;
    let slot = (right - left) / n;

    // Category labels: horizontal when all fit their slot, otherwise vertical and cut to
    // at most 35% of the image height.
    let horizontal = bars.iter().try_fold(true, |ok, b| {
        Ok::<_, ReportError>(ok && text_width(&b.label, s.tick, false)? <= slot * 0.92)
    })?;
    let labels: Vec<String> = if horizontal {
        bars.iter().map(|b| b.label.clone()).collect()
    } else {
        bars.iter()
            .map(|b| fit_text(&b.label, s.tick, false, h * 0.35))
            .collect::<Result<_, _>>()?
    };
    let label_extent = if horizontal {
        s.tick * 0.75
    } else {
        axes::max_width(&labels, s.tick)?
    };
    let bottom_m = s.tick_len + s.pad * 0.4 + label_extent + s.pad;
    let frame = Frame {
        left,
        top,
        right,
        bottom: h - bottom_m,
    };
    if frame.height() < s.tick * 3.0 || slot < 2.0 {
        return Err(ReportError::TooCrowded {
            what: PLOT,
            width: u64::from(size.0),
            height: u64::from(size.1),
            reason: format!("{} bars with their labels", bars.len()),
        });
    }
    let y = Scale {
        lo,
        hi,
        p0: frame.bottom,
        p1: frame.top,
    };

    axes::draw_title(c, title, w, &s)?;
    axes::draw_y_axis(c, &frame, &y, &y_ticks, &y_labels, y_label, &s)?;

    let bar_w = (slot * 0.68).min(s.tick * 7.0);
    let value_size = s.tick * 0.9;
    let zero = y.map(0.0);
    // Vertical labels closer than a line height would overprint: label every k-th bar.
    let stride = if horizontal {
        1
    } else {
        ((s.tick * 1.15) / slot).ceil().max(1.0) as usize
    };
    for (i, b) in bars.iter().enumerate() {
        let cx = frame.left + slot * (i as f64 + 0.5);
        if i % stride == 0 {
            c.line(
                (cx, frame.bottom),
                (cx, frame.bottom + s.tick_len),
                palette::AXIS,
                1.0,
            )?;
            let label_at = (cx, frame.bottom + s.tick_len + s.pad * 0.4);
            let opts = TextOpts::new(s.tick, palette::TEXT_MUTED);
            if horizontal {
                c.text(&labels[i], label_at, opts.align(HAlign::Center, VAlign::Top))?;
            } else {
                c.text(
                    &labels[i],
                    label_at,
                    opts.align(HAlign::Right, VAlign::Center).vertical(),
                )?;
            }
        }

        if !b.value.is_finite() {
            let opts = TextOpts::new(value_size, palette::TEXT_MUTED).align(HAlign::Center, VAlign::Bottom);
            c.text("n/a", (cx, zero - s.pad * 0.3), opts)?;
            continue;
        }
        let top_y = y.map(b.value);
        let (y0, y1) = if top_y < zero {
            (top_y, zero)
        } else {
            (zero, top_y)
        };
        c.fill_rect(
            cx - bar_w / 2.0,
            y0,
            cx + bar_w / 2.0,
            y1.max(y0 + 1.0),
            palette::BAR,
        )?;

        let e = b.finite_err().unwrap_or(0.0);
        if e > 0.0 {
            let (ya, yb) = (y.map(b.value - e), y.map(b.value + e));
            let cap = (bar_w * 0.25).min(s.tick * 0.8);
            let stroke = (s.line * 0.8).max(1.2);
            c.line((cx, ya), (cx, yb), palette::ERROR_BAR, stroke)?;
            c.line((cx - cap, ya), (cx + cap, ya), palette::ERROR_BAR, stroke)?;
            c.line((cx - cap, yb), (cx + cap, yb), palette::ERROR_BAR, stroke)?;
        }
        let text = format_value(b.value);
        if text_width(&text, value_size, false)? <= slot * 0.95 {
            let opts = TextOpts::new(value_size, palette::TEXT);
            if b.value >= 0.0 {
                let at = (cx, y.map(b.value + e) - s.pad * 0.35);
                c.text(&text, at, opts.align(HAlign::Center, VAlign::Bottom))?;
            } else {
                let at = (cx, y.map(b.value - e) + s.pad * 0.35);
                c.text(&text, at, opts.align(HAlign::Center, VAlign::Top))?;
            }
        }
    }
    // The zero line goes over the bars' bases; when bars go negative the frame's bottom
    // edge is drawn too, so the category ticks hang from an axis.
    c.line((frame.left, zero), (frame.right, zero), palette::AXIS, 1.0)?;
    if lo < 0.0 {
        c.line(
            (frame.left, frame.bottom),
            (frame.right, frame.bottom),
            palette::AXIS,
            1.0,
        )?;
    }

    if let Some((v, label)) = reference_line {
        let py = y.map(v);
        let stroke = (s.line * 0.9).max(1.2);
        c.dashed_polyline(
            &[(frame.left, py), (frame.right, py)],
            palette::REFERENCE,
            stroke,
            s.line * 4.0,
            s.line * 2.5,
        )?;
        if !label.is_empty() {
            let size = s.tick * 0.9;
            let text = fit_text(label, size, false, frame.width() * 0.5)?;
            let tw = text_width(&text, size, false)?;
            let (x1, base) = (frame.right - s.pad * 0.3, py - s.pad * 0.4);
            // A white plate keeps the label legible where it crosses a bar.
            c.fill_rect(
                x1 - tw - s.pad * 0.3,
                base - size * 0.9,
                x1 + s.pad * 0.2,
                base + size * 0.25,
                palette::WHITE,
            )?;
            let opts = TextOpts::new(size, palette::REFERENCE).align(HAlign::Right, VAlign::Bottom);
            c.text(&text, (x1, base), opts)?;
        }
    }
    Ok(())
}
