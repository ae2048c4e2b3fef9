//! Line plots (learning curves and the like).

use crate::axes::{self, Frame, Scale, Sizes};
use crate::canvas::{self, Canvas, HAlign, Rgb, TextOpts, VAlign, fit_text};
use crate::error::ReportError;
use crate::palette;
use crate::ticks::{nice_ticks, padded_range, tick_labels};

const PLOT: &str = "line plot";

/// Curves with at most this many points get a marker on every point.
const MARKER_MAX_POINTS: usize = 40;

/// One line of a line plot: `y[i]` at `x[i]`, drawn in the given order.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend entry (shown when the plot has more than one curve).
    pub label: String,
    /// Horizontal positions.
    pub x: Vec<f64>,
    /// Values; same length as `x`.
    pub y: Vec<f64>,
}

impl Curve {
    /// A curve from its label and points.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Curve {
            label: label.into(),
            x,
            y,
        }
    }

    /// A curve of `y` against 1, 2, 3, ... (e.g. per-epoch values).
    pub fn from_values(label: impl Into<String>, y: Vec<f64>) -> Self {
        let x = (1..=y.len()).map(|i| i as f64).collect();
        Curve::new(label, x, y)
    }
}

/// Draws `curves` as lines on shared axes and returns the PNG bytes of a `size`
/// (width, height) image.
///
/// Colours follow the Okabe–Ito colour-blind-safe palette; from the eighth curve on the
/// colours repeat with dashed lines. A legend (right of the plot) appears when there is
/// more than one curve; an empty label reads "curve N". Points where `x` or `y` is NaN or
/// infinite are skipped and leave a gap in the line. Curves of at most 40 points, and
/// points standing alone between gaps (such as a one-point curve), get markers. When every
/// finite `x` is a whole number (epochs), x ticks are whole numbers.
///
/// # Errors
/// [`ReportError::EmptyInput`] with no curves or no finite point at all;
/// [`ReportError::InvalidInput`] when a curve's `x` and `y` lengths differ or the values
/// span more than `f64` can hold; [`ReportError::InvalidSize`] for a side outside 160..=8192;
/// [`ReportError::TooCrowded`] when axes, labels and legend leave no room for the plot.
pub fn line_plot_png(
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    size: (u32, u32),
) -> Result<Vec<u8>, ReportError> {
    canvas::check_size(size)?;
    if curves.is_empty() {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no curves were given".into(),
        });
    }
    for (i, c) in curves.iter().enumerate() {
        if c.x.len() != c.y.len() {
            return Err(ReportError::InvalidInput {
                what: PLOT,
                reason: format!(
                    "curve {} ({:?}) has {} x values but {} y values",
                    i + 1,
                    c.label,
                    c.x.len(),
                    c.y.len()
                ),
            });
        }
    }
    let finite = || {
        curves.iter().flat_map(|c| {
            c.x.iter()
                .zip(&c.y)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(&x, &y)| (x, y))
        })
    };
    if finite().next().is_none() {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no curve has a point with finite x and y".into(),
        });
    }
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in finite() {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    if !(x_hi - x_lo).is_finite() || !(y_hi - y_lo).is_finite() {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: "the values span more than a 64-bit float can represent".into(),
        });
    }
    let integer_x = finite().all(|(x, _)| x.fract() == 0.0 && x.abs() < 1e15);
    let (x_lo, x_hi) = padded_range(x_lo, x_hi, 0.03);
    let (y_lo, y_hi) = padded_range(y_lo, y_hi, 0.05);

    canvas::render_png(size, |c| {
        draw(
            c,
            &Spec {
                title,
                x_label,
                y_label,
                curves,
                size,
                x_range: (x_lo, x_hi),
                y_range: (y_lo, y_hi),
                integer_x,
            },
        )
    })
}

struct Spec<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    curves: &'a [Curve],
    size: (u32, u32),
    x_range: (f64, f64),
    y_range: (f64, f64),
    integer_x: bool,
}

/// Colour and dash of curve `i`.
fn curve_style(i: usize) -> (Rgb, bool) {
    (
        palette::SERIES[i % palette::SERIES.len()],
        i >= palette::SERIES.len(),
    )
}

fn legend_label(curves: &[Curve], i: usize) -> String {
    if curves[i].label.trim().is_empty() {
        format!("curve {}", i + 1)
    } else {
        curves[i].label.clone()
    }
}

fn draw(c: &mut Canvas<'_>, spec: &Spec<'_>) -> Result<(), ReportError> {
    let (w, h) = (f64::from(spec.size.0), f64::from(spec.size.1));
    let s = Sizes::for_image(spec.size.0, spec.size.1);
    let show_legend = spec.curves.len() > 1;

    // Legend labels are capped at 30% of the width so the plot keeps most of the image.
    let swatch = s.tick * 2.2;
    let legend_cap = w * 0.3 - swatch - s.pad;
    let legend_labels: Vec<String> = if show_legend {
        (0..spec.curves.len())
            .map(|i| fit_text(&legend_label(spec.curves, i), s.tick, false, legend_cap))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let legend_w = if show_legend {
        swatch + s.tick * 0.5 + axes::max_width(&legend_labels, s.tick)?
    } else {
        0.0
    };

    let top = axes::title_band(spec.title, &s);
    let bottom_m = axes::bottom_margin(spec.x_label, &s);
    let plot_h_guess = h - top - bottom_m;
    let y_ticks = nice_ticks(
        spec.y_range.0,
        spec.y_range.1,
        axes::tick_target(plot_h_guess, s.tick * 3.2, 10),
        false,
    );
    let y_labels = tick_labels(&y_ticks);
    let left = axes::left_margin(axes::max_width(&y_labels, s.tick)?, spec.y_label, &s);
    let right_m = if show_legend {
        s.pad * 1.5 + legend_w + s.pad
    } else {
        s.pad * 2.0
    };
    let frame = Frame {
        left,
        top,
        right: w - right_m,
        bottom: h - bottom_m,
    };
    if frame.width() < s.tick * 3.0 || frame.height() < s.tick * 3.0 {
        return Err(ReportError::TooCrowded {
            what: PLOT,
            width: u64::from(spec.size.0),
            height: u64::from(spec.size.1),
            reason: "the axes, labels and legend".into(),
        });
    }

    // Fewer x ticks until their labels have room between them.
    let mut target = axes::tick_target(frame.width(), s.tick * 5.0, 12);
    let (x_ticks, x_labels) = loop {
        let t = nice_ticks(spec.x_range.0, spec.x_range.1, target, spec.integer_x);
        let l = tick_labels(&t);
        let widest = axes::max_width(&l, s.tick)?;
        if target <= 2 || (widest + s.tick * 1.5) * t.len() as f64 <= frame.width() {
            break (t, l);
        }
        target -= 1;
    };

    let x = Scale {
        lo: spec.x_range.0,
        hi: spec.x_range.1,
        p0: frame.left,
        p1: frame.right,
    };
    let y = Scale {
        lo: spec.y_range.0,
        hi: spec.y_range.1,
        p0: frame.bottom,
        p1: frame.top,
    };

    axes::draw_title(c, spec.title, w, &s)?;
    axes::draw_x_ticks(c, &frame, &x, &x_ticks, &x_labels, &s)?;
    axes::draw_y_axis(c, &frame, &y, &y_ticks, &y_labels, spec.y_label, &s)?;
    axes::draw_x_axis_line_and_label(c, &frame, h, spec.x_label, &s)?;

    for (i, curve) in spec.curves.iter().enumerate() {
        draw_curve(c, curve, i, &x, &y, &s)?;
    }
    if show_legend {
        draw_legend(
            c,
            spec.curves,
            &legend_labels,
            frame.right + s.pad * 1.5,
            &frame,
            &s,
        )?;
    }
    Ok(())
}

fn draw_curve(
    c: &mut Canvas<'_>,
    curve: &Curve,
    i: usize,
    x: &Scale,
    y: &Scale,
    s: &Sizes,
) -> Result<(), ReportError> {
    let (color, dashed) = curve_style(i);
    let all_markers = curve.x.len() <= MARKER_MAX_POINTS;
    let radius = s.line * 1.7;
    // Runs of consecutive finite points; a non-finite point ends a run (a gap).
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (&px, &py) in curve.x.iter().zip(&curve.y) {
        if px.is_finite() && py.is_finite() {
            runs.last_mut()
                .expect("runs is never empty")
                .push((x.map(px), y.map(py)));
        } else if !runs.last().expect("runs is never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    for run in runs.iter().filter(|r| !r.is_empty()) {
        if dashed {
            c.dashed_polyline(run, color, s.line, s.line * 4.0, s.line * 2.5)?;
        } else {
            c.polyline(run, color, s.line)?;
        }
        if all_markers || run.len() == 1 {
            for &p in run {
                c.disc(p, radius, color)?;
            }
        }
    }
    Ok(())
}

fn draw_legend(
    c: &mut Canvas<'_>,
    curves: &[Curve],
    labels: &[String],
    x0: f64,
    frame: &Frame,
    s: &Sizes,
) -> Result<(), ReportError> {
    let row = s.tick * 1.6;
    let swatch = s.tick * 2.2;
    let fits = ((frame.height() / row).floor() as usize).max(1);
    let shown = if labels.len() <= fits {
        labels.len()
    } else {
        fits - 1
    };
    for (i, label) in labels.iter().enumerate().take(shown) {
        let (color, dashed) = curve_style(i);
        let cy = frame.top + row * (i as f64 + 0.5);
        let (a, b) = ((x0, cy), (x0 + swatch, cy));
        if dashed {
            c.dashed_polyline(&[a, b], color, s.line, s.line * 4.0, s.line * 2.5)?;
        } else {
            c.line(a, b, color, s.line)?;
        }
        if curves[i].x.len() <= MARKER_MAX_POINTS {
            c.disc((x0 + swatch / 2.0, cy), s.line * 1.7, color)?;
        }
        let opts = TextOpts::new(s.tick, palette::TEXT).align(HAlign::Left, VAlign::Center);
        c.text(label, (x0 + swatch + s.tick * 0.5, cy), opts)?;
    }
    if shown < labels.len() {
        let cy = frame.top + row * (shown as f64 + 0.5);
        let more = format!("… {} more", labels.len() - shown);
        let opts = TextOpts::new(s.tick, palette::TEXT_MUTED).align(HAlign::Left, VAlign::Center);
        c.text(&more, (x0, cy), opts)?;
    }
    Ok(())
}
