//! A small drawing surface over plotters' bitmap backend: anti-aliasing by supersampling,
//! text rasterised with ab_glyph from the embedded DejaVu Sans, and PNG encoding.
//!
//! Plotters' bitmap rasteriser draws lines and shapes without anti-aliasing, so every plot
//! is drawn at [`SUPERSAMPLE`]× the requested size and box-filtered down before encoding.
//! Text does not go through plotters' own `ab_glyph` path: that path drops each glyph's
//! left side bearing (uneven letter spacing, text shifted left) and puts the baseline half
//! a font size below the anchor. Here glyphs are placed at their true pen positions with
//! kerning, and anchored by the font's cap height and descent.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::backend::BitMapBackend;
use plotters::prelude::*;

use crate::error::ReportError;

/// Drawing resolution relative to the output: 3×3 samples per output pixel give smooth
/// edges on 1–2 px lines at a cost that is still milliseconds for a typical plot.
pub(crate) const SUPERSAMPLE: u32 = 3;

/// Most samples one supersampled canvas may hold (3 bytes each: ~120 MB); larger images
/// are drawn at a lower supersampling factor, down to 1.
const MAX_SAMPLES: u64 = 40_000_000;

/// The supersampling factor for a `size` image: [`SUPERSAMPLE`], less for very large ones.
fn supersample_for((w, h): (u32, u32)) -> u32 {
    (1..=SUPERSAMPLE)
        .rev()
        .find(|&ss| u64::from(w) * u64::from(h) * u64::from(ss * ss) <= MAX_SAMPLES)
        .unwrap_or(1)
}

/// Smallest side accepted for a plot, in output pixels.
pub(crate) const MIN_SIDE: u32 = 160;
/// Largest side accepted for a plot, in output pixels (an 8192² RGB image is 200 MB).
pub(crate) const MAX_SIDE: u32 = 8192;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses `0xRRGGBB`.
    pub(crate) const fn hex(v: u32) -> Rgb {
        Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
    }

    fn to_plotters(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }

    /// WCAG relative luminance in 0..=1, used to pick legible text on a filled cell.
    pub(crate) fn luminance(self) -> f64 {
        fn lin(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// `self` blended over `under` with opacity `alpha` (0 = `under`, 1 = `self`).
    pub(crate) fn over(self, under: Rgb, alpha: f64) -> Rgb {
        let mix = |a: u8, b: u8| (f64::from(a) * alpha + f64::from(b) * (1.0 - alpha)).round() as u8;
        Rgb(mix(self.0, under.0), mix(self.1, under.1), mix(self.2, under.2))
    }
}

/// Horizontal text anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HAlign {
    Left,
    Center,
    Right,
}

/// Vertical text anchor, in terms of the font's lines rather than a bounding box, so that
/// labels of different content (digits, descenders) line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VAlign {
    /// The top of capital letters.
    Top,
    /// Half-way between baseline and cap height: what the eye reads as the middle.
    Center,
    /// The bottom of descenders.
    Bottom,
}

/// How to draw a piece of text. Sizes are in output pixels (ab_glyph "px scale": the
/// height from descender to ascender).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextOpts {
    pub size: f64,
    pub bold: bool,
    pub color: Rgb,
    pub h: HAlign,
    pub v: VAlign,
    /// Rotated 90° counter-clockwise (reads bottom to top), for vertical axis labels.
    pub vertical: bool,
}

impl TextOpts {
    pub(crate) fn new(size: f64, color: Rgb) -> Self {
        TextOpts {
            size,
            bold: false,
            color,
            h: HAlign::Left,
            v: VAlign::Center,
            vertical: false,
        }
    }

    pub(crate) fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    pub(crate) fn align(mut self, h: HAlign, v: VAlign) -> Self {
        self.h = h;
        self.v = v;
        self
    }

    pub(crate) fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }
}

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// Parses the embedded DejaVu Sans (regular and bold) once per process.
fn fonts() -> Result<&'static Fonts, ReportError> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Ok(Fonts {
                regular: FontRef::try_from_slice(dejavu::sans::regular())
                    .map_err(|e| format!("DejaVu Sans regular: {e}"))?,
                bold: FontRef::try_from_slice(dejavu::sans::bold())
                    .map_err(|e| format!("DejaVu Sans bold: {e}"))?,
            })
        })
        .as_ref()
        .map_err(|e| ReportError::Font(e.clone()))
}

fn font(bold: bool) -> Result<&'static FontRef<'static>, ReportError> {
    let f = fonts()?;
    Ok(if bold { &f.bold } else { &f.regular })
}

/// Width of `text` in output pixels at `size`: advance widths plus kerning.
pub(crate) fn text_width(text: &str, size: f64, bold: bool) -> Result<f64, ReportError> {
    let scaled = font(bold)?.as_scaled(size as f32);
    let mut width = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        width += scaled.h_advance(id);
        if let Some(p) = prev {
            width += scaled.kern(p, id);
        }
        prev = Some(id);
    }
    Ok(f64::from(width))
}

/// Cap height and descent (both positive, output pixels) at `size`.
fn vertical_metrics(size: f64, bold: bool) -> Result<(f64, f64), ReportError> {
    let font = font(bold)?;
    let scaled = font.as_scaled(size as f32);
    let cap = font
        .outline_glyph(scaled.scaled_glyph('H'))
        .map(|g| -f64::from(g.px_bounds().min.y))
        .unwrap_or(0.7 * size);
    Ok((cap, -f64::from(scaled.descent())))
}

/// Shortens `text` with a trailing ellipsis until it is at most `max_width` wide.
pub(crate) fn fit_text(text: &str, size: f64, bold: bool, max_width: f64) -> Result<String, ReportError> {
    if text_width(text, size, bold)? <= max_width {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    // Binary search on the kept prefix length: width grows monotonically with it.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().collect::<String>() + "…";
        if text_width(&candidate, size, bold)? <= max_width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 {
        return Ok(String::new());
    }
    Ok(chars[..lo].iter().collect::<String>().trim_end().to_string() + "…")
}

/// A supersampled RGB drawing surface; coordinates are in output pixels (fractional allowed).
pub(crate) struct Canvas<'a> {
    backend: BitMapBackend<'a>,
    ss: f64,
}

fn render_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Render(e.to_string())
}

/// Checks a requested plot size against [`MIN_SIDE`]..=[`MAX_SIDE`].
pub(crate) fn check_size(size: (u32, u32)) -> Result<(), ReportError> {
    let ok = |s: u32| (MIN_SIDE..=MAX_SIDE).contains(&s);
    if ok(size.0) && ok(size.1) {
        Ok(())
    } else {
        Err(ReportError::InvalidSize {
            width: u64::from(size.0),
            height: u64::from(size.1),
            min: MIN_SIDE,
            max: MAX_SIDE,
        })
    }
}

/// Draws with `draw` on a white canvas of `size` output pixels (supersampled by `ss`) and
/// returns the RGB pixels at output size.
pub(crate) fn render_rgb(
    size: (u32, u32),
    ss: u32,
    draw: impl FnOnce(&mut Canvas<'_>) -> Result<(), ReportError>,
) -> Result<Vec<u8>, ReportError> {
    fonts()?;
    let (w, h) = (size.0 as usize * ss as usize, size.1 as usize * ss as usize);
    let mut big = vec![255u8; w * h * 3];
    {
        let backend = BitMapBackend::with_buffer(&mut big, (w as u32, h as u32));
        let mut canvas = Canvas {
            backend,
            ss: f64::from(ss),
        };
        draw(&mut canvas)?;
        canvas.backend.present().map_err(render_err)?;
    }
    Ok(downsample(&big, size, ss))
}

/// Draws and encodes a PNG in one step.
pub(crate) fn render_png(
    size: (u32, u32),
    draw: impl FnOnce(&mut Canvas<'_>) -> Result<(), ReportError>,
) -> Result<Vec<u8>, ReportError> {
    check_size(size)?;
    let rgb = render_rgb(size, supersample_for(size), draw)?;
    encode_png(size.0, size.1, &rgb)
}

/// Box filter: each output pixel is the mean of its `ss`×`ss` block.
fn downsample(big: &[u8], (w, h): (u32, u32), ss: u32) -> Vec<u8> {
    if ss == 1 {
        return big.to_vec();
    }
    let (w, h, ss) = (w as usize, h as usize, ss as usize);
    let big_w = w * ss;
    let n = (ss * ss) as u32;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0u32; 3];
            for dy in 0..ss {
                let row = (y * ss + dy) * big_w;
                for dx in 0..ss {
                    let i = (row + x * ss + dx) * 3;
                    acc[0] += u32::from(big[i]);
                    acc[1] += u32::from(big[i + 1]);
                    acc[2] += u32::from(big[i + 2]);
                }
            }
            let o = (y * w + x) * 3;
            for c in 0..3 {
                out[o + c] = ((acc[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Encodes 8-bit RGB pixels (row-major) as a PNG.
pub(crate) fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| ReportError::Encode(e.to_string()))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| ReportError::Encode(e.to_string()))?;
        writer.finish().map_err(|e| ReportError::Encode(e.to_string()))?;
    }
    Ok(out)
}

impl Canvas<'_> {
    fn px(&self, v: f64) -> i32 {
        (v * self.ss).round() as i32
    }

    fn pt(&self, (x, y): (f64, f64)) -> (i32, i32) {
        (self.px(x), self.px(y))
    }

    fn style(&self, color: Rgb, width: f64, filled: bool) -> ShapeStyle {
        ShapeStyle {
            color: color.to_plotters().to_rgba(),
            filled,
            stroke_width: (width * self.ss).round().max(1.0) as u32,
        }
    }

    /// A filled axis-aligned rectangle from `(x0, y0)` to `(x1, y1)`.
    pub(crate) fn fill_rect(
        &mut self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        color: Rgb,
    ) -> Result<(), ReportError> {
        let style = self.style(color, 1.0, true);
        // The bitmap backend fills opaque rectangles with the bottom-right corner
        // excluded, so abutting rectangles share no row and leave no gap.
        let (a, b) = (self.pt((x0, y0)), self.pt((x1, y1)));
        self.backend.draw_rect(a, b, &style, true).map_err(render_err)
    }

    /// An open polyline of stroke `width`.
    pub(crate) fn polyline(
        &mut self,
        points: &[(f64, f64)],
        color: Rgb,
        width: f64,
    ) -> Result<(), ReportError> {
        if points.len() < 2 {
            return Ok(());
        }
        let style = self.style(color, width, false);
        let pts: Vec<(i32, i32)> = points.iter().map(|&p| self.pt(p)).collect();
        self.backend.draw_path(pts, &style).map_err(render_err)
    }

    /// A straight line of stroke `width`.
    pub(crate) fn line(
        &mut self,
        a: (f64, f64),
        b: (f64, f64),
        color: Rgb,
        width: f64,
    ) -> Result<(), ReportError> {
        self.polyline(&[a, b], color, width)
    }

    /// A polyline drawn as dashes of `dash` with gaps of `gap` (output pixels), the pattern
    /// running on across vertices.
    pub(crate) fn dashed_polyline(
        &mut self,
        points: &[(f64, f64)],
        color: Rgb,
        width: f64,
        dash: f64,
        gap: f64,
    ) -> Result<(), ReportError> {
        if dash <= 0.0 || gap < 0.0 {
            return self.polyline(points, color, width);
        }
        let period = dash + gap;
        // Distance along the whole path where the current dash or gap ends; walking by
        // absolute distances (not accumulated remainders) always makes progress.
        let mut travelled = 0.0f64;
        for seg in points.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            if len.is_nan() || len <= 0.0 {
                continue;
            }
            let at = |t: f64| (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
            let start = travelled;
            let end = travelled + len;
            let mut k = (start / period).floor();
            loop {
                let dash_from = k * period;
                if dash_from >= end {
                    break;
                }
                let (d0, d1) = (dash_from.max(start), (dash_from + dash).min(end));
                if d1 > d0 {
                    self.line(at(d0 - start), at(d1 - start), color, width)?;
                }
                k += 1.0;
            }
            travelled = end;
        }
        Ok(())
    }

    /// Copies `rgb` (row-major, `w`×`h`) with its top-left corner at `at`; meant for
    /// canvases without supersampling, where one output pixel is one sample.
    pub(crate) fn blit(&mut self, at: (f64, f64), (w, h): (u32, u32), rgb: &[u8]) -> Result<(), ReportError> {
        let pos = self.pt(at);
        self.backend.blit_bitmap(pos, (w, h), rgb).map_err(render_err)
    }

    /// A filled disc.
    pub(crate) fn disc(&mut self, c: (f64, f64), radius: f64, color: Rgb) -> Result<(), ReportError> {
        let style = self.style(color, 1.0, true);
        let r = (radius * self.ss).round().max(1.0) as u32;
        self.backend
            .draw_circle(self.pt(c), r, &style, true)
            .map_err(render_err)
    }

    /// Draws `text` anchored at `at` as `style` says.
    pub(crate) fn text(&mut self, text: &str, at: (f64, f64), style: TextOpts) -> Result<(), ReportError> {
        if text.is_empty() {
            return Ok(());
        }
        let size = style.size * self.ss;
        let width = text_width(text, size, style.bold)?;
        let (cap, descent) = vertical_metrics(size, style.bold)?;
        // The anchor in the text's own frame: x along the baseline from the pen start,
        // y down from the baseline.
        let ax = match style.h {
            HAlign::Left => 0.0,
            HAlign::Center => width / 2.0,
            HAlign::Right => width,
        };
        let ay = match style.v {
            VAlign::Top => -cap,
            VAlign::Center => -cap / 2.0,
            VAlign::Bottom => descent,
        };
        // Vertical text is the same frame turned 90° counter-clockwise:
        // local (x, y) lands on screen at (y, -x) from the origin.
        let (ox, oy) = if style.vertical { (ay, -ax) } else { (ax, ay) };
        // A whole-pixel origin keeps rotated glyphs on the pixel grid.
        let origin = (
            (at.0 * self.ss - ox).round() as i32,
            (at.1 * self.ss - oy).round() as i32,
        );

        let font = font(style.bold)?;
        let scale = PxScale::from(size as f32);
        let scaled = font.as_scaled(scale);
        let color = style.color.to_plotters();
        let mut caret = 0f32;
        let mut prev = None;
        let mut result = Ok(());
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scale, point(caret, 0.0));
            caret += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space, or a glyph without an outline
            };
            let b = outline.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|gx, gy, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let (lx, ly) = (bx + gx as i32, by + gy as i32);
                let (x, y) = if style.vertical {
                    (origin.0 + ly, origin.1 - lx)
                } else {
                    (origin.0 + lx, origin.1 + ly)
                };
                result = self
                    .backend
                    .draw_pixel((x, y), color.mix(f64::from(coverage.min(1.0))).to_backend_color());
            });
        }
        result.map_err(render_err)
    }
}

/// Decoding for tests: PNG bytes back to (width, height, RGB).
#[cfg(test)]
pub(crate) fn decode_png(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("fits in memory")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLACK: Rgb = Rgb(0, 0, 0);

    /// Centroid (x, y) of non-white pixels in an RGB image, in output pixels.
    fn ink_centroid(rgb: &[u8], w: u32) -> (f64, f64) {
        let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
        for (i, px) in rgb.chunks(3).enumerate() {
            let ink = 255.0 - f64::from(px[0]);
            if ink > 0.0 {
                sx += ink * ((i as u32 % w) as f64 + 0.5);
                sy += ink * ((i as u32 / w) as f64 + 0.5);
                sw += ink;
            }
        }
        (sx / sw, sy / sw)
    }

    #[test]
    fn centred_text_is_centred_on_its_anchor() {
        // Plotters alone would draw this ~0.25 font sizes too high; the correction must
        // bring the ink of a capital letter onto the anchor (within 1 px).
        for vertical in [false, true] {
            let rgb = render_rgb((200, 200), SUPERSAMPLE, |c| {
                let mut o = TextOpts::new(40.0, BLACK).align(HAlign::Center, VAlign::Center);
                if vertical {
                    o = o.vertical();
                }
                c.text("HIH", (100.0, 100.0), o)
            })
            .expect("renders");
            let (cx, cy) = ink_centroid(&rgb, 200);
            assert!(
                (cx - 100.0).abs() < 1.0 && (cy - 100.0).abs() < 1.0,
                "vertical={vertical}: ({cx}, {cy})"
            );
        }
    }

    #[test]
    fn top_aligned_text_starts_at_its_anchor() {
        let rgb = render_rgb((200, 100), SUPERSAMPLE, |c| {
            c.text(
                "H",
                (20.0, 30.0),
                TextOpts::new(40.0, BLACK).align(HAlign::Left, VAlign::Top),
            )
        })
        .expect("renders");
        let first_row = rgb
            .chunks(200 * 3)
            .position(|row| row.iter().any(|&v| v < 128))
            .expect("some ink");
        assert!((29..=31).contains(&first_row), "cap top at row {first_row}");
    }

    #[test]
    fn dashes_cover_about_their_share_of_the_path_and_terminate() {
        // Lengths that are not multiples of the period once made the walk loop forever.
        let rgb = render_rgb((400, 20), SUPERSAMPLE, |c| {
            let pts: Vec<(f64, f64)> = (0..=37).map(|i| (5.0 + f64::from(i) * 10.3, 10.0)).collect();
            c.dashed_polyline(&pts, BLACK, 2.0, 6.0, 4.0)
        })
        .expect("renders");
        let row: Vec<u8> = rgb.chunks(3).skip(10 * 400).take(400).map(|p| p[0]).collect();
        let inked = row[5..386].iter().filter(|&&v| v < 128).count() as f64 / 381.0;
        assert!((inked - 0.6).abs() < 0.05, "dash fraction {inked}");
    }

    #[test]
    fn abutting_rectangles_leave_no_gap() {
        let rgb = render_rgb((100, 100), SUPERSAMPLE, |c| {
            for k in 0..300 {
                let y = f64::from(k) / 3.0;
                c.fill_rect(0.0, y, 100.0, y + 1.0 / 3.0, BLACK)?;
            }
            Ok(())
        })
        .expect("renders");
        assert!(rgb.iter().all(|&v| v == 0), "white rows between rectangles");
    }

    #[test]
    fn supersampled_pixels_are_averaged() {
        // One black sample in a 3x3 block of white: the output pixel is 8/9 white.
        let mut big = vec![255u8; 9 * 3];
        big[0..3].copy_from_slice(&[0, 0, 0]);
        assert_eq!(downsample(&big, (1, 1), 3), vec![227, 227, 227]);
    }

    #[test]
    fn long_text_is_shortened_with_an_ellipsis() {
        let s = fit_text("a rather long label for one column", 14.0, false, 80.0).expect("font loads");
        assert!(
            s.ends_with('…') && text_width(&s, 14.0, false).expect("font loads") <= 80.0,
            "{s}"
        );
        assert_eq!(
            fit_text("short", 14.0, false, 200.0).expect("font loads"),
            "short"
        );
    }

    #[test]
    fn large_images_are_supersampled_less() {
        assert_eq!(supersample_for((900, 600)), 3);
        assert_eq!(supersample_for((3000, 2000)), 2);
        assert_eq!(supersample_for((MAX_SIDE, MAX_SIDE)), 1);
    }

    #[test]
    fn sizes_outside_the_limits_are_refused() {
        assert!(check_size((MIN_SIDE, MAX_SIDE)).is_ok());
        assert!(matches!(
            check_size((0, 500)),
            Err(ReportError::InvalidSize { .. })
        ));
        assert!(matches!(
            check_size((500, MAX_SIDE + 1)),
            Err(ReportError::InvalidSize { .. })
        ));
    }
}
