//! Lazy EDF/EDF+/BDF/BDF+ reader.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::mem::MaybeUninit;
use std::path::Path;

use ndarray::Array2;

use super::header::{self, Flavour, Header, parse_edf_plus_date};
use super::tal;
use crate::error::{Error, IoContext, Result};
use crate::recording::{
    Annotation, ChannelInfo, ChannelType, Format, RecordingInfo, RecordingReader, SubjectInfo,
    make_unique_names, volts_per_unit,
};

/// Records of a long read are read in chunks of about this many bytes, so it never
/// holds more than one chunk of raw bytes beside its output.
const CHUNK_BYTES: usize = 256 << 10;

/// Reads whose records span at most this many bytes are read whole and kept
/// for the next read (see `EdfReader::buf_records`).
const WHOLE_SPAN_BYTES: usize = 32 << 20;

/// MNE keeps the low 17 bits of stimulus channels (BioSemi's trigger and status bits).
const STIM_MASK: i64 = (1 << 17) - 1;

/// How to turn one signal's digital values into physical SI values.
#[derive(Debug, Clone, Copy)]
struct Scaling {
    /// Physical units per digital step.
    cal: f64,
    /// Physical value of digital 0.
    offset: f64,
    /// File unit to SI (1e-6 for µV).
    gain: f64,
    stim: bool,
}

impl Scaling {
    /// Same operation order as MNE (`(d * cal + offset) * gain`), so values agree to the last bit.
    #[inline]
    fn physical(&self, digital: i32) -> f64 {
        ((digital as f64) * self.cal + self.offset) * self.gain
    }
}

/// A data signal of the file (an entry of `RecordingInfo::channels`).
#[derive(Debug, Clone)]
struct DataSignal {
    /// Byte offset of the signal inside a data record.
    offset_in_record: usize,
    samples_per_record: usize,
    scaling: Scaling,
}

/// Lazy reader for EDF, EDF+ (continuous and discontinuous), BDF and BDF+ files.
///
/// Opening parses the header and every record's annotations (TALs); samples are
/// read per call to [`RecordingReader::read_segment`], only the data records
/// that cover the requested range.
///
/// Values follow MNE-Python's `read_raw_edf`/`read_raw_bdf`: physical value
/// `(digital × cal + offset) × unit_gain` with `cal = (pmax − pmin) / (dmax − dmin)`,
/// µV/mV converted to volts, channels named `Status`/`Trigger` (any case) typed
/// `stim` with MNE's 17-bit mask (BDF status channels keep their raw digital value),
/// annotation onsets relative to the first record's time-keeping TAL.
///
/// Channel types come from the EDF+ label convention `"<TYPE> <name>"` (e.g. `EOG left`
/// is `eog`); other labels are `eeg`, as in MNE. The name is kept whole.
///
/// Channels sampled more slowly than the fastest channel are put on the common
/// grid by linear interpolation (stimulus channels: sample-and-hold). MNE instead
/// FFT-resamples the whole loaded span, which it warns gives edge artefacts for
/// partial reads; neurodl's choice keeps every window independent of the others.
///
/// EDF+D (discontinuous) records are concatenated; annotation onsets are mapped
/// onto that concatenated time line, and each gap is marked with zero-duration
/// `BAD boundary` and `EDGE boundary` annotations, as MNE marks joins of
/// concatenated recordings.
pub struct EdfReader {
    info: RecordingInfo,
    file: File,
    flavour: Flavour,
    header_bytes: usize,
    record_bytes: usize,
    n_records: usize,
    /// The most samples per record among data channels: the common grid.
    max_spr: usize,
    signals: Vec<DataSignal>,
    /// Raw record bytes, kept between reads so its memory is allocated and touched once.
    buf: Vec<u8>,
    /// The records `buf` holds, when it holds the whole span of the last read: a
    /// later read within that span (the next block of channels of a streaming
    /// pipeline) decodes from memory instead of reading the file again.
    buf_records: std::ops::Range<usize>,
}

impl EdfReader {
    /// Opens `path`, parsing the header and annotations.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).at(path)?;
        let file_len = file.metadata().at(path)?.len() as usize;

        let mut fixed = vec![0u8; header::BLOCK.min(file_len)];
        file.read_exact(&mut fixed).at(path)?;
        // The signal count sits at bytes 252..256; read the whole header once we know it.
        let n_signals: usize = header::field_text(fixed.get(252..256).unwrap_or_default())
            .parse()
            .unwrap_or(0);
        let header_len = (header::BLOCK * (n_signals + 1)).min(file_len).max(fixed.len());
        let mut bytes = fixed;
        bytes.resize(header_len, 0);
        file.read_exact(&mut bytes[header::BLOCK.min(header_len)..])
            .at(path)?;
        let header = header::parse(path, &bytes)?;
        Self::from_header(path, file, file_len, header)
    }

    fn from_header(path: &Path, mut file: File, file_len: usize, header: Header) -> Result<Self> {
        let mut warnings = Vec::new();
        let flavour = header.flavour;
        let record_bytes = header.record_bytes();
        let data_bytes = file_len.saturating_sub(header.header_bytes);
        let full_records = data_bytes / record_bytes;
        let trailing = data_bytes % record_bytes;
        let n_records = match header.n_records {
            None if full_records == 0 && trailing > 0 => {
                return Err(Error::malformed(
                    path,
                    "header.n_records",
                    format!(
                        "is -1 (unknown) and the {data_bytes} data bytes do not fill one record of {record_bytes} bytes: \
                         samples_per_record or the file is wrong"
                    ),
                ));
            }
            None => {
                warnings.push(format!(
                    "header.n_records is -1 (recording not closed); {full_records} records inferred from the file size"
                ));
                full_records
            }
            Some(n) if n > full_records => {
                return Err(Error::malformed(
                    path,
                    "header.n_records",
                    format!(
                        "header says {n} data records of {record_bytes} bytes, but the file holds only {full_records} \
                         (+{trailing} bytes): the file is truncated"
                    ),
                ));
            }
            Some(n) if n < full_records => {
                return Err(Error::malformed(
                    path,
                    "header.n_records",
                    format!(
                        "header says {n} data records of {record_bytes} bytes, but the file holds {full_records}: \
                         record count disagrees with the file size"
                    ),
                ));
            }
            Some(n) => n,
        };
        if trailing != 0 {
            warnings.push(format!(
                "{trailing} bytes after the last full data record were ignored (incomplete record)"
            ));
        }

        let annotation_label = flavour.annotation_label();
        let is_annotation = |label: &str| label == "EDF Annotations" || label == "BDF Annotations";
        let annotation_signals: Vec<usize> = (0..header.signals.len())
            .filter(|&i| is_annotation(&header.signals[i].label))
            .collect();
        let data_indices: Vec<usize> = (0..header.signals.len())
            .filter(|&i| !is_annotation(&header.signals[i].label))
            .collect();
        if !data_indices.is_empty() && header.record_duration <= 0.0 {
            return Err(Error::malformed(
                path,
                "header.record_duration",
                format!(
                    "{} s; data signals need a positive record duration (sampling rate would be infinite)",
                    header.record_duration
                ),
            ));
        }
        if annotation_signals
            .iter()
            .any(|&i| header.signals[i].label != annotation_label)
        {
            warnings.push(format!(
                "annotation signal labelled `{}` in a {} file",
                if flavour == Flavour::Edf {
                    "BDF Annotations"
                } else {
                    "EDF Annotations"
                },
                if flavour == Flavour::Edf { "EDF" } else { "BDF" }
            ));
        }

        let mut offsets = Vec::with_capacity(header.signals.len());
        let mut acc = 0;
        for s in &header.signals {
            offsets.push(acc);
            acc += s.samples_per_record * flavour.bytes_per_sample();
        }

        // Channel names, made unique the way MNE does (`name-0`, `name-1`, ...).
        let mut names: Vec<String> = data_indices
            .iter()
            .map(|&i| header.signals[i].label.clone())
            .collect();
        let duplicated = make_unique_names(&mut names).map_err(|stem| {
            Error::malformed(
                path,
                "header.label",
                format!("too many signals labelled `{stem}` to give each a unique name"),
            )
        })?;
        for stem in duplicated {
            warnings.push(format!(
                "channel name `{stem}` is repeated; copies renamed `{stem}-0`, `{stem}-1`, ... (as MNE)"
            ));
        }

        let (dig_lo, dig_hi) = flavour.digital_limits();
        let stim_flags: Vec<bool> = names
            .iter()
            .map(|n| matches!(n.to_ascii_lowercase().as_str(), "status" | "trigger"))
            .collect();
        let mut channels = Vec::with_capacity(data_indices.len());
        let mut signals = Vec::with_capacity(data_indices.len());
        for (k, &i) in data_indices.iter().enumerate() {
            let s = &header.signals[i];
            let stim = stim_flags[k];
            let mut digital_range = s.digital_max - s.digital_min;
            if digital_range == 0.0 {
                warnings.push(format!(
                    "signal[{i}] `{}`: digital_min equals digital_max ({}); scaling factor undefined, range taken as 1 (as MNE)",
                    s.label, s.digital_min
                ));
                digital_range = 1.0;
            }
            let mut physical_range = s.physical_max - s.physical_min;
            if physical_range == 0.0 {
                warnings.push(format!(
                    "signal[{i}] `{}`: physical_min equals physical_max ({}); range taken as 1 (as MNE)",
                    s.label, s.physical_min
                ));
                physical_range = 1.0;
            }
            if s.digital_min < dig_lo as f64 || s.digital_max > dig_hi as f64 {
                warnings.push(format!(
                    "signal[{i}] `{}`: digital range {}..{} exceeds the format's {dig_lo}..{dig_hi}",
                    s.label, s.digital_min, s.digital_max
                ));
            }
            let voltage_gain = volts_per_unit(&s.physical_dimension);
            let kind = if stim {
                ChannelType::Stim
            } else {
                type_from_label(&s.label)
            };
            let (cal, offset) = if stim && flavour == Flavour::Bdf {
                (1.0, 0.0)
            } else {
                let cal = physical_range / digital_range;
                (cal, s.physical_min - s.digital_min * cal)
            };
            let (gain, unit) = match (stim, voltage_gain) {
                (true, _) => (1.0, String::new()),
                (false, Some(g)) => (g, "V".to_string()),
                (false, None) => (1.0, s.physical_dimension.clone()),
            };
            channels.push(ChannelInfo {
                name: names[k].clone(),
                kind,
                unit,
                sfreq: s.samples_per_record as f64 / header.record_duration,
                position: None,
            });
            signals.push(DataSignal {
                offset_in_record: offsets[i],
                samples_per_record: s.samples_per_record,
                scaling: Scaling {
                    cal,
                    offset,
                    gain,
                    stim,
                },
            });
        }

        // The common grid is the fastest non-stimulus channel, as in MNE.
        let max_spr = signals
            .iter()
            .filter(|s| !s.scaling.stim)
            .map(|s| s.samples_per_record)
            .max()
            .or_else(|| signals.iter().map(|s| s.samples_per_record).max())
            .unwrap_or(1);
        let sfreq = if data_indices.is_empty() {
            1.0
        } else {
            max_spr as f64 / header.record_duration
        };
        let n_samples = if data_indices.is_empty() {
            0
        } else {
            n_records * max_spr
        };

        let mut annotations = Vec::new();
        let mut extra = std::collections::BTreeMap::new();
        if !annotation_signals.is_empty() {
            let (anns, record_onsets, lossy) =
                read_annotations(path, &mut file, &header, &offsets, &annotation_signals, n_records)?;
            if lossy {
                warnings.push("some annotation text was not valid UTF-8 and was decoded lossily".into());
            }
            annotations = place_annotations(path, &header, anns, &record_onsets, &mut warnings)?;
        }
        annotations.sort_by(|a: &Annotation, b| a.onset.total_cmp(&b.onset));

        let format = match (flavour, header.is_plus()) {
            (Flavour::Edf, false) => Format::Edf,
            (Flavour::Edf, true) => Format::EdfPlus,
            (Flavour::Bdf, false) => Format::Bdf,
            (Flavour::Bdf, true) => Format::BdfPlus,
        };
        extra.insert("edf.patient_id".into(), header.patient_id.clone());
        extra.insert("edf.recording_id".into(), header.recording_id.clone());
        extra.insert("edf.reserved".into(), header.reserved.clone());
        extra.insert("edf.record_duration_s".into(), header.record_duration.to_string());
        extra.insert("edf.n_records".into(), n_records.to_string());
        for (k, &i) in data_indices.iter().enumerate() {
            let s = &header.signals[i];
            if !s.prefiltering.is_empty() {
                extra.insert(format!("edf.prefiltering.{}", names[k]), s.prefiltering.clone());
            }
            if !s.transducer.is_empty() {
                extra.insert(format!("edf.transducer.{}", names[k]), s.transducer.clone());
            }
        }

        let info = RecordingInfo {
            format,
            path: path.to_path_buf(),
            channels,
            sfreq,
            n_samples,
            meas_date: header.meas_date(),
            subject: subject_from_patient_field(&header.patient_id, header.is_plus()),
            session: None,
            annotations,
            extra,
            warnings,
        };
        Ok(EdfReader {
            info,
            file,
            flavour,
            header_bytes: header.header_bytes,
            record_bytes,
            n_records,
            max_spr,
            signals,
            buf: Vec::new(),
            buf_records: 0..0,
        })
    }

    /// Number of data records in the file.
    pub fn n_records(&self) -> usize {
        self.n_records
    }

    /// Reads records `first..first + count` into `buf`, which is resized (never shrunk
    /// in capacity) to exactly their bytes.
    fn read_records(&mut self, first: usize, count: usize, buf: &mut Vec<u8>) -> Result<()> {
        let path = &self.info.path;
        buf.resize(count * self.record_bytes, 0);
        let offset = (self.header_bytes + first * self.record_bytes) as u64;
        self.file.seek(SeekFrom::Start(offset)).at(path)?;
        self.file.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::malformed(
                    path,
                    "data records",
                    format!("file ended inside data records {first}..{}", first + count),
                )
            } else {
                Error::io(path, e)
            }
        })
    }
}

impl RecordingReader for EdfReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }

    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        let picks = self.info.check_segment(start, stop, picks)?;
        let n = stop - start;
        if n == 0 || picks.is_empty() {
            return Ok(Array2::zeros((picks.len(), n)));
        }
        // Not zero-filled: zeroing a full read's output cost as much as decoding it.
        // Every element is written below (see the SAFETY note at `assume_init`).
        let mut out = Array2::<f64>::uninit((picks.len(), n));
        let max_spr = self.max_spr;
        let first_record = start / max_spr;
        // One record of look-ahead lets slower channels interpolate up to the last requested sample.
        let end_record = ((stop - 1) / max_spr + 2).min(self.n_records);
        let bps = self.flavour.bytes_per_sample();
        let flavour = self.flavour;
        let signals: Vec<DataSignal> = picks.iter().map(|&p| self.signals[p].clone()).collect();
        let mut native: Vec<Vec<f64>> = signals
            .iter()
            .map(|s| {
                if s.samples_per_record == max_spr {
                    Vec::new()
                } else {
                    Vec::with_capacity((end_record - first_record) * s.samples_per_record)
                }
            })
            .collect();

        let out_slice = out
            .as_slice_mut()
            .expect("freshly allocated arrays are contiguous");
        let span = end_record - first_record;
        // A span up to WHOLE_SPAN_BYTES is read in one go and kept; longer ones are
        // streamed through a buffer of CHUNK_BYTES.
        let whole = span * self.record_bytes <= WHOLE_SPAN_BYTES;
        let records_per_chunk = if whole {
            span
        } else {
            (CHUNK_BYTES / self.record_bytes).max(1)
        };
        let mut buf = std::mem::take(&mut self.buf);
        let mut record = first_record;
        while record < end_record {
            let count = records_per_chunk.min(end_record - record);
            let cached = self.buf_records.start <= record && record + count <= self.buf_records.end;
            let bytes = if cached {
                let from = (record - self.buf_records.start) * self.record_bytes;
                &buf[from..from + count * self.record_bytes]
            } else {
                self.buf_records = 0..0;
                self.read_records(record, count, &mut buf)?;
                if whole {
                    self.buf_records = record..record + count;
                }
                &buf[..]
            };
            for (k, rec_bytes) in bytes.chunks_exact(self.record_bytes).enumerate() {
                let r = record + k;
                let rec_start = r * max_spr;
                // Overlap of this record with [start, stop) on the common grid.
                let lo = start.max(rec_start);
                let hi = stop.min(rec_start + max_spr);
                for (i, s) in signals.iter().enumerate() {
                    let sig_bytes =
                        &rec_bytes[s.offset_in_record..s.offset_in_record + s.samples_per_record * bps];
                    if s.samples_per_record == max_spr {
                        if lo >= hi {
                            continue;
                        }
                        let src = &sig_bytes[(lo - rec_start) * bps..(hi - rec_start) * bps];
                        let dst = &mut out_slice[i * n + (lo - start)..i * n + (hi - start)];
                        decode_into(flavour, s.scaling, src, dst);
                    } else {
                        let values = &mut native[i];
                        let old = values.len();
                        values.reserve(s.samples_per_record);
                        decode_into(
                            flavour,
                            s.scaling,
                            sig_bytes,
                            &mut values.spare_capacity_mut()[..s.samples_per_record],
                        );
                        // SAFETY: `decode_into` initialised these `samples_per_record` elements.
                        unsafe { values.set_len(old + s.samples_per_record) };
                    }
                }
            }
            record += count;
        }
        self.buf = buf;

        for (i, s) in signals.iter().enumerate() {
            if s.samples_per_record == max_spr {
                continue;
            }
            let values = &native[i];
            let base = (first_record * s.samples_per_record) as f64;
            let ratio = s.samples_per_record as f64 / max_spr as f64;
            let row = &mut out_slice[i * n..(i + 1) * n];
            for (j, v) in row.iter_mut().enumerate() {
                let x = (start + j) as f64 * ratio - base;
                let i0 = (x.floor() as usize).min(values.len() - 1);
                v.write(if s.scaling.stim || i0 + 1 >= values.len() {
                    values[i0]
                } else {
                    let frac = x - i0 as f64;
                    values[i0] + (values[i0 + 1] - values[i0]) * frac
                });
            }
        }
        // SAFETY: every row was fully written: full-rate channels get the overlap of each
        // record in `first_record..end_record` with `start..stop`, and those records cover
        // the whole range; slower channels are written sample by sample just above.
        Ok(unsafe { out.assume_init() })
    }
}

/// Decodes little-endian 16-bit (EDF) or 24-bit (BDF) samples into physical values.
///
/// Writes every element of `dst` (callers rely on this to skip zero-filling outputs).
fn decode_into(flavour: Flavour, scaling: Scaling, src: &[u8], dst: &mut [MaybeUninit<f64>]) {
    debug_assert_eq!(src.len(), dst.len() * flavour.bytes_per_sample());
    // One loop per case, with no branch inside, so the compiler vectorises them.
    match (flavour, scaling.stim) {
        (Flavour::Edf, false) => decode_with(src, dst, edf_digital, |d| scaling.physical(d)),
        (Flavour::Bdf, false) => decode_with(src, dst, bdf_digital, |d| scaling.physical(d)),
        (Flavour::Edf, true) => decode_with(src, dst, edf_digital, |d| stim_code(scaling.physical(d))),
        (Flavour::Bdf, true) => decode_with(src, dst, bdf_digital, |d| stim_code(scaling.physical(d))),
    }
}

#[inline(always)]
fn decode_with<const N: usize>(
    src: &[u8],
    dst: &mut [MaybeUninit<f64>],
    digital: impl Fn(&[u8; N]) -> i32,
    physical: impl Fn(i32) -> f64,
) {
    let (chunks, _) = src.as_chunks::<N>();
    for (d, b) in dst.iter_mut().zip(chunks) {
        d.write(physical(digital(b)));
    }
}

#[inline(always)]
fn edf_digital(b: &[u8; 2]) -> i32 {
    i16::from_le_bytes(*b) as i32
}

#[inline(always)]
fn bdf_digital(b: &[u8; 3]) -> i32 {
    // Sign-extend 24 bits by placing them in the top of an i32.
    i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8
}

#[inline(always)]
fn stim_code(v: f64) -> f64 {
    ((v as i64) & STIM_MASK) as f64
}

/// Reads the TALs of every record; returns raw annotations, record onsets and the lossy flag.
fn read_annotations(
    path: &Path,
    file: &mut File,
    header: &Header,
    offsets: &[usize],
    annotation_signals: &[usize],
    n_records: usize,
) -> Result<(Vec<tal::RawAnnotation>, Vec<Option<f64>>, bool)> {
    let bps = header.flavour.bytes_per_sample();
    let record_bytes = header.record_bytes();
    let mut anns = Vec::new();
    let mut onsets = Vec::with_capacity(n_records);
    let mut lossy = false;
    // Only the annotation bytes of each record are read: on typical files they are
    // under 1 % of the data, and reading whole records here would double the I/O of
    // a full read.
    let mut buf = Vec::new();
    for r in 0..n_records {
        let mut record_onset = None;
        for (n, &sig) in annotation_signals.iter().enumerate() {
            let len = header.signals[sig].samples_per_record * bps;
            buf.resize(len, 0);
            let at = header.header_bytes + r * record_bytes + offsets[sig];
            file.seek(SeekFrom::Start(at as u64)).at(path)?;
            file.read_exact(&mut buf).at(path)?;
            let tals = tal::parse_record(path, r, &buf)?;
            lossy |= tals.lossy;
            if n == 0 {
                record_onset = tals.record_onset;
            }
            anns.extend(tals.annotations);
        }
        onsets.push(record_onset);
    }
    Ok((anns, onsets, lossy))
}

/// Converts file-relative onsets to seconds from the first sample; for EDF+D, onto the
/// concatenated time line with boundary markers at each gap.
fn place_annotations(
    path: &Path,
    header: &Header,
    raw: Vec<tal::RawAnnotation>,
    record_onsets: &[Option<f64>],
    warnings: &mut Vec<String>,
) -> Result<Vec<Annotation>> {
    let first_onset = record_onsets.first().copied().flatten().unwrap_or(0.0);
    let dur = header.record_duration;
    if !header.is_discontinuous() {
        // A continuous file whose records do not follow each other is suspicious but readable.
        if let Some((r, t)) = record_onsets.iter().enumerate().find_map(|(r, t)| {
            t.filter(|t| (t - first_onset - r as f64 * dur).abs() > 1e-3)
                .map(|t| (r, t))
        }) {
            warnings.push(format!(
                "record {r} starts at {t} s, not {} s, although the file is marked continuous",
                first_onset + r as f64 * dur
            ));
        }
        return Ok(raw
            .into_iter()
            .map(|a| Annotation {
                onset: a.onset - first_onset,
                duration: a.duration,
                description: a.description,
            })
            .collect());
    }

    let onsets: Vec<f64> = record_onsets
        .iter()
        .enumerate()
        .map(|(r, t)| {
            t.ok_or_else(|| {
                Error::malformed(
                    path,
                    format!("annotations (data record {r})"),
                    "EDF+D record has no time-keeping TAL, so its start time is unknown",
                )
            })
        })
        .collect::<Result<_>>()?;
    if let Some(r) = (1..onsets.len()).find(|&r| onsets[r] < onsets[r - 1] + dur - 1e-9) {
        return Err(Error::malformed(
            path,
            format!("annotations (data record {r})"),
            format!(
                "EDF+D record starts at {} s, before the previous record ends ({} s)",
                onsets[r],
                onsets[r - 1] + dur
            ),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in 1..onsets.len() {
        if onsets[r] > onsets[r - 1] + dur + 1e-9 {
            for description in ["BAD boundary", "EDGE boundary"] {
                out.push(Annotation {
                    onset: r as f64 * dur,
                    duration: 0.0,
                    description: description.into(),
                });
            }
        }
    }
    for a in raw {
        // The last record starting at or before the onset holds it; an onset inside a gap
        // is moved to the start of the next record.
        let r = onsets.partition_point(|&t| t <= a.onset).saturating_sub(1);
        let within = (a.onset - onsets[r]).max(0.0);
        let onset = if within > dur && r + 1 < onsets.len() {
            (r + 1) as f64 * dur
        } else {
            r as f64 * dur + within
        };
        out.push(Annotation {
            onset,
            duration: a.duration,
            description: a.description,
        });
    }
    Ok(out)
}

/// Channel type from the EDF+ label convention `"<TYPE> <name>"`; `eeg` otherwise.
fn type_from_label(label: &str) -> ChannelType {
    let Some((prefix, _)) = label.split_once(' ') else {
        return ChannelType::Eeg;
    };
    match prefix.to_ascii_uppercase().as_str() {
        "EOG" => ChannelType::Eog,
        "EMG" => ChannelType::Emg,
        "ECG" | "EKG" => ChannelType::Ecg,
        "ECOG" => ChannelType::Ecog,
        "SEEG" => ChannelType::Seeg,
        "RESP" => ChannelType::Resp,
        "MISC" | "TEMP" | "SAO2" | "BIO" => ChannelType::Misc,
        _ => ChannelType::Eeg,
    }
}

/// EDF+ patient field `code sex birthdate name [extra]` (`X` = unknown); plain EDF: free text id.
fn subject_from_patient_field(field: &str, plus: bool) -> SubjectInfo {
    let known = |s: &str| (!s.is_empty() && s != "X").then(|| s.replace('_', " "));
    let parts: Vec<&str> = field.split(' ').filter(|p| !p.is_empty()).collect();
    let mut subject = SubjectInfo::default();
    if plus && parts.len() >= 4 {
        subject.id = known(parts[0]);
        subject.sex = known(parts[1]);
        subject.birth_date = parse_edf_plus_date(parts[2]);
        if let Some(name) = known(parts[3]) {
            subject.extra.insert("name".into(), name);
        }
    } else if !field.is_empty() {
        subject.id = Some(field.to_string());
    }
    subject
}
