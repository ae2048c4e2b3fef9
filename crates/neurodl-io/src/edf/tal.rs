//! EDF+ Time-stamped Annotation Lists (TALs), read and written.
//!
//! Each data record's annotation signal holds TALs:
//! `+onset[\x15duration]\x14text\x14[text\x14...]\x00`, padded with NULs.
//! The first TAL of every record is a time-keeping TAL (no text) whose onset is
//! the record's start time; EDF+D files need it to place records in time.

use std::path::Path;

use crate::error::{Error, Result};

/// One annotation as stored, onset relative to the file's start date/time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawAnnotation {
    pub onset: f64,
    pub duration: f64,
    pub description: String,
}

/// The TALs of one data record.
#[derive(Debug, Default)]
pub(crate) struct RecordTals {
    /// Onset of the record (its time-keeping TAL), when present.
    pub record_onset: Option<f64>,
    pub annotations: Vec<RawAnnotation>,
    /// True when some text was not valid UTF-8 and was decoded lossily.
    pub lossy: bool,
}

/// Parses one record's annotation bytes. `record` is its index, used in errors.
pub(crate) fn parse_record(path: &Path, record: usize, bytes: &[u8]) -> Result<RecordTals> {
    let mut out = RecordTals::default();
    let bad =
        |problem: String| Error::malformed(path, format!("annotations (data record {record})"), problem);
    let mut pos = 0;
    let mut first = true;
    while pos < bytes.len() {
        if bytes[pos] == 0 {
            pos += 1;
            continue;
        }
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == 0)
            .map(|e| pos + e)
            .ok_or_else(|| {
                bad(format!(
                    "TAL starting at byte {pos} is not terminated by a NUL byte"
                ))
            })?;
        let tal = &bytes[pos..end];
        pos = end + 1;

        let mut parts = tal.split(|&b| b == 0x14);
        let timing = parts.next().unwrap_or_default();
        let (onset_bytes, duration_bytes) = match timing.iter().position(|&b| b == 0x15) {
            Some(i) => (&timing[..i], Some(&timing[i + 1..])),
            None => (timing, None),
        };
        let onset = parse_time(onset_bytes, true).ok_or_else(|| {
            bad(format!(
                "onset `{}` is not a signed number",
                String::from_utf8_lossy(onset_bytes)
            ))
        })?;
        let duration = match duration_bytes {
            None => 0.0,
            Some([]) => 0.0,
            Some(d) => parse_time(d, false).ok_or_else(|| {
                bad(format!(
                    "duration `{}` is not a number",
                    String::from_utf8_lossy(d)
                ))
            })?,
        };
        let mut had_text = false;
        for text in parts {
            if text.is_empty() {
                continue;
            }
            had_text = true;
            let description = match std::str::from_utf8(text) {
                Ok(s) => s.to_string(),
                Err(_) => {
                    out.lossy = true;
                    String::from_utf8_lossy(text).into_owned()
                }
            };
            out.annotations.push(RawAnnotation {
                onset,
                duration,
                description,
            });
        }
        if first && !had_text {
            out.record_onset = Some(onset);
        }
        first = false;
    }
    Ok(out)
}

/// Parses `+12.5` / `-0.25` (sign required for onsets) or `3.5` (durations).
fn parse_time(bytes: &[u8], signed: bool) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body = match text.as_bytes().first()? {
        b'+' | b'-' => &text[1..],
        _ if signed => return None,
        _ => text,
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Formats a time for a TAL: shortest decimal that round-trips, with an explicit sign for onsets.
pub(crate) fn format_time(t: f64, signed: bool) -> String {
    // Microsecond resolution is far below any EEG sampling interval and keeps TALs short.
    let rounded = (t * 1e6).round() / 1e6;
    let mut s = format!("{}", rounded.abs());
    if s.contains('e') {
        s = format!("{:.6}", rounded.abs());
    }
    if signed {
        let sign = if rounded < 0.0 { '-' } else { '+' };
        format!("{sign}{s}")
    } else {
        s
    }
}

/// Encodes one record's TALs: the time-keeping TAL, then `annotations`.
pub(crate) fn encode_record(record_onset: f64, annotations: &[RawAnnotation]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(format_time(record_onset, true).as_bytes());
    out.extend_from_slice(b"\x14\x14\x00");
    for a in annotations {
        out.extend_from_slice(format_time(a.onset, true).as_bytes());
        if a.duration > 0.0 {
            out.push(0x15);
            out.extend_from_slice(format_time(a.duration, false).as_bytes());
        }
        out.push(0x14);
        out.extend_from_slice(a.description.as_bytes());
        out.extend_from_slice(b"\x14\x00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timekeeping_and_events() {
        let bytes = b"+0\x14\x14\x00+1.5\x154.2\x14T1\x14T2\x14\x00\x00\x00";
        let tals = parse_record(Path::new("x.edf"), 0, bytes).unwrap();
        assert_eq!(tals.record_onset, Some(0.0));
        assert_eq!(tals.annotations.len(), 2);
        assert_eq!(tals.annotations[1].description, "T2");
        assert_eq!(tals.annotations[0].duration, 4.2);
    }

    #[test]
    fn rejects_unsigned_onset() {
        let err = parse_record(Path::new("x.edf"), 3, b"1.5\x14A\x14\x00").unwrap_err();
        assert!(err.to_string().contains("data record 3"), "{err}");
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let anns = vec![RawAnnotation {
            onset: 12.34375,
            duration: 0.5,
            description: "Stimulus/S  1 µ".into(),
        }];
        let bytes = encode_record(10.0, &anns);
        let tals = parse_record(Path::new("x.edf"), 0, &bytes).unwrap();
        assert_eq!(tals.record_onset, Some(10.0));
        assert_eq!(tals.annotations, anns);
    }
}
