//! Errors of the model zoo.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong when building, running or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter or signal shape the architecture cannot be built with.
    #[error("cannot build {model}: {reason}")]
    InvalidConfig {
        /// Model name as braindecode spells it.
        model: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
    /// An input batch whose shape does not match the one the model was built for.
    #[error("{model} expects input [batch, {n_chans}, {n_times}], got {got:?}")]
    InputShape {
        /// Model name.
        model: &'static str,
        /// Channels the model was built for.
        n_chans: usize,
        /// Samples the model was built for.
        n_times: usize,
        /// The offending shape.
        got: Vec<usize>,
    },
    /// A model name the registry does not know.
    #[error("unknown model {name:?}; known models: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// Reading or writing a weight file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file that is not a readable safetensors file.
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Format {
        /// File involved.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// Weights whose names or shapes do not fit the model.
    #[error("{}: weights do not fit {model}:\n{mismatch}", path.display())]
    WeightMismatch {
        /// File involved.
        path: PathBuf,
        /// Model name.
        model: &'static str,
        /// Every problem found, not just the first (boxed: keeps `Result`s small).
        mismatch: Box<WeightMismatch>,
    },
}

/// The full list of problems found when matching a weight file against a model, so that a user
/// fixing a conversion script sees all of them at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightMismatch {
    /// Tensors the model needs that the file lacks (file-side names).
    pub missing: Vec<String>,
    /// Tensors in the file that the model has no place for.
    pub unexpected: Vec<String>,
    /// Tensors present under the right name with the wrong shape: (name, expected, found).
    pub mis_shaped: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Tensors with an element type other than f32/f64: (name, dtype).
    pub bad_dtype: Vec<(String, String)>,
}

impl WeightMismatch {
    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.mis_shaped.is_empty()
            && self.bad_dtype.is_empty()
    }
}

impl fmt::Display for WeightMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.missing.is_empty() {
            writeln!(
                f,
                "  missing ({}): {}",
                self.missing.len(),
                self.missing.join(", ")
            )?;
        }
        if !self.unexpected.is_empty() {
            writeln!(
                f,
                "  unexpected ({}): {}",
                self.unexpected.len(),
                self.unexpected.join(", ")
            )?;
        }
        for (name, expected, found) in &self.mis_shaped {
            writeln!(f, "  mis-shaped: {name}: expected {expected:?}, found {found:?}")?;
        }
        for (name, dtype) in &self.bad_dtype {
            writeln!(
                f,
                "  unsupported dtype: {name}: {dtype} (only F32 and F64 are read)"
            )?;
        }
        Ok(())
    }
}
