//! Grey-scale images with an optional label overlay (e.g. a segmentation slice).

use crate::axes::{self, Sizes};
use crate::canvas::{self, HAlign, Rgb, TextOpts, VAlign};
use crate::error::ReportError;
use crate::palette;

const PLOT: &str = "image overlay";

/// Images are enlarged by a whole factor (nearest neighbour, so voxels stay crisp) until
/// their longer side reaches about this many pixels.
const TARGET_SIDE: usize = 384;
/// The largest enlargement.
const MAX_ZOOM: usize = 16;
/// Opacity of the label colours over the grey image.
const OVERLAY_ALPHA: f64 = 0.5;
/// Grey levels are windowed to these percentiles of the finite pixels, so a few extreme
/// voxels do not leave the rest of the image flat.
const WINDOW: (f64, f64) = (0.005, 0.995);
/// Narrowest output, so the title and legend have room even for a tiny image.
const MIN_WIDTH: usize = 320;

/// Draws a grey-scale image with an optional label overlay and returns PNG bytes.
///
/// `pixels` is row-major (`width` per row, `height` rows). Grey levels span the 0.5th to
/// 99.5th percentile of the finite pixels (black to white); NaN or infinite pixels are
/// black. `overlay`, when given, is row-major class ids of the same shape: 0 is no label,
/// ids 1, 2, ... are blended over the image at 50% opacity in a fixed palette (Okabe–Ito,
/// then further hues; it repeats after 10 classes), with a legend of the ids present. The
/// image is enlarged by a whole factor (nearest neighbour, at most 16×) to about 384 pixels
/// on its longer side, and the `title` drawn above it.
///
/// # Errors
/// [`ReportError::EmptyInput`] for a zero width or height or no finite pixel;
/// [`ReportError::InvalidInput`] when `pixels` or `overlay` does not hold
/// `width * height` values; [`ReportError::InvalidSize`] when the image is larger than
/// 8192 pixels on a side.
pub fn image_overlay_png(
    title: &str,
    width: usize,
    height: usize,
    pixels: &[f32],
    overlay: Option<&[u8]>,
) -> Result<Vec<u8>, ReportError> {
    render(title, width, height, pixels, overlay, &|id| format!("class {id}"))
}

/// [`image_overlay_png`] with the legend naming the classes: `"1 anterior"` for an id found in
/// `names`, `"class 7"` for one that is not.
///
/// # Errors
/// As [`image_overlay_png`].
pub fn image_overlay_named_png(
    title: &str,
    width: usize,
    height: usize,
    pixels: &[f32],
    overlay: &[u8],
    names: &[(u8, &str)],
) -> Result<Vec<u8>, ReportError> {
    let legend = |id: u8| match names.iter().find(|(n, _)| *n == id) {
        Some((_, name)) => format!("{id} {name}"),
        None => format!("class {id}"),
    };
    render(title, width, height, pixels, Some(overlay), &legend)
}

fn render(
    title: &str,
    width: usize,
    height: usize,
    pixels: &[f32],
    overlay: Option<&[u8]>,
    legend: &dyn Fn(u8) -> String,
) -> Result<Vec<u8>, ReportError> {
    let lay = layout(title, width, height, pixels, overlay, legend)?;
    let grey = grey_levels(pixels)?;

    // The image at display scale, overlay blended in.
    let (zw, zh) = (width * lay.zoom, height * lay.zoom);
    let mut rgb = vec![0u8; zw * zh * 3];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let g = grey[i];
            let mut px = Rgb(g, g, g);
            if let Some(ov) = overlay
                && ov[i] != 0
            {
                px = palette::class_color(ov[i]).over(px, OVERLAY_ALPHA);
            }
            for dy in 0..lay.zoom {
                let row = (y * lay.zoom + dy) * zw;
                for dx in 0..lay.zoom {
                    let o = (row + x * lay.zoom + dx) * 3;
                    rgb[o..o + 3].copy_from_slice(&[px.0, px.1, px.2]);
                }
            }
        }
    }

    let size = (lay.out_w as u32, lay.out_h as u32);
    let s = lay.sizes;
    let out = canvas::render_rgb(size, 1, |c| {
        axes::draw_title(c, title, lay.out_w as f64, &s)?;
        c.blit((lay.img_x, lay.img_y), (zw as u32, zh as u32), &rgb)?;
        let x0 = lay.img_x + zw as f64 + s.pad * 1.5;
        let row = s.tick * 1.6;
        let fits = (zh as f64 / row).floor().max(1.0) as usize;
        let shown = if lay.classes.len() <= fits {
            lay.classes.len()
        } else {
            fits - 1
        };
        for (k, &id) in lay.classes.iter().enumerate().take(shown) {
            let cy = lay.img_y + row * (k as f64 + 0.5);
            let sw = s.tick * 0.9;
            c.fill_rect(
                x0,
                cy - sw / 2.0,
                x0 + sw,
                cy + sw / 2.0,
                palette::class_color(id),
            )?;
            let opts = TextOpts::new(s.tick, palette::TEXT).align(HAlign::Left, VAlign::Center);
            c.text(&legend(id), (x0 + sw + s.tick * 0.5, cy), opts)?;
        }
        if shown < lay.classes.len() {
            let cy = lay.img_y + row * (shown as f64 + 0.5);
            let opts = TextOpts::new(s.tick, palette::TEXT_MUTED).align(HAlign::Left, VAlign::Center);
            c.text(&format!("… {} more", lay.classes.len() - shown), (x0, cy), opts)?;
        }
        Ok(())
    })?;
    canvas::encode_png(size.0, size.1, &out)
}

/// Placement of the image, its legend and the output size.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub zoom: usize,
    pub out_w: usize,
    pub out_h: usize,
    /// Top-left corner of the enlarged image.
    pub img_x: f64,
    pub img_y: f64,
    /// Class ids present in the overlay, ascending.
    pub classes: Vec<u8>,
    sizes: Sizes,
}

pub(crate) fn layout(
    title: &str,
    width: usize,
    height: usize,
    pixels: &[f32],
    overlay: Option<&[u8]>,
    legend: &dyn Fn(u8) -> String,
) -> Result<Layout, ReportError> {
    if width == 0 || height == 0 {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: format!("the image is {width}x{height} pixels"),
        });
    }
    let max = canvas::MAX_SIDE as usize;
    if width > max || height > max {
        return Err(ReportError::InvalidSize {
            width: width as u64,
            height: height as u64,
            min: 1,
            max: canvas::MAX_SIDE,
        });
    }
    let n = width * height;
    if pixels.len() != n {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!("{width}x{height} needs {n} pixels, got {}", pixels.len()),
        });
    }
    if let Some(ov) = overlay
        && ov.len() != n
    {
        return Err(ReportError::InvalidInput {
            what: PLOT,
            reason: format!("{width}x{height} needs {n} overlay labels, got {}", ov.len()),
        });
    }
    let mut present = [false; 256];
    for &id in overlay.unwrap_or(&[]) {
        present[usize::from(id)] = true;
    }
    let classes: Vec<u8> = (1..=255u8).filter(|&id| present[usize::from(id)]).collect();

    let zoom = (TARGET_SIDE / width.max(height)).clamp(1, MAX_ZOOM);
    let (zw, zh) = (width * zoom, height * zoom);
    let sizes = Sizes::for_image(zw.max(MIN_WIDTH) as u32, zh.max(240) as u32);
    let s = sizes;
    let legend_w = if classes.is_empty() {
        0.0
    } else {
        let mut widest: f64 = 0.0;
        for &id in &classes {
            widest = widest.max(canvas::text_width(&legend(id), s.tick, false)?);
        }
        s.pad * 1.5 + s.tick * 1.4 + widest
    };
    let content_w = zw as f64 + legend_w;
    let out_w = (content_w + 2.0 * s.pad).ceil().max(MIN_WIDTH as f64);
    let top = axes::title_band(title, &s);
    let out_h = (top + zh as f64 + s.pad).ceil();
    Ok(Layout {
        zoom,
        out_w: out_w as usize,
        out_h: out_h as usize,
        img_x: ((out_w - content_w) / 2.0).floor(),
        img_y: top.floor(),
        classes,
        sizes,
    })
}

/// 8-bit grey levels of `pixels` windowed to the [`WINDOW`] percentiles.
fn grey_levels(pixels: &[f32]) -> Result<Vec<u8>, ReportError> {
    let mut finite: Vec<f32> = pixels.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Err(ReportError::EmptyInput {
            what: PLOT,
            reason: "no pixel is finite".into(),
        });
    }
    finite.sort_unstable_by(f32::total_cmp);
    let at = |q: f64| finite[((finite.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(WINDOW.0), at(WINDOW.1));
    let span = f64::from(hi) - f64::from(lo);
    Ok(pixels
        .iter()
        .map(|&v| {
            if !v.is_finite() || span <= 0.0 {
                0
            } else {
                ((f64::from(v) - f64::from(lo)) / span * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_window_maps_percentiles_to_black_and_white() {
        let px: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let g = grey_levels(&px).expect("finite pixels");
        assert_eq!(g[0], 0);
        assert_eq!(g[999], 255);
        assert!((i32::from(g[500]) - 128).abs() <= 1, "{}", g[500]);
    }

    #[test]
    fn constant_and_non_finite_pixels_are_black() {
        assert_eq!(
            grey_levels(&[2.0, 2.0, f32::NAN]).expect("finite pixels"),
            vec![0, 0, 0]
        );
        assert!(matches!(
            grey_levels(&[f32::NAN]),
            Err(ReportError::EmptyInput { .. })
        ));
    }

    #[test]
    fn small_images_are_enlarged_by_a_whole_factor() {
        let lay =
            layout("t", 64, 32, &[0.0; 64 * 32], None, &|id| format!("class {id}")).expect("valid image");
        assert_eq!(lay.zoom, 6);
        assert!(lay.out_w >= 64 * 6 && lay.out_h >= 32 * 6);
        let lay =
            layout("", 1000, 10, &[0.0; 10_000], None, &|id| format!("class {id}")).expect("valid image");
        assert_eq!(lay.zoom, 1);
    }
}
