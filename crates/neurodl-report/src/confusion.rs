//! Confusion-matrix heat maps.

use crate::axes::{self, Sizes};
use crate::canvas::{self, Canvas, HAlign, Rgb, TextOpts, VAlign, fit_text, text_width};
use crate::error::ReportError;
use crate::palette;

const PLOT: &str = "confusion matrix";

/// Draws a confusion matrix — `counts[i][j]` trials of true class `labels[i]` predicted as
/// `labels[j]` — and returns the PNG bytes of a `size` (width, height) image.
///
/// Rows are true classes (top to bottom), columns predicted classes (left to right). Each
/// cell shows its count and, below it, its share of the row (so the diagonal reads as
/// per-class recall); the cell colour is that row share on a light-to-dark blue scale, so
/// class imbalance does not wash out the small classes. Text turns white on dark cells. A
/// colour bar on the right gives the scale. Labels that do not fit under their column are
/// turned vertical; long labels are shortened with "…".
///
/// # Errors
/// [`ReportError::EmptyInput`] with no labels; [`ReportError::InvalidInput`] when `counts`
/// is not `labels.len()` rows of `labels.len()` counts; [`ReportError::InvalidSize`] for a
/// side outside 160..=8192; [`ReportError::TooCrowded`] when cells would be under 6 pixels.
pub fn confusion_matrix_png(
    title: &str,
    labels: &[String],
    counts: &[Vec<u64>],
    size: (u32, u32),
) -> Result<Vec<u8>, ReportError> {
    canvas::check_size(size)?;
    check_matrix(labels, counts)?;
    let layout = layout(title, labels, size)?;
    canvas::render_png(size, |c| draw(c, title, counts, &layout, size))
}

fn check_matrix(labels: &[String], counts: &[Vec<u64>]) -> Result<(), ReportError> {
    let n = labels.len();
    if n == 0 {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no class labels were given".into(),
        });
    }
    if counts.len() != n {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!("{n} labels but {} rows of counts", counts.len()),
        });
    }
    if let Some((i, row)) = counts.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!(
                "row {} ({:?}) has {} counts, expected {n}",
                i + 1,
                labels[i],
                row.len()
            ),
        });
    }
    Ok(())
}

/// Where everything goes, in output pixels; computed before drawing so tests can find cells.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Left edge of the first column.
    pub x0: f64,
    /// Top edge of the first row.
    pub y0: f64,
    /// Side of a (square) cell.
    pub cell: f64,
    /// Class labels as drawn (possibly shortened).
    labels: Vec<String>,
    /// Column labels are vertical.
    vertical_cols: bool,
    sizes: Sizes,
}

/// Room the colour bar takes right of the matrix.
fn colorbar_extent(s: &Sizes) -> Result<f64, ReportError> {
    Ok(s.pad * 1.6 + s.tick * 1.1 + s.tick_len + s.pad * 0.3 + text_width("100%", s.tick, false)? + s.pad)
}

pub(crate) fn layout(title: &str, labels: &[String], size: (u32, u32)) -> Result<Layout, ReportError> {
    let (w, h) = (f64::from(size.0), f64::from(size.1));
    let s = Sizes::for_image(size.0, size.1);
    let n = labels.len() as f64;
    let short: Vec<String> = labels
        .iter()
        .map(|l| fit_text(l, s.tick, false, w * 0.25))
        .collect::<Result<_, _>>()?;
    let label_w = axes::max_width(&short, s.tick)?;
    let axis_title = s.label * 0.8 + s.pad * 0.7;
    let left = s.pad + axis_title + label_w + s.pad * 0.6;
    let right = colorbar_extent(&s)?;
    let top = axes::title_band(title, &s);
    let bottom_for = |extent: f64| s.pad * 0.5 + extent + s.pad * 0.5 + axis_title + s.pad * 0.3;
    let cell_for = |bottom: f64| ((w - left - right) / n).min((h - top - bottom) / n);

    let mut bottom = bottom_for(s.tick * 0.75);
    let mut cell = cell_for(bottom);
    let vertical_cols = label_w > cell * 0.92;
    if vertical_cols {
        bottom = bottom_for(label_w);
        cell = cell_for(bottom);
    }
    if cell < 6.0 {
        return Err(ReportError::TooCrowded {
            what: PLOT,
            width: u64::from(size.0),
            height: u64::from(size.1),
            reason: format!("{} classes (cells would be {cell:.1} pixels wide)", labels.len()),
        });
    }
    // Centre the matrix with its labels and colour bar in the space left over.
    let group_w = left + cell * n + right;
    let group_h = top + cell * n + bottom;
    Ok(Layout {
        x0: (w - group_w) / 2.0 + left,
        y0: top + (h - group_h) / 2.0,
        cell,
        labels: short,
        vertical_cols,
        sizes: s,
    })
}

/// White or near-black, whichever contrasts more with `bg` (WCAG contrast ratio).
pub(crate) fn text_on(bg: Rgb) -> Rgb {
    let l = bg.luminance();
    let dark = palette::TEXT.luminance();
    if 1.05 / (l + 0.05) > (l + 0.05) / (dark + 0.05) {
        palette::WHITE
    } else {
        palette::TEXT
    }
}

fn draw(
    c: &mut Canvas<'_>,
    title: &str,
    counts: &[Vec<u64>],
    lay: &Layout,
    size: (u32, u32),
) -> Result<(), ReportError> {
    let s = &lay.sizes;
    let n = counts.len();
    let (x0, y0, cell) = (lay.x0, lay.y0, lay.cell);
    let side = cell * n as f64;
    axes::draw_title(c, title, f64::from(size.0), s)?;

    // Two lines (count, row %) while the percentage stays legible; otherwise the count
    // alone, larger.
    let two_line_size = (cell * 0.24).min(s.tick * 1.35);
    let two_lines = two_line_size * 0.82 >= 9.0;
    let count_size = if two_lines {
        two_line_size
    } else {
        (cell * 0.34).clamp(6.0, s.tick * 1.35)
    };
    let pct_size = count_size * 0.82;
    let gap = (cell * 0.02).clamp(0.5, 1.5);
    for (i, row) in counts.iter().enumerate() {
        // u128: a row of u64 counts cannot overflow it.
        let total: u128 = row.iter().map(|&v| u128::from(v)).sum();
        for (j, &v) in row.iter().enumerate() {
            let frac = if total > 0 { v as f64 / total as f64 } else { 0.0 };
            let bg = palette::blues(frac);
            let (cx0, cy0) = (x0 + cell * j as f64, y0 + cell * i as f64);
            c.fill_rect(
                cx0 + gap / 2.0,
                cy0 + gap / 2.0,
                cx0 + cell - gap / 2.0,
                cy0 + cell - gap / 2.0,
                bg,
            )?;
            let fg = text_on(bg);
            let (mx, my) = (cx0 + cell / 2.0, cy0 + cell / 2.0);
            let count = v.to_string();
            let mut cs = count_size;
            let cw = text_width(&count, cs, true)?;
            if cw > cell * 0.9 {
                cs *= cell * 0.9 / cw;
            }
            if cs < 6.0 {
                continue;
            }
            if two_lines && total > 0 {
                let pct = format!("{:.1}%", frac * 100.0);
                let line_gap = cs * 0.55;
                c.text(
                    &count,
                    (mx, my - line_gap * 0.25),
                    TextOpts::new(cs, fg).bold().align(HAlign::Center, VAlign::Bottom),
                )?;
                let ps = pct_size.min(cs);
                if text_width(&pct, ps, false)? <= cell * 0.92 {
                    c.text(
                        &pct,
                        (mx, my + line_gap * 0.45),
                        TextOpts::new(ps, fg).align(HAlign::Center, VAlign::Top),
                    )?;
                }
            } else {
                c.text(
                    &count,
                    (mx, my),
                    TextOpts::new(cs, fg).bold().align(HAlign::Center, VAlign::Center),
                )?;
            }
        }
    }

    // Row labels (true classes) and their axis title.
    for (i, l) in lay.labels.iter().enumerate() {
        let cy = y0 + cell * (i as f64 + 0.5);
        let opts = TextOpts::new(s.tick, palette::TEXT).align(HAlign::Right, VAlign::Center);
        c.text(l, (x0 - s.pad * 0.6, cy), opts)?;
    }
    let label_w = axes::max_width(&lay.labels, s.tick)?;
    let opts = TextOpts::new(s.label, palette::TEXT)
        .bold()
        .align(HAlign::Center, VAlign::Bottom)
        .vertical();
    c.text(
        "True class",
        (x0 - s.pad * 0.6 - label_w - s.pad * 0.7, y0 + side / 2.0),
        opts,
    )?;

    // Column labels (predicted classes) and their axis title.
    let below = y0 + side + s.pad * 0.5;
    for (j, l) in lay.labels.iter().enumerate() {
        let cx = x0 + cell * (j as f64 + 0.5);
        let opts = TextOpts::new(s.tick, palette::TEXT);
        if lay.vertical_cols {
            c.text(
                l,
                (cx, below),
                opts.align(HAlign::Right, VAlign::Center).vertical(),
            )?;
        } else {
            c.text(l, (cx, below), opts.align(HAlign::Center, VAlign::Top))?;
        }
    }
    let extent = if lay.vertical_cols { label_w } else { s.tick * 0.75 };
    let opts = TextOpts::new(s.label, palette::TEXT)
        .bold()
        .align(HAlign::Center, VAlign::Top);
    c.text(
        "Predicted class",
        (x0 + side / 2.0, below + extent + s.pad * 0.7),
        opts,
    )?;

    draw_colorbar(c, x0 + side + s.pad * 1.6, y0, side, s)
}

/// A vertical gradient of the cell colour scale with 0–100% ticks.
fn draw_colorbar(c: &mut Canvas<'_>, x: f64, y0: f64, height: f64, s: &Sizes) -> Result<(), ReportError> {
    let w = s.tick * 1.1;
    let steps = (height * 1.5).ceil().max(2.0) as usize;
    for k in 0..steps {
        let t0 = k as f64 / steps as f64;
        let t1 = (k + 1) as f64 / steps as f64;
        // Top is 100%.
        let (ya, yb) = (y0 + height * (1.0 - t1), y0 + height * (1.0 - t0));
        c.fill_rect(x, ya, x + w, yb, palette::blues((t0 + t1) / 2.0))?;
    }
    for q in 0..=4 {
        let t = f64::from(q) / 4.0;
        let py = y0 + height * (1.0 - t);
        c.line((x + w, py), (x + w + s.tick_len, py), palette::AXIS, 1.0)?;
        let opts = TextOpts::new(s.tick, palette::TEXT_MUTED).align(HAlign::Left, VAlign::Center);
        c.text(
            &format!("{}%", q * 25),
            (x + w + s.tick_len + s.pad * 0.3, py),
            opts,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_contrasts_with_its_cell() {
        assert_eq!(text_on(palette::blues(1.0)), palette::WHITE);
        assert_eq!(text_on(palette::blues(0.0)), palette::TEXT);
        assert_eq!(text_on(palette::blues(0.2)), palette::TEXT);
    }
}

#[cfg(test)]
mod pixel_tests {
    use super::*;
    use crate::canvas::decode_png;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    /// The pixels in the fractional box `(fx0, fy0)..(fx1, fy1)` of cell (i, j).
    fn cell_region(
        rgb: &[u8],
        w: u32,
        lay: &Layout,
        (i, j): (usize, usize),
        f: (f64, f64, f64, f64),
    ) -> Vec<Rgb> {
        let (x0, y0) = (lay.x0 + lay.cell * j as f64, lay.y0 + lay.cell * i as f64);
        let mut out = Vec::new();
        let (xa, xb) = ((x0 + lay.cell * f.0) as u32, (x0 + lay.cell * f.2) as u32);
        let (ya, yb) = ((y0 + lay.cell * f.1) as u32, (y0 + lay.cell * f.3) as u32);
        for y in ya..yb {
            for x in xa..xb {
                let o = ((y * w + x) * 3) as usize;
                out.push(Rgb(rgb[o], rgb[o + 1], rgb[o + 2]));
            }
        }
        out
    }

    #[test]
    fn diagonal_heavy_matrix_has_dark_diagonal_cells() {
        let counts = vec![vec![50, 2, 1], vec![3, 40, 7], vec![0, 5, 45]];
        let size = (600, 500);
        let png = confusion_matrix_png("t", &labels(3), &counts, size).expect("renders");
        let (w, h, rgb) = decode_png(&png);
        assert_eq!((w, h), size);
        let lay = layout("t", &labels(3), size).expect("fits");
        // A corner patch of each cell is free of text: its colour is the cell colour.
        let corner = (0.06, 0.06, 0.18, 0.18);
        let lum = |i, j| {
            let px = cell_region(&rgb, w, &lay, (i, j), corner);
            px.iter().map(|p| p.luminance()).sum::<f64>() / px.len() as f64
        };
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    assert!(
                        lum(i, i) < lum(i, j) - 0.2,
                        "cell ({i},{i}) {} vs ({i},{j}) {}",
                        lum(i, i),
                        lum(i, j)
                    );
                }
            }
        }
        // Same row share, same colour: (0,0) is 50/53 and (2,2) is 45/50.
        assert!((lum(0, 0) - palette::blues(50.0 / 53.0).luminance()).abs() < 0.02);
    }

    #[test]
    fn cell_text_contrasts_with_the_cell() {
        let counts = vec![vec![100, 0], vec![0, 100]];
        let size = (500, 500);
        let png = confusion_matrix_png("", &labels(2), &counts, size).expect("renders");
        let (w, _, rgb) = decode_png(&png);
        let lay = layout("", &labels(2), size).expect("fits");
        let middle = (0.25, 0.3, 0.75, 0.7);
        let dark_cell = cell_region(&rgb, w, &lay, (0, 0), middle);
        let light_cell = cell_region(&rgb, w, &lay, (0, 1), middle);
        assert!(
            dark_cell.iter().any(|p| p.luminance() > 0.8),
            "white text on the dark diagonal"
        );
        assert!(
            light_cell.iter().any(|p| p.luminance() < 0.1),
            "dark text on the light cell"
        );
    }

    #[test]
    fn an_empty_row_draws_without_percentages() {
        let counts = vec![vec![0, 0], vec![3, 4]];
        assert!(confusion_matrix_png("", &labels(2), &counts, (400, 400)).is_ok());
    }
}
