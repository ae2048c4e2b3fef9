//! EDF+ and BDF+ writer.
//!
//! Output follows the EDF+ specification closely enough for MNE, pyedflib and
//! EDFbrowser: `EDF+C`/`BDF+C` in the reserved field, an `EDF Annotations`
//! (`BDF Annotations`) signal whose first TAL in every record keeps time,
//! and physical ranges written so that every sample is reproduced within half a
//! digital step. The file is written to a temporary sibling and renamed into
//! place, so a crash never leaves a half-written recording under the target name.

use std::io::Write;
use std::path::Path;

use super::header::Flavour;
use super::tal::{self, RawAnnotation};
use crate::atomic::AtomicFile;
use crate::error::{Error, Result};
use crate::recording::{ChannelType, Recording};

/// Which variant to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdfVariant {
    /// EDF+ (16-bit samples): about 4.5 significant digits per channel.
    EdfPlus,
    /// BDF+ (24-bit samples): about 7 significant digits per channel.
    BdfPlus,
}

/// What the writer did, for the caller to report.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteReport {
    /// Duration of a data record in seconds.
    pub record_duration: f64,
    /// Number of data records written.
    pub n_records: usize,
    /// Zero samples appended to complete the last record (0 when the length divides evenly).
    pub padded_samples: usize,
    /// Per channel, the largest difference between a value and what a reader gets back, in
    /// SI units: half a digital step, 0 for exactly stored event codes, and half a step plus
    /// one for event codes too wide for the format (readers truncate them to integers).
    pub max_quantisation_error: Vec<f64>,
    /// What a user should know about the output (e.g. event codes that could not be kept exact).
    pub warnings: Vec<String>,
}

/// Longest channel label an EDF header holds.
const LABEL_LEN: usize = 16;

/// Writes `recording` as EDF+ or BDF+ at `path` (atomically).
///
/// Voltage channels are stored in µV; other channels in their own unit. The
/// record length is the longest ≤ 1 s that divides the recording exactly and
/// fits the 8-character header field; if none exists, 1 s records are used and
/// the last one is padded with zeros (reported in [`WriteReport::padded_samples`]).
pub fn write_edf(path: &Path, recording: &Recording, variant: EdfVariant) -> Result<WriteReport> {
    let info = &recording.info;
    let flavour = match variant {
        EdfVariant::EdfPlus => Flavour::Edf,
        EdfVariant::BdfPlus => Flavour::Bdf,
    };
    let n_channels = info.channels.len();
    let n_samples = info.n_samples;
    if recording.data.shape() != [n_channels, n_samples] {
        return Err(Error::InvalidRequest(format!(
            "{}: data is {:?} but info describes {n_channels} channels × {n_samples} samples",
            path.display(),
            recording.data.shape()
        )));
    }
    if !(info.sfreq.is_finite() && info.sfreq > 0.0) {
        return Err(Error::InvalidRequest(format!(
            "{}: sampling rate {} Hz cannot be written",
            path.display(),
            info.sfreq
        )));
    }
    for c in &info.channels {
        if c.name.chars().count() > LABEL_LEN || !c.name.is_ascii() {
            return Err(Error::InvalidRequest(format!(
                "{}: channel `{}` cannot be an EDF label (at most {LABEL_LEN} ASCII characters); rename it first",
                path.display(),
                c.name
            )));
        }
    }

    let (samples_per_record, record_duration, duration_text) = choose_record(info.sfreq, n_samples).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "{}: sampling rate {} Hz gives no record length whose sample count is whole and fits the header",
            path.display(),
            info.sfreq
        ))
    })?;
    let n_records = n_samples.div_ceil(samples_per_record).max(1);
    let padded_samples = n_records * samples_per_record - n_samples;

    // Per-channel scaling from the header's own decimal text, so the reader reconstructs exactly.
    let (dig_lo, dig_hi) = flavour.digital_limits();
    let mut scalings = Vec::with_capacity(n_channels);
    let mut warnings = Vec::new();
    for (ch, row) in info.channels.iter().zip(recording.data.rows()) {
        let unit_factor = if ch.kind.is_voltage() && ch.unit == "V" {
            1e6
        } else {
            1.0
        };
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::InvalidRequest(format!(
                    "{}: channel `{}` has a non-finite value ({v}) at sample {j}; EDF cannot store it",
                    path.display(),
                    ch.name
                )));
            }
            lo = lo.min(v * unit_factor);
            hi = hi.max(v * unit_factor);
        }
        if n_samples == 0 {
            (lo, hi) = (0.0, 0.0);
        }
        if padded_samples > 0 {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        // BDF status channels are read back as raw digital values (MNE's convention), so they
        // are written as such; every other channel goes through the physical range.
        let raw_digital = ch.kind == ChannelType::Stim && flavour == Flavour::Bdf;
        let (pmin_text, pmin, pmax_text, pmax) = if raw_digital {
            if lo < dig_lo as f64 || hi > dig_hi as f64 {
                return Err(out_of_range(
                    path,
                    &ch.name,
                    if lo < dig_lo as f64 { lo } else { hi },
                ));
            }
            (
                dig_lo.to_string(),
                dig_lo as f64,
                dig_hi.to_string(),
                dig_hi as f64,
            )
        } else if ch.kind == ChannelType::Stim
            && lo.fract() == 0.0
            && hi.fract() == 0.0
            && hi - lo <= (dig_hi - dig_lo) as f64
            && format!("{}", lo + (dig_hi - dig_lo) as f64).len() <= 8
            && format!("{lo}").len() <= 8
            && row.iter().all(|v| v.fract() == 0.0)
        {
            // Integer event codes get one physical unit per digital step, so they come back
            // exact: readers truncate stimulus values to integers, and 3.9999 would become 3.
            let top = lo + (dig_hi - dig_lo) as f64;
            (format!("{lo}"), lo, format!("{top}"), top)
        } else {
            let (pmin_text, pmin) =
                format_header_number(lo, false).ok_or_else(|| out_of_range(path, &ch.name, lo))?;
            let (mut pmax_text, mut pmax) =
                format_header_number(hi, true).ok_or_else(|| out_of_range(path, &ch.name, hi))?;
            if pmax <= pmin {
                // A constant channel still needs a non-empty range.
                (pmax_text, pmax) =
                    format_header_number(pmin + 1.0, true).ok_or_else(|| out_of_range(path, &ch.name, hi))?;
            }
            (pmin_text, pmin, pmax_text, pmax)
        };
        let cal = (pmax - pmin) / (dig_hi as f64 - dig_lo as f64);
        let offset = pmin - dig_lo as f64 * cal;
        let unit = if unit_factor == 1e6 {
            "uV".to_string()
        } else {
            ch.unit.clone()
        };
        if !unit.is_ascii() || unit.len() > 8 {
            return Err(Error::InvalidRequest(format!(
                "{}: unit `{unit}` of channel `{}` does not fit the 8-character EDF field",
                path.display(),
                ch.name
            )));
        }
        // Readers truncate stimulus values to integers (MNE's convention), so unless the
        // codes are stored exactly (one unit per digital step) they can be off by one more.
        let exact_codes = raw_digital || (ch.kind == ChannelType::Stim && cal == 1.0);
        let max_error = if exact_codes {
            0.0
        } else if ch.kind == ChannelType::Stim {
            warnings.push(format!(
                "channel `{}`: event codes {lo}..{hi} do not fit {}'s {} digital steps; they are approximate \
                 (within {:.3}) — write BDF+ to keep them exact",
                ch.name,
                if flavour == Flavour::Edf { "EDF" } else { "BDF" },
                (dig_hi - dig_lo) as i64 + 1,
                cal / 2.0 + 1.0
            ));
            cal / 2.0 + 1.0
        } else {
            cal / 2.0 / unit_factor
        };
        scalings.push(ChannelScaling {
            max_error,
            unit_factor,
            cal,
            offset,
            pmin_text,
            pmax_text,
            unit,
            raw_digital,
        });
    }

    // Annotations go into the record that contains their onset, so readers that
    // only scan part of a file still find them near their time.
    let mut per_record: Vec<Vec<RawAnnotation>> = vec![Vec::new(); n_records];
    for a in &info.annotations {
        let r = ((a.onset / record_duration).floor().max(0.0) as usize).min(n_records - 1);
        per_record[r].push(RawAnnotation {
            onset: a.onset,
            duration: a.duration,
            description: a.description.replace(['\x14', '\x15', '\0'], " "),
        });
    }
    let encoded: Vec<Vec<u8>> = per_record
        .iter()
        .enumerate()
        .map(|(r, anns)| tal::encode_record(r as f64 * record_duration, anns))
        .collect();
    let bps = flavour.bytes_per_sample();
    let longest = encoded.iter().map(Vec::len).max().unwrap_or(0);
    let annotation_spr = longest.div_ceil(bps).max(60 / bps);

    let mut out = AtomicFile::create(path)?;
    let n_signals = n_channels + 1;
    let header = build_header(
        info,
        flavour,
        n_records,
        &duration_text,
        n_signals,
        samples_per_record,
        annotation_spr,
        &scalings,
    );
    out.write_all(&header).map_err(|e| Error::io(path, e))?;

    let record_bytes = (n_channels * samples_per_record + annotation_spr) * bps;
    let mut record = Vec::with_capacity(record_bytes);
    let data = &recording.data;
    for (r, tals) in encoded.iter().enumerate() {
        record.clear();
        let s0 = r * samples_per_record;
        for (c, sc) in scalings.iter().enumerate() {
            for j in s0..s0 + samples_per_record {
                let v = if j < n_samples {
                    data[[c, j]] * sc.unit_factor
                } else {
                    0.0
                };
                let d = if sc.raw_digital {
                    v.round()
                } else {
                    ((v - sc.offset) / sc.cal).round()
                };
                let d = d.clamp(dig_lo as f64, dig_hi as f64) as i32;
                record.extend_from_slice(&d.to_le_bytes()[..bps]);
            }
        }
        let start = record.len();
        record.extend_from_slice(tals);
        record.resize(start + annotation_spr * bps, 0);
        out.write_all(&record).map_err(|e| Error::io(path, e))?;
    }
    out.commit()?;

    Ok(WriteReport {
        record_duration,
        n_records,
        padded_samples,
        max_quantisation_error: scalings.iter().map(|s| s.max_error).collect(),
        warnings,
    })
}

struct ChannelScaling {
    /// Largest difference, in SI units, between a value and what a reader gets back.
    max_error: f64,
    /// File unit per SI unit (1e6 for volts stored as µV).
    unit_factor: f64,
    cal: f64,
    offset: f64,
    pmin_text: String,
    pmax_text: String,
    unit: String,
    /// Store the value itself as the digital sample (BDF status channels).
    raw_digital: bool,
}

fn out_of_range(path: &Path, channel: &str, v: f64) -> Error {
    Error::InvalidRequest(format!(
        "{}: channel `{channel}` reaches {v}, which does not fit EDF's 8-character physical range field",
        path.display()
    ))
}

/// Formats `v` in at most 8 characters, rounding outward (down for a minimum, up for a
/// maximum) so the range still covers `v`; returns the text and the value it denotes.
fn format_header_number(v: f64, round_up: bool) -> Option<(String, f64)> {
    for decimals in (0..=7).rev() {
        let scale = 10f64.powi(decimals);
        let r = if round_up {
            (v * scale).ceil() / scale
        } else {
            (v * scale).floor() / scale
        };
        let text = format!("{r:.prec$}", prec = decimals as usize);
        let text = if text == "-0" { "0".to_string() } else { text };
        if text.len() <= 8 {
            let parsed: f64 = text.parse().ok()?;
            return Some((text, parsed));
        }
    }
    None
}

/// Picks samples per record: the largest divisor of `n_samples` not above one second's worth
/// whose duration prints exactly in 8 characters; else one second (or the shortest exact length).
fn choose_record(sfreq: f64, n_samples: usize) -> Option<(usize, f64, String)> {
    let exact = |spr: usize| -> Option<(usize, f64, String)> {
        let d = spr as f64 / sfreq;
        for decimals in 0..=7 {
            let text = format!("{d:.decimals$}");
            if text.len() > 8 {
                break;
            }
            let parsed: f64 = text.parse().ok()?;
            // The reader computes sfreq = spr / duration: it must give back the same rate.
            if parsed > 0.0 && ((spr as f64 / parsed) - sfreq).abs() <= 1e-9 * sfreq {
                return Some((spr, parsed, text));
            }
        }
        None
    };
    let per_second = sfreq.floor().max(1.0) as usize;
    if n_samples > 0 {
        for spr in (1..=per_second.min(n_samples)).rev() {
            if n_samples.is_multiple_of(spr)
                && spr * 4 >= per_second.min(n_samples)
                && let Some(found) = exact(spr)
            {
                return Some(found);
            }
        }
    }
    (1..=per_second.max(1) * 10).rev().find_map(exact)
}

#[allow(clippy::too_many_arguments)]
fn build_header(
    info: &crate::recording::RecordingInfo,
    flavour: Flavour,
    n_records: usize,
    duration_text: &str,
    n_signals: usize,
    samples_per_record: usize,
    annotation_spr: usize,
    scalings: &[ChannelScaling],
) -> Vec<u8> {
    let mut h = Vec::with_capacity(256 * (n_signals + 1));
    let field = |h: &mut Vec<u8>, text: &str, len: usize| {
        let clean: String = text
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut bytes = clean.into_bytes();
        bytes.truncate(len);
        bytes.resize(len, b' ');
        h.extend_from_slice(&bytes);
    };
    match flavour {
        Flavour::Edf => field(&mut h, "0", 8),
        Flavour::Bdf => h.extend_from_slice(b"\xffBIOSEMI"),
    }
    let word = |s: Option<&str>| -> String {
        match s {
            Some(s) if !s.trim().is_empty() => s.trim().replace(' ', "_"),
            _ => "X".into(),
        }
    };
    let subject = &info.subject;
    let birth = subject
        .birth_date
        .map(|d| d.format("%d-%b-%Y").to_string().to_uppercase())
        .unwrap_or_else(|| "X".into());
    let patient = format!(
        "{} {} {} {}",
        word(subject.id.as_deref()),
        word(subject.sex.as_deref().map(|s| &s[..s.len().min(1)])),
        birth,
        word(subject.extra.get("name").map(String::as_str))
    );
    field(&mut h, &patient, 80);
    let start_date = info
        .meas_date
        .map(|d| d.format("%d-%b-%Y").to_string().to_uppercase())
        .unwrap_or_else(|| "X".into());
    field(&mut h, &format!("Startdate {start_date} X X neurodl"), 80);
    let (date, time) = match info.meas_date {
        Some(d) => (d.format("%d.%m.%y").to_string(), d.format("%H.%M.%S").to_string()),
        None => ("01.01.85".into(), "00.00.00".into()),
    };
    field(&mut h, &date, 8);
    field(&mut h, &time, 8);
    field(&mut h, &(256 * (n_signals + 1)).to_string(), 8);
    field(
        &mut h,
        match flavour {
            Flavour::Edf => "EDF+C",
            Flavour::Bdf => "BDF+C",
        },
        44,
    );
    field(&mut h, &n_records.to_string(), 8);
    field(&mut h, duration_text, 8);
    field(&mut h, &n_signals.to_string(), 4);

    let annotation_label = flavour.annotation_label();
    let (dig_lo, dig_hi) = flavour.digital_limits();
    let per_signal = |h: &mut Vec<u8>, len: usize, value: &dyn Fn(usize) -> String, annotation: &str| {
        for (c, _) in scalings.iter().enumerate() {
            field(h, &value(c), len);
        }
        field(h, annotation, len);
    };
    per_signal(&mut h, 16, &|c| info.channels[c].name.clone(), annotation_label);
    per_signal(&mut h, 80, &|_| String::new(), "");
    per_signal(&mut h, 8, &|c| scalings[c].unit.clone(), "");
    per_signal(&mut h, 8, &|c| scalings[c].pmin_text.clone(), "-1");
    per_signal(&mut h, 8, &|c| scalings[c].pmax_text.clone(), "1");
    per_signal(&mut h, 8, &|_| dig_lo.to_string(), &dig_lo.to_string());
    per_signal(&mut h, 8, &|_| dig_hi.to_string(), &dig_hi.to_string());
    per_signal(&mut h, 80, &|_| String::new(), "");
    per_signal(
        &mut h,
        8,
        &|_| samples_per_record.to_string(),
        &annotation_spr.to_string(),
    );
    per_signal(&mut h, 32, &|_| String::new(), "");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_numbers_round_outward_and_fit() {
        let (t, v) = format_header_number(-123.456789123, false).unwrap();
        assert!(t.len() <= 8 && v <= -123.456789123, "{t}");
        let (t, v) = format_header_number(3276.7999, true).unwrap();
        assert!(t.len() <= 8 && v >= 3276.7999, "{t}");
        assert!(format_header_number(1e12, true).is_none());
    }

    #[test]
    fn record_length_divides_the_recording() {
        assert_eq!(choose_record(160.0, 20000).unwrap().0, 160);
        let (spr, d, text) = choose_record(200.0, 2112).unwrap();
        assert_eq!((spr, d, text.as_str()), (192, 0.96, "0.96"));
        let (spr, _, _) = choose_record(128.0, 30504).unwrap();
        assert_eq!(30504 % spr, 0);
    }
}
