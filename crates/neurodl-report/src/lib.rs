//! # neurodl-report
//!
//! Plots as PNG and self-contained HTML reports for neurodl runs. Nothing here knows about
//! EEG or deep learning: the plots take plain numbers and labels, so the same functions
//! serve decoding (learning curves, confusion matrices, accuracy per model or subject) and
//! segmentation (image slices with label overlays).
//!
//! - [`line_plot_png`]: curves on shared axes ([`Curve`]), e.g. loss per epoch per fold.
//! - [`confusion_matrix_png`]: counts and row percentages, true classes as rows.
//! - [`bar_chart_png`]: [`Bar`]s with error bars and an optional reference line (chance).
//! - [`image_overlay_png`]: a grey-scale image with class ids blended over it
//!   ([`image_overlay_named_png`]: with the classes' names in the legend).
//! - [`Report`]: one HTML file with inline CSS and images as base64 data URIs, written
//!   atomically; [`write_png`] writes a PNG the same way.
//!
//! Rendering is pure Rust: plotters' bitmap backend, text through `ab_glyph` with DejaVu
//! Sans compiled in, and PNG encoding by the `png` crate, so output is identical on every
//! machine and no system library (fontconfig, freetype) is needed. Plots are drawn at 3×
//! and filtered down, which anti-aliases lines and shapes.
//!
//! Bad input is an error ([`ReportError`]), never a panic: empty input, mismatched lengths
//! and sizes out of range are refused with a message that says what was wrong, while NaN
//! and infinite values are drawn as gaps (line plots) or "n/a" (bars).
//!
//! ```
//! use neurodl_report::{Curve, Report, line_plot_png};
//! let loss = Curve::from_values("train", vec![1.2, 0.9, 0.7, 0.6]);
//! let png = line_plot_png("Loss", "epoch", "loss", &[loss], (640, 400))?;
//! let mut report = Report::new("Run 42");
//! report.section("Training").image_png("Training loss", &png);
//! assert!(report.to_html().contains("data:image/png;base64,"));
//! # Ok::<(), neurodl_report::ReportError>(())
//! ```

#![warn(missing_docs)]

mod atomic;
mod axes;
mod bar;
mod canvas;
mod confusion;
mod error;
mod html;
mod image;
mod line;
mod palette;
mod ticks;

pub use atomic::write_png;
pub use bar::{Bar, bar_chart_png};
pub use confusion::confusion_matrix_png;
pub use error::ReportError;
pub use html::{Report, escape_html};
pub use image::{image_overlay_named_png, image_overlay_png};
pub use line::{Curve, line_plot_png};
