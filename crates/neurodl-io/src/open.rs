//! Format detection and the one entry point that opens any supported file.

use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::recording::{Format, RecordingReader};
use crate::{brainvision, edf, eeglab};

/// Guesses the format of `path` from its extension, confirmed by the file's first bytes
/// where the format has a signature (a BDF starts with `0xFF "BIOSEMI"`, an EDF with `"0       "`).
pub fn detect_format(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "edf" | "bdf" | "rec" => {
            let mut first = [0u8; 1];
            let mut f = std::fs::File::open(path).at(path)?;
            std::io::Read::read_exact(&mut f, &mut first).map_err(|_| {
                Error::malformed(path, "header.version", "file is empty or shorter than one byte")
            })?;
            // Whether it is EDF+ / BDF+ is only known after parsing the reserved field.
            Ok(if first[0] == 0xFF {
                Format::Bdf
            } else {
                Format::Edf
            })
        }
        "vhdr" => Ok(Format::BrainVision),
        "set" => Ok(Format::Eeglab),
        "" => Err(Error::unsupported(
            path,
            "no file extension; expected .edf, .bdf, .vhdr or .set",
        )),
        other => Err(Error::unsupported(
            path,
            format!("extension `.{other}`; neurodl reads .edf, .bdf, .vhdr and .set"),
        )),
    }
}

/// Opens any supported recording for lazy reading; the format is chosen by [`detect_format`].
pub fn open_recording(path: &Path) -> Result<Box<dyn RecordingReader>> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Ok(match detect_format(path)? {
        Format::Edf | Format::EdfPlus | Format::Bdf | Format::BdfPlus => {
            Box::new(edf::EdfReader::open(path)?)
        }
        Format::BrainVision => Box::new(brainvision::BrainVisionReader::open(path)?),
        Format::Eeglab => Box::new(eeglab::EeglabReader::open(path)?),
    })
}
