//! Errors of experiments and training runs.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in an experiment: the message names the file, the parameter or
/// the ids involved.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The experiment file does not parse or is inconsistent.
    #[error("{source_name}: {message}")]
    Config {
        /// The experiment file (or `<string>`).
        source_name: String,
        /// What is wrong, with the line and key when known.
        message: String,
    },
    /// The dataset cannot be used as declared.
    #[error("dataset: {0}")]
    Dataset(String),
    /// A file could not be read or written.
    // The cause is part of the message rather than a `source`: callers printing the error
    // chain (anyhow's `{:#}`) would otherwise say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// Reading a recording failed.
    #[error(transparent)]
    Read(#[from] neurodl_io::Error),
    /// Preprocessing or windowing a recording failed.
    #[error("{}: {error}", path.display())]
    Signal {
        /// The recording.
        path: PathBuf,
        /// What went wrong.
        error: neurodl_signal::Error,
    },
    /// Building, running or saving a model failed.
    #[error(transparent)]
    Model(#[from] neurodl_models::ModelError),
    /// A split or a metric could not be computed.
    #[error(transparent)]
    Eval(#[from] neurodl_eval::EvalError),
    /// A baseline could not be fitted or applied.
    #[error(transparent)]
    Baseline(#[from] neurodl_baselines::BaselineError),
    /// A plot or the report could not be made.
    #[error(transparent)]
    Report(#[from] neurodl_report::ReportError),
    /// Training diverged or a checkpoint is unusable.
    #[error("{0}")]
    Training(String),
    /// A checkpoint could not be read back.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;
