//! The one error type of the crate.

use std::path::PathBuf;

/// Why a plot, a report or a file could not be made.
///
/// Every variant names what was wrong, so a caller can print it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The input holds nothing that could be drawn (no curves, only NaN values, no pixels...).
    #[error("{what}: nothing to draw: {reason}")]
    EmptyInput {
        /// What was asked for (e.g. `"line plot"`).
        what: &'static str,
        /// What was missing.
        reason: String,
    },
    /// The input is inconsistent (lengths that disagree, a negative error bar...).
    #[error("{what}: invalid input: {reason}")]
    InvalidInput {
        /// What was asked for (e.g. `"bar chart"`).
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The requested image size is too small to lay out a plot or too large to hold in memory.
    #[error("image size {width}x{height} is outside the allowed {min}..={max} pixels per side")]
    InvalidSize {
        /// Requested width in pixels.
        width: u64,
        /// Requested height in pixels.
        height: u64,
        /// Smallest allowed side.
        min: u32,
        /// Largest allowed side.
        max: u32,
    },
    /// The image is too small for what it must hold (e.g. 500 classes in a 400-pixel
    /// confusion matrix): a larger size or fewer items is needed.
    #[error("{what}: {width}x{height} pixels is too small for {reason}")]
    TooCrowded {
        /// What was asked for.
        what: &'static str,
        /// Image width in pixels.
        width: u64,
        /// Image height in pixels.
        height: u64,
        /// What did not fit.
        reason: String,
    },
    /// The embedded font could not be loaded (would mean a corrupt build).
    #[error("embedded font: {0}")]
    Font(String),
    /// The rasteriser reported a failure.
    #[error("drawing failed: {0}")]
    Render(String),
    /// The PNG encoder reported a failure.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file the operation was about.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}
