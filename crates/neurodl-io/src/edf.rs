//! EDF/EDF+/BDF/BDF+ (in progress).
use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::recording::{RecordingInfo, RecordingReader};

/// Lazy EDF/BDF reader.
pub struct EdfReader {
    info: RecordingInfo,
}

impl EdfReader {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "EDF reading is not built yet"))
    }
}

impl RecordingReader for EdfReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }
    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        let picks = self.info.check_segment(start, stop, picks)?;
        Ok(Array2::zeros((picks.len(), stop - start)))
    }
}
