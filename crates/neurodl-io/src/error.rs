//! The one error type of `neurodl-io`.
//!
//! Every failure names the file, and where it comes from a header or a field,
//! the field and what is wrong with it, so a user can find the broken byte
//! without a debugger. Readers never panic on bad input: a malformed file is an
//! `Err`, never a wrong sample.

use std::path::{Path, PathBuf};

/// Errors raised while reading, writing or discovering recordings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused an operation on `path`.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A field of the file holds a value that cannot be right.
    #[error("{path}: {field}: {problem}", path = path.display())]
    Malformed {
        /// The file that holds the field.
        path: PathBuf,
        /// The header field, section or key (e.g. `header.n_records`, `[Binary Infos] BinaryFormat`).
        field: String,
        /// What is wrong, with the offending value where it helps.
        problem: String,
    },
    /// The file is well-formed but uses a feature neurodl does not read.
    #[error("{path}: unsupported: {what}", path = path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The feature that is not supported.
        what: String,
    },
    /// A caller asked for something the recording cannot give (sample range, channel index...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// A [`Error::Malformed`] for `field` of `path`.
    pub fn malformed(path: &Path, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// An [`Error::Unsupported`] for `path`.
    pub fn unsupported(path: &Path, what: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Adds the path to a bare `std::io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
