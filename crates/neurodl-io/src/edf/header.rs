//! The fixed-width ASCII header shared by EDF, EDF+, BDF and BDF+.
//!
//! Layout (bytes): 256 for the file, then 256 per signal stored field by field
//! (all labels, then all transducers, ...). Every field is space-padded ASCII;
//! in the wild they also carry NUL padding, lowercase text, decimal commas and
//! Latin-1 bytes, which are all accepted here. Numbers that cannot be parsed,
//! and values that cannot describe a readable file, are errors naming the field.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::error::{Error, Result};

/// Size of the fixed part of the header and of each signal's part.
pub(crate) const BLOCK: usize = 256;

/// 16-bit EDF or 24-bit BDF sample encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Edf,
    Bdf,
}

impl Flavour {
    pub(crate) fn bytes_per_sample(self) -> usize {
        match self {
            Flavour::Edf => 2,
            Flavour::Bdf => 3,
        }
    }

    /// The digital range a sample can take.
    pub(crate) fn digital_limits(self) -> (i32, i32) {
        match self {
            Flavour::Edf => (-32768, 32767),
            Flavour::Bdf => (-8_388_608, 8_388_607),
        }
    }

    pub(crate) fn annotation_label(self) -> &'static str {
        match self {
            Flavour::Edf => "EDF Annotations",
            Flavour::Bdf => "BDF Annotations",
        }
    }
}

/// One signal's header fields, parsed.
#[derive(Debug, Clone)]
pub(crate) struct SignalHeader {
    pub label: String,
    pub transducer: String,
    pub physical_dimension: String,
    pub physical_min: f64,
    pub physical_max: f64,
    pub digital_min: f64,
    pub digital_max: f64,
    pub prefiltering: String,
    pub samples_per_record: usize,
}

/// The file header, parsed but not yet interpreted against the file size.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub flavour: Flavour,
    pub patient_id: String,
    pub recording_id: String,
    /// `dd.mm.yy` as stored.
    pub start_date: String,
    /// `hh.mm.ss` as stored.
    pub start_time: String,
    pub header_bytes: usize,
    /// The reserved field: `EDF+C`, `EDF+D`, `BDF+C`, `24BIT`, or blank.
    pub reserved: String,
    /// `None` when the header says `-1` (recording not closed properly).
    pub n_records: Option<usize>,
    pub record_duration: f64,
    pub signals: Vec<SignalHeader>,
}

impl Header {
    /// True for EDF+ / BDF+ (annotations may be present, TAL time-keeping applies).
    pub fn is_plus(&self) -> bool {
        self.reserved.starts_with("EDF+") || self.reserved.starts_with("BDF+")
    }

    /// True for a discontinuous (`+D`) file.
    pub fn is_discontinuous(&self) -> bool {
        self.reserved.starts_with("EDF+D") || self.reserved.starts_with("BDF+D")
    }

    /// Bytes in one data record (all signals).
    pub fn record_bytes(&self) -> usize {
        self.signals.iter().map(|s| s.samples_per_record).sum::<usize>() * self.flavour.bytes_per_sample()
    }

    /// Start date and time as MNE reads them: a four-digit year from an EDF+
    /// `Startdate dd-MMM-yyyy` recording field when present, else the two-digit
    /// header year with the EDF 1985 pivot.
    pub fn meas_date(&self) -> Option<NaiveDateTime> {
        let parts: Vec<&str> = self.recording_id.split(' ').collect();
        let date = (parts.len() == 5 && parts[0] == "Startdate")
            .then(|| parse_edf_plus_date(parts[1]))
            .flatten()
            .or_else(|| {
                let mut it = self.start_date.split('.').map(|x| x.trim().parse::<u32>());
                let (d, m, y) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
                let year = if y < 85 { 2000 + y } else { 1900 + y } as i32;
                NaiveDate::from_ymd_opt(year, m, d)
            })?;
        let mut it = self.start_time.split('.').map(|x| x.trim().parse::<u32>());
        let time = (|| NaiveTime::from_hms_opt(it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?))()
            .unwrap_or_default();
        Some(date.and_time(time))
    }
}

/// Parses `dd-MMM-yyyy` (month in English, any case), as EDF+ writes dates.
pub(crate) fn parse_edf_plus_date(s: &str) -> Option<NaiveDate> {
    let mut it = s.split('-');
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_uppercase().as_str() {
        "JAN" => 1,
        "FEB" => 2,
        "MAR" => 3,
        "APR" => 4,
        "MAY" => 5,
        "JUN" => 6,
        "JUL" => 7,
        "AUG" => 8,
        "SEP" => 9,
        "OCT" => 10,
        "NOV" => 11,
        "DEC" => 12,
        _ => return None,
    };
    let year: i32 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Decodes a header field: Latin-1 (every byte is a valid character, so never fails),
/// cut at the first NUL, surrounding whitespace removed.
pub(crate) fn field_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text: String = bytes[..end].iter().map(|&b| b as char).collect();
    text.trim().to_string()
}

struct FieldCursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl FieldCursor<'_> {
    fn take(&mut self, len: usize, field: &str) -> Result<&[u8]> {
        let end = self.pos + len;
        let slice = self.bytes.get(self.pos..end).ok_or_else(|| {
            Error::malformed(
                self.path,
                format!("header.{field}"),
                format!(
                    "file ends at byte {} inside the header (needs {end} bytes)",
                    self.bytes.len()
                ),
            )
        })?;
        self.pos = end;
        Ok(slice)
    }

    fn text(&mut self, len: usize, field: &str) -> Result<String> {
        Ok(field_text(self.take(len, field)?))
    }

    fn number(&mut self, len: usize, field: &str) -> Result<f64> {
        let text = self.text(len, field)?;
        parse_number(&text).ok_or_else(|| {
            Error::malformed(
                self.path,
                format!("header.{field}"),
                format!("`{text}` is not a number"),
            )
        })
    }

    fn integer(&mut self, len: usize, field: &str) -> Result<i64> {
        let text = self.text(len, field)?;
        text.parse::<i64>().map_err(|_| {
            Error::malformed(
                self.path,
                format!("header.{field}"),
                format!("`{text}` is not an integer"),
            )
        })
    }
}

/// Parses a header number; accepts a decimal comma, as MNE does, and rejects NaN/inf.
fn parse_number(text: &str) -> Option<f64> {
    let v: f64 = text.replace(',', ".").parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses the header from the first bytes of the file (`bytes` may hold more).
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Header> {
    let mut c = FieldCursor { path, bytes, pos: 0 };
    let version = c.take(8, "version")?;
    let flavour = if version == b"\xffBIOSEMI" {
        Flavour::Bdf
    } else if field_text(version) == "0" {
        Flavour::Edf
    } else {
        return Err(Error::malformed(
            path,
            "header.version",
            format!(
                "`{}` is neither EDF (`0`) nor BDF (`\\xffBIOSEMI`); not an EDF/BDF file",
                field_text(version).escape_debug()
            ),
        ));
    };
    // MNE picks the decoder from the extension; neurodl reads the version field, and refuses
    // a file whose extension says otherwise rather than decode 24-bit samples as 16-bit.
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match (flavour, ext.as_deref()) {
        (Flavour::Edf, Some("bdf")) | (Flavour::Bdf, Some("edf")) => {
            return Err(Error::malformed(
                path,
                "header.version",
                format!(
                    "the extension says {} but the version field says {}; rename the file if the header is right",
                    if flavour == Flavour::Edf { "BDF" } else { "EDF" },
                    if flavour == Flavour::Edf {
                        "EDF (`0`)"
                    } else {
                        "BDF (`\\xffBIOSEMI`)"
                    },
                ),
            ));
        }
        _ => {}
    }
    let patient_id = c.text(80, "patient_id")?;
    let recording_id = c.text(80, "recording_id")?;
    let start_date = c.text(8, "start_date")?;
    let start_time = c.text(8, "start_time")?;
    let header_bytes = c.integer(8, "header_bytes")?;
    let reserved = c.text(44, "reserved")?;
    let n_records = c.integer(8, "n_records")?;
    let record_duration = c.number(8, "record_duration")?;
    let n_signals = c.integer(4, "n_signals")?;

    if n_signals < 1 {
        return Err(Error::malformed(
            path,
            "header.n_signals",
            format!("{n_signals} signals; a file needs at least one"),
        ));
    }
    let n_signals = n_signals as usize;
    let expected_header = BLOCK * (n_signals + 1);
    if header_bytes != expected_header as i64 {
        return Err(Error::malformed(
            path,
            "header.header_bytes and header.n_signals",
            format!(
                "disagree: header_bytes is {header_bytes} but n_signals = {n_signals} needs 256 × ({n_signals} + 1) = {expected_header}"
            ),
        ));
    }
    let n_records = match n_records {
        -1 => None,
        n if n >= 0 => Some(n as usize),
        n => {
            return Err(Error::malformed(
                path,
                "header.n_records",
                format!("{n}; must be -1 (unknown) or a count ≥ 0"),
            ));
        }
    };
    if record_duration < 0.0 {
        return Err(Error::malformed(
            path,
            "header.record_duration",
            format!("{record_duration} s is negative"),
        ));
    }

    let mut texts = |len: usize, name: &str| -> Result<Vec<String>> {
        (0..n_signals)
            .map(|i| c.text(len, &format!("signal[{i}].{name}")))
            .collect()
    };
    let labels = texts(16, "label")?;
    let transducers = texts(80, "transducer")?;
    let dimensions = texts(8, "physical_dimension")?;
    let mut numbers = |name: &str| -> Result<Vec<f64>> {
        (0..n_signals)
            .map(|i| c.number(8, &format!("signal[{i}].{name}")))
            .collect()
    };
    let physical_min = numbers("physical_min")?;
    let physical_max = numbers("physical_max")?;
    let digital_min = numbers("digital_min")?;
    let digital_max = numbers("digital_max")?;
    let prefiltering: Vec<String> = (0..n_signals)
        .map(|i| c.text(80, &format!("signal[{i}].prefiltering")))
        .collect::<Result<_>>()?;
    let mut samples_per_record = Vec::with_capacity(n_signals);
    for (i, label) in labels.iter().enumerate() {
        let field = format!("signal[{i}].samples_per_record");
        let n = c.integer(8, &field)?;
        if n < 1 {
            return Err(Error::malformed(
                path,
                format!("header.{field}"),
                format!(
                    "{n} samples per record for `{}`; must be ≥ 1 (sampling rate would be zero)",
                    label
                ),
            ));
        }
        samples_per_record.push(n as usize);
    }
    c.take(32 * n_signals, "signal[].reserved")?;

    let signals = (0..n_signals)
        .map(|i| SignalHeader {
            label: labels[i].clone(),
            transducer: transducers[i].clone(),
            physical_dimension: dimensions[i].clone(),
            physical_min: physical_min[i],
            physical_max: physical_max[i],
            digital_min: digital_min[i],
            digital_max: digital_max[i],
            prefiltering: prefiltering[i].clone(),
            samples_per_record: samples_per_record[i],
        })
        .collect();
    Ok(Header {
        flavour,
        patient_id,
        recording_id,
        start_date,
        start_time,
        header_bytes: expected_header,
        reserved,
        n_records,
        record_duration,
        signals,
    })
}
