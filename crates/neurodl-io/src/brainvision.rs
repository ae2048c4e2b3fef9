//! Brain Products BrainVision recordings: a `.vhdr` text header, a `.vmrk`
//! marker file and a binary data file.
//!
//! The reader parses the header and markers when it opens, checks that the
//! data file holds exactly the samples the header announces, and then reads
//! samples lazily: a window of a multiplexed file is one seek and one read per
//! block of at most [`MAX_BLOCK_BYTES`]; a window of a vectorized file is one
//! seek and read per picked channel.
//!
//! # Parity with MNE-Python
//! Channel names, types, units, scaling, `meas_date` and annotations follow
//! `mne.io.read_raw_brainvision` (MNE 1.13) with its default arguments, quirks
//! included where they change results, because downstream code is validated
//! against MNE:
//!
//! * a channel whose unit is not exactly `V`, `mV`, `µV` (U+00B5), `uV` or `nV`
//!   becomes `misc` and is scaled by MNE's table (`µS` → S, `C` → °C, unknown
//!   units by 1); so does a channel whose `[Coordinates]` entry is `0,0,0`;
//! * channels named `HEOGL`, `HEOGR` or `VEOGb` are `eog`, one named `STI 014`
//!   is `stim`, everything else is `eeg`;
//! * positions come from `[Coordinates]` (radius 1 means a 95 mm sphere,
//!   otherwise millimetres) and are kept for `eeg` channels only;
//! * the first marker is dropped when it is a `New Segment` (it only carries
//!   the date); descriptions are `"<type>/<description>"`; onsets are
//!   `(position - 1) / sfreq`; markers outside the recording are dropped and
//!   ones that straddle its edges are clipped, on MNE's microsecond grid.
//!
//! Where MNE would silently guess (a data file that is not a whole number of
//! samples, a `DataPoints` that disagrees with the file, a marker duration that
//! is not a number, a missing marker file) this reader returns an error instead.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use ndarray::Array2;

use crate::error::{Error, IoContext, Result};
use crate::recording::{
    Annotation, ChannelInfo, ChannelType, Format, RecordingInfo, RecordingReader, SubjectInfo,
};

/// Largest buffer one read of a multiplexed file uses. Big enough that a full
/// read is I/O-bound, small enough that a full read of a large file does not
/// hold a second copy of it in memory.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;

/// Bytes of a multiplexed block decoded at a time, sized to stay in a core's L2 cache.
const DECODE_TILE_BYTES: usize = 64 << 10;

/// Channel names MNE types as EOG by default (`read_raw_brainvision(eog=...)`).
const DEFAULT_EOG_NAMES: [&str; 3] = ["HEOGL", "HEOGR", "VEOGb"];

/// The only unit spellings MNE treats as voltages; anything else makes a channel `misc`.
const VOLTAGE_UNITS: [&str; 5] = ["V", "mV", "µV", "uV", "nV"];

/// MNE's radius for "idealised" coordinates (radius 1), in millimetres.
const IDEAL_HEAD_RADIUS_MM: f64 = 95.0;

/// Section names, as the header spells them (compared case-insensitively).
const COMMON: &str = "Common Infos";
const BINARY: &str = "Binary Infos";
const CHANNELS: &str = "Channel Infos";
const COORDINATES: &str = "Coordinates";
const MARKERS: &str = "Marker Infos";

/// How one sample is stored in the data file (`[Binary Infos] BinaryFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleFormat {
    Int16,
    Int32,
    Float32,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::Int16 => 2,
            SampleFormat::Int32 | SampleFormat::Float32 => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SampleFormat::Int16 => "INT_16",
            SampleFormat::Int32 => "INT_32",
            SampleFormat::Float32 => "IEEE_FLOAT_32",
        }
    }
}

/// Sample order in the data file (`[Common Infos] DataOrientation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orientation {
    /// Sample-major: all channels of sample 0, then all of sample 1...
    Multiplexed,
    /// Channel-major: all samples of channel 0, then all of channel 1...
    Vectorized,
}

/// Lazy reader for a BrainVision `.vhdr` recording.
///
/// [`BrainVisionReader::open`] parses the header and markers and checks the
/// data file's size; samples are read by [`RecordingReader::read_segment`].
#[derive(Debug)]
pub struct BrainVisionReader {
    info: RecordingInfo,
    data_path: PathBuf,
    data: File,
    format: SampleFormat,
    orientation: Orientation,
    /// Per channel: file value × scale = value in [`ChannelInfo::unit`].
    scales: Vec<f64>,
}

impl BrainVisionReader {
    /// Parses the `.vhdr` header at `path` and the marker file it names, and
    /// opens the data file it names (both relative to the header's folder).
    ///
    /// Fails, naming the file and header field, when a companion file is
    /// missing, a header value is invalid, the channel list disagrees with
    /// `NumberOfChannels`, or the data file is not exactly the size the header
    /// implies.
    pub fn open(path: &Path) -> Result<Self> {
        let header = parse_header(path)?;
        let dir = path.parent().unwrap_or(Path::new(""));

        let data_path = companion_path(path, &header.common, "DataFile", dir)?
            .ok_or_else(|| Error::malformed(path, format!("[{COMMON}] DataFile"), "the key is empty"))?;
        let data = open_companion(path, "DataFile", &data_path)?;
        let n_samples = count_samples(path, &header, &data_path, &data)?;

        let marker_path = locate_marker_file(path, &header.common, dir)?;
        let markers = match &marker_path {
            Some(p) => read_markers(p)?,
            None => MarkerFile::default(),
        };
        let annotations = markers_to_annotations(&markers.markers, header.sfreq, n_samples);

        let mut extra = BTreeMap::new();
        extra.insert(
            "brainvision.data_file".to_owned(),
            data_path.display().to_string(),
        );
        if let Some(p) = &marker_path {
            extra.insert("brainvision.marker_file".to_owned(), p.display().to_string());
        }
        extra.insert(
            "brainvision.binary_format".to_owned(),
            header.format.name().to_owned(),
        );
        extra.insert(
            "brainvision.data_orientation".to_owned(),
            match header.orientation {
                Orientation::Multiplexed => "MULTIPLEXED",
                Orientation::Vectorized => "VECTORIZED",
            }
            .to_owned(),
        );

        let channels = header
            .channels
            .iter()
            .map(|c| ChannelInfo {
                name: c.name.clone(),
                kind: c.kind,
                unit: c.unit.clone(),
                sfreq: header.sfreq,
                position: c.position,
            })
            .collect();
        let info = RecordingInfo {
            format: Format::BrainVision,
            path: path.to_path_buf(),
            channels,
            sfreq: header.sfreq,
            n_samples,
            meas_date: markers.meas_date,
            subject: SubjectInfo::default(),
            session: None,
            annotations,
            extra,
            warnings: Vec::new(),
        };
        Ok(BrainVisionReader {
            info,
            data_path,
            data,
            format: header.format,
            orientation: header.orientation,
            scales: header.channels.iter().map(|c| c.scale).collect(),
        })
    }

    /// Reads `len` bytes at `offset` of the data file into `buf`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.data.seek(SeekFrom::Start(offset)).at(&self.data_path)?;
        self.data.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::malformed(
                    &self.data_path,
                    "data",
                    format!(
                        "the file ends before byte {}; it was shorter when the recording was opened \
                         (truncated since?)",
                        offset + buf.len() as u64
                    ),
                )
            } else {
                Error::io(&self.data_path, e)
            }
        })
    }
}

impl RecordingReader for BrainVisionReader {
    fn info(&self) -> &RecordingInfo {
        &self.info
    }

    fn read_segment(&mut self, start: usize, stop: usize, picks: Option<&[usize]>) -> Result<Array2<f64>> {
        let picks = self.info.check_segment(start, stop, picks)?;
        let n = stop - start;
        let mut out = Array2::<f64>::zeros((picks.len(), n));
        if n == 0 || picks.is_empty() {
            return Ok(out);
        }
        let bps = self.format.bytes();
        let n_channels = self.scales.len();
        // `out` is freshly allocated in standard layout, so it is one contiguous slice.
        let out_slice = out
            .as_slice_mut()
            .expect("a freshly allocated Array2 is contiguous");
        match self.orientation {
            Orientation::Multiplexed => {
                // One read per block of whole sample rows, then each picked channel is
                // gathered from the block into its contiguous output row.
                let row_bytes = n_channels * bps;
                let rows_per_block = (MAX_BLOCK_BYTES / row_bytes).max(1);
                let mut buf = vec![0u8; rows_per_block.min(n) * row_bytes];
                let mut done = 0;
                while done < n {
                    let rows = rows_per_block.min(n - done);
                    let block = &mut buf[..rows * row_bytes];
                    self.read_at((start + done) as u64 * row_bytes as u64, block)?;
                    // Gather in tiles that stay in cache while every pick walks them:
                    // walking the whole block once per pick would stream it from memory
                    // picks.len() times.
                    let tile_rows = (DECODE_TILE_BYTES / row_bytes).max(1);
                    for (t, tile) in block.chunks(tile_rows * row_bytes).enumerate() {
                        let first = done + t * tile_rows;
                        let count = tile.len() / row_bytes;
                        for (pi, &ch) in picks.iter().enumerate() {
                            let dst = &mut out_slice[pi * n + first..pi * n + first + count];
                            decode(self.format, &tile[ch * bps..], row_bytes, self.scales[ch], dst);
                        }
                    }
                    done += rows;
                }
            }
            Orientation::Vectorized => {
                // Each channel's samples are contiguous: one seek per channel (and block).
                let n_total = self.info.n_samples as u64;
                let per_block = (MAX_BLOCK_BYTES / bps).min(n);
                let mut buf = vec![0u8; per_block * bps];
                for (pi, &ch) in picks.iter().enumerate() {
                    let mut done = 0;
                    while done < n {
                        let count = per_block.min(n - done);
                        let block = &mut buf[..count * bps];
                        let first = ch as u64 * n_total + (start + done) as u64;
                        self.read_at(first * bps as u64, block)?;
                        let dst = &mut out_slice[pi * n + done..pi * n + done + count];
                        decode(self.format, block, bps, self.scales[ch], dst);
                        done += count;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Decodes `dst.len()` little-endian samples from `src`, the first at its
/// start and each next one `stride` bytes further, multiplied by `scale`
/// (the same float64 product MNE computes).
fn decode(format: SampleFormat, src: &[u8], stride: usize, scale: f64, dst: &mut [f64]) {
    // One loop per format, so each sees a fixed-size load it can optimise.
    fn run<const N: usize>(src: &[u8], stride: usize, dst: &mut [f64], f: impl Fn([u8; N]) -> f64) {
        for (d, chunk) in dst.iter_mut().zip(src.chunks(stride)) {
            // Callers size `src` to hold every sample; a short chunk cannot occur.
            if let Some(bytes) = chunk.first_chunk::<N>() {
                *d = f(*bytes);
            }
        }
    }
    match format {
        SampleFormat::Int16 => run(src, stride, dst, |b| f64::from(i16::from_le_bytes(b)) * scale),
        SampleFormat::Int32 => run(src, stride, dst, |b| f64::from(i32::from_le_bytes(b)) * scale),
        SampleFormat::Float32 => run(src, stride, dst, |b| f64::from(f32::from_le_bytes(b)) * scale),
    }
}

// ---------------------------------------------------------------------------
// Text decoding and the INI-like layout shared by `.vhdr` and `.vmrk`.
// ---------------------------------------------------------------------------

/// Splits a file into its first line (the format's signature, ASCII by
/// definition) and the rest, decoded with the file's `Codepage`.
///
/// Like MNE, a file that does not decode with its declared codepage (or with
/// UTF-8, the default) is read as Latin-1, which never fails: old recorders
/// wrote Windows-1252 text without saying so.
fn decode_file(path: &Path, bytes: &[u8]) -> Result<(String, String)> {
    let (first, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let first = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first);
    let first: String = first
        .iter()
        .filter(|b| b.is_ascii())
        .map(|&b| b as char)
        .collect();

    let codepage = find_codepage(rest);
    let text = match codepage.as_deref().map(|c| c.to_ascii_lowercase()) {
        None => decode_utf8_or_latin1(rest),
        Some(c) if c == "utf-8" || c == "utf8" => decode_utf8_or_latin1(rest),
        Some(c) if c == "ansi" || c == "cp1252" || c == "windows-1252" => {
            decode_cp1252(rest).unwrap_or_else(|| decode_latin1(rest))
        }
        Some(c) if c == "latin-1" || c == "latin1" || c == "iso-8859-1" => decode_latin1(rest),
        Some(_) => {
            return Err(Error::unsupported(
                path,
                format!(
                    "Codepage `{}` (neurodl reads UTF-8, ANSI/Windows-1252 and Latin-1)",
                    codepage.unwrap_or_default()
                ),
            ));
        }
    };
    Ok((first.trim().to_owned(), text))
}

/// The value of the first `Codepage=` line, looked up in the raw bytes since
/// the codepage is needed to decode them.
fn find_codepage(bytes: &[u8]) -> Option<String> {
    bytes.split(|&b| b == b'\n').find_map(|line| {
        let line = line.trim_ascii();
        let (key, value) = line.split_at(line.iter().position(|&b| b == b'=')?);
        if key.trim_ascii().eq_ignore_ascii_case(b"codepage") {
            let value: String = value[1..]
                .iter()
                .filter(|b| b.is_ascii())
                .map(|&b| b as char)
                .collect();
            Some(value.trim().to_owned())
        } else {
            None
        }
    })
}

fn decode_utf8_or_latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => decode_latin1(bytes),
    }
}

fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Windows-1252, or `None` at one of its five undefined bytes (Python's
/// `cp1252` codec fails there too, and MNE then falls back to Latin-1).
fn decode_cp1252(bytes: &[u8]) -> Option<String> {
    const HIGH: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
        0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0, 0x017E, 0x0178,
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => match HIGH[usize::from(b - 0x80)] {
                0 => None,
                cp => char::from_u32(u32::from(cp)),
            },
            _ => Some(b as char),
        })
        .collect()
}

/// One `key=value` line of a section.
#[derive(Debug)]
struct Entry {
    key: String,
    /// The value with surrounding whitespace removed.
    value: String,
    /// The whole line, untrimmed except for its line ending.
    raw: String,
    line: usize,
}

/// One `[Name]` section and its entries, in file order.
#[derive(Debug, Default)]
struct Section {
    entries: Vec<Entry>,
}

impl Section {
    /// The value of `key` (case-insensitive, as MNE's `configparser` compares keys).
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| e.value.as_str())
    }
}

/// How forgiving [`parse_sections`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The `.vhdr`, which MNE reads with Python's `configparser`: a line before
    /// the first section, a line without `=` or a repeated key in a section we
    /// read is an error, since it would leave a value ambiguous.
    Strict,
    /// The `.vmrk`, which MNE scans line by line for `Mk<n>=`: other lines are
    /// ignored and repeated marker numbers are all kept.
    Lenient,
}

/// Parses the sections of `text` whose names are in `wanted` (case-insensitive).
///
/// `first_line` is the 1-based number of `text`'s first line in the file, for
/// error messages. Parsing stops at `[Comment]`, which holds free text
/// (amplifier settings tables) rather than keys. Lines in other sections are
/// skipped unread, so an exotic section cannot make a valid file fail.
fn parse_sections(
    path: &Path,
    text: &str,
    first_line: usize,
    wanted: &[&'static str],
    layout: Layout,
) -> Result<BTreeMap<&'static str, Section>> {
    let strict = layout == Layout::Strict;
    let mut out: BTreeMap<&'static str, Section> = BTreeMap::new();
    let mut current: Option<&'static str> = None;
    let mut in_any_section = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = first_line + i;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            let name = line[1..line.len() - 1].trim();
            if name.eq_ignore_ascii_case("Comment") {
                break;
            }
            in_any_section = true;
            current = wanted.iter().find(|w| w.eq_ignore_ascii_case(name)).copied();
            if let Some(sec) = current
                && out.insert(sec, Section::default()).is_some()
            {
                return Err(Error::malformed(
                    path,
                    format!("[{sec}]"),
                    format!("the section appears twice (again on line {line_no})"),
                ));
            }
            continue;
        }
        if !in_any_section && strict {
            return Err(Error::malformed(
                path,
                format!("line {line_no}"),
                format!("`{}` comes before any [section]", shorten(line)),
            ));
        }
        let Some(sec) = current else { continue };
        let Some((key, value)) = line.split_once('=') else {
            if !strict {
                continue;
            }
            return Err(Error::malformed(
                path,
                format!("[{sec}] line {line_no}"),
                format!("expected `key=value`, found `{}`", shorten(line)),
            ));
        };
        let key = key.trim();
        let Some(section) = out.get_mut(sec) else { continue };
        if strict && section.get(key).is_some() {
            return Err(Error::malformed(
                path,
                format!("[{sec}] {key}"),
                format!("the key appears twice (again on line {line_no})"),
            ));
        }
        section.entries.push(Entry {
            key: key.to_owned(),
            value: value.trim().to_owned(),
            raw: raw.to_owned(),
            line: line_no,
        });
    }
    Ok(out)
}

/// A value quoted in an error message, cut so a binary blob cannot flood it.
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// True when `line` is a BrainVision signature for a file of `kind`
/// (`Header` or `Marker`): the version 1.0/2.0 "Data Exchange" lines MNE
/// recognises, in their historical spellings, or the newer "BrainVision Core
/// Data Format 1.0".
fn is_signature(line: &str, kind: &str) -> bool {
    if line.contains("Vision") && line.contains("Core Data Format 1.0") {
        return true;
    }
    line.match_indices("Brain").any(|(i, _)| {
        let s = &line[i + "Brain".len()..];
        let s = s.strip_prefix(' ').unwrap_or(s);
        let Some(s) = s.strip_prefix("Vision") else {
            return false;
        };
        let s = s
            .strip_prefix(" Core")
            .or_else(|| s.strip_prefix(" V-Amp"))
            .unwrap_or(s);
        let Some(s) = s.strip_prefix(" Data") else {
            return false;
        };
        let s = s.strip_prefix(" Exchange").unwrap_or(s);
        let Some(s) = s
            .strip_prefix(' ')
            .and_then(|s| s.strip_prefix(kind))
            .and_then(|s| s.strip_prefix(" File"))
        else {
            return false;
        };
        let s = s.strip_prefix(',').unwrap_or(s);
        s.strip_prefix(" Version ")
            .is_some_and(|v| v.starts_with("1.0") || v.starts_with("2.0"))
    })
}

/// Reads a whole companion or header file, naming it on failure.
fn read_text_file(path: &Path, kind: &str) -> Result<(String, String)> {
    let bytes = std::fs::read(path).at(path)?;
    let (first, text) = decode_file(path, &bytes)?;
    if !is_signature(&first, kind) {
        return Err(Error::malformed(
            path,
            "line 1",
            format!(
                "expected a BrainVision {} signature such as `Brain Vision Data Exchange {kind} File Version \
                 1.0`, found `{}`",
                kind.to_ascii_lowercase(),
                shorten(&first)
            ),
        ));
    }
    Ok((first, text))
}

// ---------------------------------------------------------------------------
// The header.
// ---------------------------------------------------------------------------

/// One channel as the header describes it.
#[derive(Debug)]
struct HeaderChannel {
    name: String,
    kind: ChannelType,
    unit: String,
    scale: f64,
    position: Option<[f64; 3]>,
}

/// What `open` needs from the `.vhdr`.
#[derive(Debug)]
struct Header {
    common: Section,
    format: SampleFormat,
    orientation: Orientation,
    sfreq: f64,
    channels: Vec<HeaderChannel>,
}

fn parse_header(path: &Path) -> Result<Header> {
    let (_, text) = read_text_file(path, "Header")?;
    let mut sections = parse_sections(
        path,
        &text,
        2,
        &[COMMON, BINARY, CHANNELS, COORDINATES],
        Layout::Strict,
    )?;
    let common = sections
        .remove(COMMON)
        .ok_or_else(|| Error::malformed(path, format!("[{COMMON}]"), "the section is missing"))?;
    let field = |key: &str| format!("[{COMMON}] {key}");
    let require = |key: &str| {
        common
            .get(key)
            .ok_or_else(|| Error::malformed(path, field(key), "the key is missing"))
    };

    match require("DataFormat")? {
        v if v.eq_ignore_ascii_case("BINARY") => {}
        v if v.eq_ignore_ascii_case("ASCII") => {
            return Err(Error::unsupported(
                path,
                "DataFormat=ASCII (text samples); only BINARY data files are read",
            ));
        }
        v => {
            return Err(Error::malformed(
                path,
                field("DataFormat"),
                format!("expected BINARY or ASCII, found `{}`", shorten(v)),
            ));
        }
    }
    if let Some(kind) = common.get("DataType")
        && !kind.eq_ignore_ascii_case("TIMEDOMAIN")
    {
        return Err(Error::unsupported(
            path,
            format!("DataType={} (only TIMEDOMAIN recordings are read)", shorten(kind)),
        ));
    }

    let orientation = match require("DataOrientation")? {
        v if v.eq_ignore_ascii_case("MULTIPLEXED") => Orientation::Multiplexed,
        v if v.eq_ignore_ascii_case("VECTORIZED") => Orientation::Vectorized,
        v => {
            return Err(Error::malformed(
                path,
                field("DataOrientation"),
                format!("expected MULTIPLEXED or VECTORIZED, found `{}`", shorten(v)),
            ));
        }
    };

    let binary = sections.remove(BINARY).unwrap_or_default();
    let format_field = format!("[{BINARY}] BinaryFormat");
    let format = match binary.get("BinaryFormat") {
        None => return Err(Error::malformed(path, format_field, "the key is missing")),
        Some(v) if v.eq_ignore_ascii_case("INT_16") => SampleFormat::Int16,
        Some(v) if v.eq_ignore_ascii_case("INT_32") => SampleFormat::Int32,
        Some(v) if v.eq_ignore_ascii_case("IEEE_FLOAT_32") => SampleFormat::Float32,
        Some(v)
            if ["UINT_16", "UINT_32", "IEEE_FLOAT_64"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(v)) =>
        {
            // Valid BrainVision, but MNE does not read it either, so there is no reference to match.
            return Err(Error::unsupported(
                path,
                format!("BinaryFormat={v} (neurodl reads INT_16, INT_32 and IEEE_FLOAT_32)"),
            ));
        }
        Some(v) => {
            return Err(Error::malformed(
                path,
                format_field,
                format!("expected INT_16, INT_32 or IEEE_FLOAT_32, found `{}`", shorten(v)),
            ));
        }
    };

    let interval_text = require("SamplingInterval")?;
    let interval: f64 = interval_text.parse().map_err(|_| {
        Error::malformed(
            path,
            field("SamplingInterval"),
            format!(
                "expected a number of microseconds, found `{}`",
                shorten(interval_text)
            ),
        )
    })?;
    // Same expression as MNE, so the rate is bit-identical.
    let sfreq = 1e6 / interval;
    if !(interval.is_finite() && interval > 0.0 && sfreq.is_finite()) {
        return Err(Error::malformed(
            path,
            field("SamplingInterval"),
            format!(
                "must be a positive number of microseconds, found `{}`",
                shorten(interval_text)
            ),
        ));
    }

    let n_text = require("NumberOfChannels")?;
    let n_channels: usize = n_text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        Error::malformed(
            path,
            field("NumberOfChannels"),
            format!("expected a positive integer, found `{}`", shorten(n_text)),
        )
    })?;

    let channel_section = sections
        .remove(CHANNELS)
        .ok_or_else(|| Error::malformed(path, format!("[{CHANNELS}]"), "the section is missing"))?;
    let mut channels = parse_channels(path, &channel_section, n_channels)?;

    if let Some(coords) = sections.remove(COORDINATES) {
        apply_coordinates(path, &coords, &mut channels)?;
    }
    for ch in &mut channels {
        if ch.kind != ChannelType::Eeg {
            // MNE's montage only positions EEG-like channels.
            ch.position = None;
        }
    }

    Ok(Header {
        common,
        format,
        orientation,
        sfreq,
        channels,
    })
}

/// Parses `Ch<n>` keys of a section into a channel index (0-based), checking
/// it against the channel count.
fn channel_index(path: &Path, section: &str, entry: &Entry, n_channels: usize) -> Result<usize> {
    let digits = entry
        .key
        .get(..2)
        .filter(|p| p.eq_ignore_ascii_case("ch"))
        .map(|_| &entry.key[2..]);
    let number: Option<usize> = digits
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok());
    match number {
        Some(n) if (1..=n_channels).contains(&n) => Ok(n - 1),
        Some(n) => Err(Error::malformed(
            path,
            format!("[{section}] {}", entry.key),
            format!(
                "channel number {n} is outside 1..={n_channels} ([{COMMON}] NumberOfChannels={n_channels}, line {})",
                entry.line
            ),
        )),
        None => Err(Error::malformed(
            path,
            format!("[{section}] {}", shorten(&entry.key)),
            format!("expected keys `Ch<number>` (line {})", entry.line),
        )),
    }
}

/// Builds the channel list from `[Channel Infos]` entries
/// `Ch<n>=<name>,<reference>,<resolution>[,<unit>[,...]]`.
fn parse_channels(path: &Path, section: &Section, n_channels: usize) -> Result<Vec<HeaderChannel>> {
    // Keyed by index rather than a pre-sized Vec: NumberOfChannels comes from
    // the file and must not decide an allocation.
    let mut slots: BTreeMap<usize, HeaderChannel> = BTreeMap::new();
    for entry in &section.entries {
        let index = channel_index(path, CHANNELS, entry, n_channels)?;
        let field = format!("[{CHANNELS}] {}", entry.key);
        let parts: Vec<&str> = entry.value.split(',').collect();
        if parts.len() < 3 {
            return Err(Error::malformed(
                path,
                field,
                format!(
                    "expected `<name>,<reference>,<resolution>[,<unit>]`, found `{}`",
                    shorten(&entry.value)
                ),
            ));
        }
        let name = parts[0].replace(r"\1", ",");
        // The spec's default unit is µV; an empty unit field (PyCorder) means the same.
        let unit = match parts.get(3) {
            None | Some(&"") => "µV".to_owned(),
            // MNE drops stray U+00C2, the lead byte of a UTF-8 `µ` read as Latin-1.
            Some(u) => u.replace('\u{c2}', ""),
        };
        let resolution_text = parts[2].trim();
        let resolution = if resolution_text.is_empty() {
            1.0
        } else {
            match resolution_text.parse::<f64>() {
                Ok(r) if r.is_finite() && r != 0.0 => r,
                _ => {
                    return Err(Error::malformed(
                        path,
                        field,
                        format!(
                            "resolution `{}` is not a finite, non-zero number",
                            shorten(resolution_text)
                        ),
                    ));
                }
            }
        };
        let (unit_scale, si_unit) = unit_scale(&unit);
        let is_voltage = VOLTAGE_UNITS.contains(&unit.as_str());
        // MNE's precedence: EOG names, then non-voltage units (misc), then the stim name.
        let kind = if DEFAULT_EOG_NAMES.contains(&name.as_str()) {
            ChannelType::Eog
        } else if !is_voltage {
            ChannelType::Misc
        } else if name == "STI 014" {
            ChannelType::Stim
        } else {
            ChannelType::Eeg
        };
        let channel = HeaderChannel {
            name,
            kind,
            unit: si_unit,
            scale: resolution * unit_scale,
            position: None,
        };
        if slots.insert(index, channel).is_some() {
            return Err(Error::malformed(
                path,
                field,
                format!("channel {} is defined twice (line {})", index + 1, entry.line),
            ));
        }
    }
    // Every index is below n_channels and unique, so a full count means no gaps.
    if slots.len() != n_channels {
        // At most len + 5 steps, however large n_channels is.
        let missing: Vec<String> = (0..n_channels)
            .filter(|i| !slots.contains_key(i))
            .take(5)
            .map(|i| format!("Ch{}", i + 1))
            .collect();
        return Err(Error::malformed(
            path,
            format!("[{COMMON}] NumberOfChannels"),
            format!(
                "the header announces {n_channels} channels but [{CHANNELS}] lacks {}",
                missing.join(", ")
            ),
        ));
    }
    let channels: Vec<HeaderChannel> = slots.into_values().collect();
    let mut seen = BTreeMap::new();
    for (i, ch) in channels.iter().enumerate() {
        if let Some(first) = seen.insert(ch.name.as_str(), i) {
            return Err(Error::malformed(
                path,
                format!("[{CHANNELS}] Ch{}", i + 1),
                format!(
                    "channel name `{}` is already used by Ch{}",
                    shorten(&ch.name),
                    first + 1
                ),
            ));
        }
    }
    Ok(channels)
}

/// MNE's unit table: the factor from a header unit to the unit the samples are
/// returned in, and that unit's name. Units MNE does not know are kept as is.
fn unit_scale(unit: &str) -> (f64, String) {
    let (scale, si) = match unit {
        "V" => (1.0, "V"),
        "mV" => (1e-3, "V"),
        "µV" | "uV" => (1e-6, "V"),
        "nV" => (1e-9, "V"),
        "C" | "°C" => (1.0, "°C"),
        "µS" | "uS" => (1e-6, "S"),
        "S" => (1.0, "S"),
        "ARU" => (1.0, "ARU"),
        "N" => (1.0, "N"),
        "n/a" => (1.0, "n/a"),
        other => (1.0, other),
    };
    (scale, si.to_owned())
}

/// Applies `[Coordinates]` entries `Ch<n>=<radius>,<theta>,<phi>` (degrees;
/// radius in millimetres, or 1 for MNE's idealised 95 mm head).
///
/// A channel whose position is exactly the origin gets no position and, as
/// in MNE, becomes `misc` unless it is an EOG channel: exporters write `0,0,0`
/// for channels that are not on the scalp.
fn apply_coordinates(path: &Path, section: &Section, channels: &mut [HeaderChannel]) -> Result<()> {
    for entry in &section.entries {
        let index = channel_index(path, COORDINATES, entry, channels.len())?;
        let field = format!("[{COORDINATES}] {}", entry.key);
        let values: Vec<Option<f64>> = entry
            .value
            .split(',')
            .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect();
        let [Some(radius), Some(theta), Some(phi)] = values[..] else {
            return Err(Error::malformed(
                path,
                field,
                format!(
                    "expected three finite numbers `<radius>,<theta>,<phi>`, found `{}`",
                    shorten(&entry.value)
                ),
            ));
        };
        let radius = if radius == 1.0 {
            IDEAL_HEAD_RADIUS_MM
        } else {
            radius
        };
        // theta is the polar angle from +z, phi the azimuth from +x; millimetres to metres.
        let (polar, azimuth) = (theta.to_radians(), phi.to_radians());
        let z = radius * polar.cos();
        let xy = radius * polar.sin();
        let pos = [xy * azimuth.cos() / 1e3, xy * azimuth.sin() / 1e3, z / 1e3];
        let ch = &mut channels[index];
        if pos.iter().all(|&c| c == 0.0) {
            if ch.kind != ChannelType::Eog {
                ch.kind = ChannelType::Misc;
            }
        } else {
            ch.position = Some(pos);
        }
    }
    Ok(())
}

/// Resolves the file a `[Common Infos]` key names, relative to the header's folder.
/// `Ok(None)` when the key is absent or empty.
fn companion_path(path: &Path, common: &Section, key: &str, dir: &Path) -> Result<Option<PathBuf>> {
    match common.get(key) {
        None if key == "DataFile" => Err(Error::malformed(
            path,
            format!("[{COMMON}] {key}"),
            "the key is missing",
        )),
        None | Some("") => Ok(None),
        Some(name) => Ok(Some(dir.join(name))),
    }
}

/// Opens the data file, or explains which header key named a file that is not there.
fn open_companion(path: &Path, key: &str, target: &Path) -> Result<File> {
    if !target.is_file() {
        return Err(Error::malformed(
            path,
            format!("[{COMMON}] {key}"),
            format!(
                "names {}, which does not exist or is not a file",
                target.display()
            ),
        ));
    }
    File::open(target).at(target)
}

/// The marker file: the one `MarkerFile` names, or, as MNE does when that name
/// is stale (a common result of renaming files for BIDS), the `.vmrk` beside
/// the header with the header's stem. `None` when the header names none.
fn locate_marker_file(path: &Path, common: &Section, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(named) = companion_path(path, common, "MarkerFile", dir)? else {
        return Ok(None);
    };
    if named.is_file() {
        return Ok(Some(named));
    }
    let sibling = path.with_extension("vmrk");
    if sibling.is_file() {
        return Ok(Some(sibling));
    }
    Err(Error::malformed(
        path,
        format!("[{COMMON}] MarkerFile"),
        format!(
            "names {}, which does not exist or is not a file (nor does {})",
            named.display(),
            sibling.display()
        ),
    ))
}

/// Number of samples per channel: the data file's size, which must be a whole
/// number of samples and agree with `DataPoints` when the header has it.
fn count_samples(path: &Path, header: &Header, data_path: &Path, data: &File) -> Result<usize> {
    let size = data.metadata().at(data_path)?.len();
    let n_channels = header.channels.len() as u64;
    let bps = header.format.bytes() as u64;
    let row = n_channels
        .checked_mul(bps)
        .ok_or_else(|| Error::malformed(path, format!("[{COMMON}] NumberOfChannels"), "too many channels"))?;
    if size % row != 0 {
        return Err(Error::malformed(
            data_path,
            "size",
            format!(
                "{size} bytes is not a whole number of samples of {n_channels} channels × {bps} bytes \
                 ({}); the file is truncated or the header is wrong",
                header.format.name()
            ),
        ));
    }
    let from_size = size / row;
    if let Some(text) = header.common.get("DataPoints") {
        let declared: u64 = text.parse().map_err(|_| {
            Error::malformed(
                path,
                format!("[{COMMON}] DataPoints"),
                format!("expected a number of samples, found `{}`", shorten(text)),
            )
        })?;
        if declared != from_size {
            return Err(Error::malformed(
                path,
                format!("[{COMMON}] DataPoints"),
                format!(
                    "the header announces {declared} samples but {} holds {from_size} ({size} bytes)",
                    data_path.display()
                ),
            ));
        }
    }
    if from_size == 0 {
        return Err(Error::malformed(
            data_path,
            "size",
            "the data file holds no samples",
        ));
    }
    usize::try_from(from_size)
        .map_err(|_| Error::malformed(data_path, "size", "more samples than this platform can index"))
}

// ---------------------------------------------------------------------------
// Markers.
// ---------------------------------------------------------------------------

/// One `Mk<n>=<type>,<description>,<position>,<size>,<channel>[,<date>]` line.
#[derive(Debug)]
struct Marker {
    kind: String,
    description: String,
    /// 1-based sample position, as stored.
    position: i64,
    /// Length in samples.
    size: u64,
}

#[derive(Debug, Default)]
struct MarkerFile {
    markers: Vec<Marker>,
    meas_date: Option<NaiveDateTime>,
}

fn read_markers(path: &Path) -> Result<MarkerFile> {
    let (_, text) = read_text_file(path, "Marker")?;
    let sections = parse_sections(path, &text, 2, &[MARKERS], Layout::Lenient)?;
    let Some(section) = sections.get(MARKERS) else {
        // MNE reads a marker file without this section as having no markers.
        return Ok(MarkerFile::default());
    };
    let mut out = MarkerFile::default();
    let mut date_seen = false;
    for entry in &section.entries {
        // MNE only takes lines that start exactly with `Mk<digits>=`, and keeps
        // the value verbatim (a leading space stays in the description).
        let Some(value) = entry.raw.strip_prefix("Mk").and_then(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (digits > 0).then(|| rest[digits..].strip_prefix('=')).flatten()
        }) else {
            continue;
        };
        let field = || format!("[{MARKERS}] {}", entry.key);
        let parts: Vec<&str> = value.split(',').collect();
        if parts.len() < 4 {
            return Err(Error::malformed(
                path,
                field(),
                format!(
                    "expected `<type>,<description>,<position>,<size>,<channel>`, found `{}` (line {})",
                    shorten(value),
                    entry.line
                ),
            ));
        }
        let position: i64 = parts[2].trim().parse().map_err(|_| {
            Error::malformed(
                path,
                field(),
                format!(
                    "position `{}` is not an integer (line {})",
                    shorten(parts[2]),
                    entry.line
                ),
            )
        })?;
        // The spec lets the size be omitted; MNE then uses 0.
        let size_text = parts[3].trim();
        let size: u64 = if size_text.is_empty() {
            0
        } else {
            size_text
                .parse()
                .ok()
                .filter(|_| size_text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    Error::malformed(
                        path,
                        field(),
                        format!(
                            "size `{}` is not a non-negative integer (line {})",
                            shorten(size_text),
                            entry.line
                        ),
                    )
                })?
        };
        // The first `New Segment` with a full date decides, even when that date is zero.
        if !date_seen && let Some(date) = segment_date(path, &field(), value.trim_end())? {
            out.meas_date = date;
            date_seen = true;
        }
        out.markers.push(Marker {
            kind: parts[0].replace(r"\1", ","),
            description: parts[1].replace(r"\1", ","),
            position,
            size,
        });
    }
    Ok(out)
}

/// The recording date of a `New Segment` marker value, which MNE only takes
/// from the full form `New Segment,<desc>,<pos>,<size>,<channel>,<20 digits>`.
/// `None` when `value` is not of that form; `Some(None)` when the date is all
/// zeros ("unknown"); an error when the 20 digits are not a valid date.
fn segment_date(path: &Path, field: &str, value: &str) -> Result<Option<Option<NaiveDateTime>>> {
    let parts: Vec<&str> = value.split(',').collect();
    let n = parts.len();
    let digits = |s: &str, neg: bool| {
        let s = if neg { s.strip_prefix('-').unwrap_or(s) } else { s };
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    };
    if parts[0] != "New Segment"
        || n < 6
        || !(digits(parts[n - 4], false) && digits(parts[n - 3], false) && digits(parts[n - 2], true))
    {
        return Ok(None);
    }
    let date = parts[n - 1];
    if date.len() != 20 || !digits(date, false) {
        return Ok(None);
    }
    if date.bytes().all(|b| b == b'0') {
        return Ok(Some(None));
    }
    let num = |range: std::ops::Range<usize>| date[range].parse::<u32>().unwrap_or(u32::MAX);
    let year = i32::try_from(num(0..4)).unwrap_or(i32::MAX);
    NaiveDate::from_ymd_opt(year, num(4..6), num(6..8))
        .and_then(|d| d.and_hms_micro_opt(num(8..10), num(10..12), num(12..14), num(14..20)))
        .map(|d| Some(Some(d)))
        .ok_or_else(|| {
            Error::malformed(
                path,
                format!("{field} date"),
                format!("`{date}` is not a valid YYYYMMDDhhmmssuuuuuu date"),
            )
        })
}

/// Turns markers into annotations as MNE does: drop a leading `New Segment`,
/// onsets from 1-based positions, sort by onset, duration and file order, then
/// crop to the recording on MNE's microsecond grid (clipping keeps the order,
/// so markers clipped to the same onset stay in their pre-clip order).
fn markers_to_annotations(markers: &[Marker], sfreq: f64, n_samples: usize) -> Vec<Annotation> {
    let skip = usize::from(markers.first().is_some_and(|m| m.kind == "New Segment"));
    let mut timed: Vec<(f64, f64, &Marker)> = markers[skip..]
        .iter()
        .map(|m| ((m.position as f64 - 1.0) / sfreq, m.size as f64 / sfreq, m))
        .collect();
    // A stable sort on (onset, duration) keeps file order for ties, like MNE's sort on
    // (onset, duration, index).
    timed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));

    // MNE computes the end as the last sample's time plus one period, and turns
    // it into microseconds by rounding the fraction half to even.
    let end = (n_samples as f64 - 1.0) / sfreq + 1.0 / sfreq;
    let end_us = if end.is_finite() && end.abs() <= TIMEDELTA_LIMIT_S {
        let whole = end.trunc();
        whole as i64 * 1_000_000 + ((end - whole) * 1e6).round_ties_even() as i64
    } else {
        saturated_us(end)
    };
    let mut out = Vec::with_capacity(timed.len());
    for (onset, duration, m) in timed {
        let start_us = python_timedelta_us(onset);
        let stop_us = start_us.saturating_add(python_timedelta_us(duration));
        if start_us > end_us || stop_us < 0 {
            continue;
        }
        let clipped = start_us < 0 || stop_us > end_us;
        let (start_us, stop_us) = (start_us.max(0), stop_us.min(end_us));
        out.push(Annotation {
            onset: micros_to_seconds(start_us),
            // An unclipped duration keeps full precision; a clipped one is rebuilt from microseconds.
            duration: if clipped {
                micros_to_seconds(stop_us - start_us)
            } else {
                duration
            },
            description: format!("{}/{}", m.kind, m.description),
        });
    }
    out
}

/// Microseconds in Python's `timedelta(seconds=x)`: whole seconds exactly, the
/// fraction scaled in floating point, the remainder rounded half to even.
/// MNE's annotation crop goes through `timedelta`, so its onsets sit on this grid.
/// Saturates far outside `timedelta`'s range (where Python would raise).
fn python_timedelta_us(x: f64) -> i64 {
    if !x.is_finite() || x.abs() > TIMEDELTA_LIMIT_S {
        return saturated_us(x);
    }
    let whole = x.trunc();
    let scaled = (x - whole) * 1e6;
    let frac_whole = scaled.trunc();
    let leftover = scaled - frac_whole;
    let mut us = whole as i64 * 1_000_000 + frac_whole as i64;
    if leftover != 0.0 {
        let mut rounded = leftover.round();
        if (rounded - leftover).abs() == 0.5 {
            let odd = (us & 1) as f64;
            rounded = 2.0 * ((leftover + odd) * 0.5).round() - odd;
        }
        us += rounded as i64;
    }
    us
}

/// Seconds beyond which times saturate: 31,700 years, far past any recording,
/// and 10¹⁸ µs still fits an `i64`.
const TIMEDELTA_LIMIT_S: f64 = 1e12;

/// ±[`TIMEDELTA_LIMIT_S`] in microseconds, by the sign of `x`.
fn saturated_us(x: f64) -> i64 {
    let limit = TIMEDELTA_LIMIT_S as i64 * 1_000_000;
    if x < 0.0 { -limit } else { limit }
}

/// `timedelta.total_seconds()`: an exact integer count of microseconds divided
/// by 10⁶, correctly rounded (exact for any recording shorter than 285 years).
fn micros_to_seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedelta_rounding_matches_python() {
        // Values checked against CPython 3.11: timedelta(seconds=x) / timedelta(microseconds=1).
        assert_eq!(python_timedelta_us(0.001953125), 1953);
        assert_eq!(python_timedelta_us(0.005859375), 5859);
        assert_eq!(python_timedelta_us(1.5), 1_500_000);
        assert_eq!(python_timedelta_us(-0.002), -2000);
        assert_eq!(python_timedelta_us(0.0000025), 2);
        assert_eq!(python_timedelta_us(0.0000035), 4);
        assert_eq!(python_timedelta_us(0.0000005), 0);
        assert_eq!(python_timedelta_us(0.0000015), 2);
        assert_eq!(python_timedelta_us(-0.0000025), -2);
        assert_eq!(python_timedelta_us(123.4567895), 123_456_789);
    }

    #[test]
    fn signatures() {
        assert!(is_signature(
            "Brain Vision Data Exchange Header File Version 1.0",
            "Header"
        ));
        assert!(is_signature(
            "BrainVision Data Exchange Header File Version 2.0",
            "Header"
        ));
        assert!(is_signature(
            "Brain Vision V-Amp Data Header File Version 1.0",
            "Header"
        ));
        assert!(is_signature(
            "Brain Vision Data Exchange Marker File, Version 1.0",
            "Marker"
        ));
        assert!(is_signature("BrainVision Core Data Format 1.0", "Header"));
        assert!(!is_signature(
            "Brain Vision Data Exchange Marker File, Version 1.0",
            "Header"
        ));
        assert!(!is_signature(
            "Brain Vision Data Exchange Header File Version 3.0",
            "Header"
        ));
        assert!(!is_signature("", "Header"));
    }

    #[test]
    fn cp1252_and_fallback() {
        assert_eq!(decode_cp1252(b"\x80\xe4").as_deref(), Some("€ä"));
        assert_eq!(decode_cp1252(b"\x81"), None);
        assert_eq!(decode_utf8_or_latin1(b"\xb5V"), "µV");
        assert_eq!(decode_utf8_or_latin1("µV".as_bytes()), "µV");
    }
}
