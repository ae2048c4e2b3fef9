//! BrainVision reader (work in progress on a branch; replaced wholesale).
use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::recording::{RecordingInfo, RecordingReader};

/// Lazy reader for a BrainVision `.vhdr` recording.
pub struct BrainVisionReader {
    info: RecordingInfo,
}

impl BrainVisionReader {
    /// Parses the `.vhdr` header and `.vmrk` markers of `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Err(Error::unsupported(path, "BrainVision reading is not built yet"))
    }
}

impl RecordingReader for BrainVisionReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }
    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        let picks = self.info.check_segment(start, stop, picks)?;
        Ok(Array2::zeros((picks.len(), stop - start)))
    }
}
