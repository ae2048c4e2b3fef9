//! `open_volume` / `write_volume`: the volume formats chosen by file extension.

use std::path::Path;

use crate::error::{Error, Result};
use crate::volume::Volume;
use crate::{nifti, nrrd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VolumeFormat {
    Nifti,
    Nrrd,
}

fn format_of(path: &Path) -> Result<VolumeFormat> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Ok(VolumeFormat::Nifti)
    } else if name.ends_with(".nrrd") || name.ends_with(".nhdr") {
        Ok(VolumeFormat::Nrrd)
    } else {
        Err(Error::unsupported(
            path,
            "volume file extension; neurodl reads and writes .nii, .nii.gz, .nrrd and .nhdr",
        ))
    }
}

/// Reads a NIfTI-1/2 (`.nii`, `.nii.gz`) or NRRD (`.nrrd`, `.nhdr`) volume.
pub fn open_volume(path: &Path) -> Result<Volume> {
    match format_of(path)? {
        VolumeFormat::Nifti => nifti::read_nifti(path),
        VolumeFormat::Nrrd => nrrd::read_nrrd(path),
    }
}

/// Writes `volume` atomically in the format its extension names (`.nii.gz` compressed;
/// `.nhdr` with a detached data file). See [`nifti::write_nifti`] and [`nrrd::write_nrrd`]
/// for the header fields kept from the volume's metadata.
pub fn write_volume(path: &Path, volume: &Volume) -> Result<()> {
    match format_of(path)? {
        VolumeFormat::Nifti => nifti::write_nifti(path, volume),
        VolumeFormat::Nrrd => nrrd::write_nrrd(path, volume),
    }
}
