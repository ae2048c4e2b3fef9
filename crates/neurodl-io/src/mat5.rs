//! A small, defensive reader for MATLAB Level 5 MAT-files (the format of
//! EEGLAB `.set` files saved with `-v7` or older).
//!
//! Only what EEGLAB writes is decoded: numeric and logical arrays, char
//! arrays, cell arrays, struct (and object) arrays, with or without zlib
//! compression. Sparse matrices, function handles and opaque objects are kept
//! as [`MatValue::Other`] placeholders so that a file holding one in an
//! unrelated field still loads.
//!
//! The parser trusts nothing in the file: every length is checked against the
//! bytes that are really there before anything is allocated, so a truncated or
//! corrupted file yields an [`Error::Malformed`] naming the variable path
//! (`EEG.chanlocs(3).labels`) instead of a panic or a multi-gigabyte
//! allocation. Decompressed sizes are bounded by what the zlib stream really
//! produces, never by what a header claims.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use flate2::read::ZlibDecoder;

use crate::error::{Error, IoContext, Result};

const HEADER_LEN: usize = 128;
/// Cells and structs nest; past this depth the file is taken as hostile
/// rather than risk exhausting the stack. EEGLAB files nest about 5 deep.
const MAX_DEPTH: usize = 64;

// Data element types (MAT-file format, table 1-1).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

// Array classes (array flags, low byte).
const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_OBJECT: u8 = 3;
const MX_CHAR: u8 = 4;
const MX_SPARSE: u8 = 5;
const MX_DOUBLE: u8 = 6;
const MX_SINGLE: u8 = 7;
const MX_INT8: u8 = 8;
const MX_UINT8: u8 = 9;
const MX_INT16: u8 = 10;
const MX_UINT16: u8 = 11;
const MX_INT32: u8 = 12;
const MX_UINT32: u8 = 13;
const MX_INT64: u8 = 14;
const MX_UINT64: u8 = 15;
const MX_FUNCTION: u8 = 16;
const MX_OPAQUE: u8 = 17;

const FLAG_COMPLEX: u32 = 0x0800;
const FLAG_LOGICAL: u32 = 0x0200;

/// The MATLAB class of a numeric array; it decides how a value prints
/// (`1` for `uint8`, `1.0` for `double`), which EEGLAB event types depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumClass {
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Logical,
}

impl NumClass {
    fn name(self) -> &'static str {
        match self {
            NumClass::Double => "double",
            NumClass::Single => "single",
            NumClass::Int8 => "int8",
            NumClass::UInt8 => "uint8",
            NumClass::Int16 => "int16",
            NumClass::UInt16 => "uint16",
            NumClass::Int32 => "int32",
            NumClass::UInt32 => "uint32",
            NumClass::Int64 => "int64",
            NumClass::UInt64 => "uint64",
            NumClass::Logical => "logical",
        }
    }
}

/// Values of a numeric array in the type the file stores them in. MATLAB
/// often stores a `double` array of small integers as `uint8`; SciPy (and so
/// MNE) keeps that stored type, and it shows when a value is printed (`1`
/// rather than `1.0`), so the reader keeps it too. Every variant converts
/// exactly to `f64` except 64-bit integers above 2^53.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NumData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    Int(Vec<i64>),
    UInt(Vec<u64>),
}

impl NumData {
    pub(crate) fn len(&self) -> usize {
        match self {
            NumData::F64(v) => v.len(),
            NumData::F32(v) => v.len(),
            NumData::Int(v) => v.len(),
            NumData::UInt(v) => v.len(),
        }
    }
}

/// A numeric or logical array (column-major, like MATLAB).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Numeric {
    pub(crate) class: NumClass,
    pub(crate) dims: Vec<usize>,
    /// The real part; an imaginary part is checked but not kept (EEGLAB never writes one).
    pub(crate) data: NumData,
    pub(crate) complex: bool,
}

impl Numeric {
    /// Element `i` as `f64` (64-bit integers above 2^53 round).
    pub(crate) fn get_f64(&self, i: usize) -> Option<f64> {
        Some(match &self.data {
            NumData::F64(v) => *v.get(i)?,
            NumData::F32(v) => f64::from(*v.get(i)?),
            NumData::Int(v) => *v.get(i)? as f64,
            NumData::UInt(v) => *v.get(i)? as f64,
        })
    }

    /// The value when the array holds exactly one element.
    pub(crate) fn scalar(&self) -> Option<f64> {
        if self.data.len() == 1 {
            self.get_f64(0)
        } else {
            None
        }
    }

    /// Element `i` printed the way Python's `str()` prints the NumPy scalar
    /// SciPy loads for it, which follows the stored type (`1` for integers,
    /// logicals included; `1.0` and `1e-05` for floats): MNE builds EEGLAB
    /// annotation labels that way.
    pub(crate) fn python_str(&self, i: usize) -> Option<String> {
        Some(match &self.data {
            NumData::F64(v) => python_float_repr(*v.get(i)?),
            NumData::F32(v) => python_f32_repr(*v.get(i)?),
            NumData::Int(v) => v.get(i)?.to_string(),
            NumData::UInt(v) => v.get(i)?.to_string(),
        })
    }
}

/// A char array, one string per row (a `1×N` char is one string).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CharArray {
    pub(crate) dims: Vec<usize>,
    /// Rows with trailing NULs removed, as NumPy does; spaces are kept.
    pub(crate) rows: Vec<String>,
}

/// A struct (or object) array: `values[element * n_fields + field]`, elements column-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StructArray {
    pub(crate) dims: Vec<usize>,
    /// For objects, the class name.
    pub(crate) class_name: Option<String>,
    pub(crate) field_names: Vec<String>,
    pub(crate) values: Vec<MatValue>,
}

impl StructArray {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        numel(&self.dims)
    }

    /// Whether the struct declares a field called `name` (even with no elements).
    pub(crate) fn has_field(&self, name: &str) -> bool {
        self.field_names.iter().any(|f| f == name)
    }

    /// Field `name` of element `index` (0-based, column-major).
    pub(crate) fn field(&self, index: usize, name: &str) -> Option<&MatValue> {
        let f = self.field_names.iter().position(|n| n == name)?;
        self.values
            .get(index.checked_mul(self.field_names.len())?.checked_add(f)?)
    }

    /// `(name, value)` pairs of element `index`.
    pub(crate) fn element(&self, index: usize) -> impl Iterator<Item = (&str, &MatValue)> {
        let nf = self.field_names.len();
        let start = index.saturating_mul(nf).min(self.values.len());
        let end = start.saturating_add(nf).min(self.values.len());
        self.field_names
            .iter()
            .map(String::as_str)
            .zip(&self.values[start..end])
    }
}

/// One MATLAB value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MatValue {
    Numeric(Numeric),
    Char(CharArray),
    Cell {
        dims: Vec<usize>,
        items: Vec<MatValue>,
    },
    Struct(StructArray),
    /// A class this reader does not decode (sparse, function handle, opaque object).
    Other {
        class: u8,
    },
}

impl MatValue {
    /// Number of elements (`prod(dims)`; 0 for undecoded classes).
    pub(crate) fn numel(&self) -> usize {
        match self {
            MatValue::Numeric(n) => numel(&n.dims),
            MatValue::Char(c) => numel(&c.dims),
            MatValue::Cell { dims, .. } => numel(dims),
            MatValue::Struct(s) => s.len(),
            MatValue::Other { .. } => 0,
        }
    }

    /// Whether the value holds no element (`[]`, `''`, `{}`, a 0×0 struct).
    pub(crate) fn is_empty(&self) -> bool {
        self.numel() == 0
    }

    pub(crate) fn as_numeric(&self) -> Option<&Numeric> {
        match self {
            MatValue::Numeric(n) => Some(n),
            _ => None,
        }
    }

    pub(crate) fn as_struct(&self) -> Option<&StructArray> {
        match self {
            MatValue::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a char array with at most one row (`''` gives `""`).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            MatValue::Char(c) => match c.rows.as_slice() {
                [] => Some(""),
                [row] => Some(row),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value of a one-element numeric array.
    pub(crate) fn scalar(&self) -> Option<f64> {
        self.as_numeric()?.scalar()
    }

    /// A short description for error messages, e.g. `a 1×3 double array`.
    pub(crate) fn describe(&self) -> String {
        let (what, dims) = match self {
            MatValue::Numeric(n) => (n.class.name(), &n.dims),
            MatValue::Char(c) => ("char", &c.dims),
            MatValue::Cell { dims, .. } => ("cell", dims),
            MatValue::Struct(s) => ("struct", &s.dims),
            MatValue::Other { class } => return format!("a value of undecoded MATLAB class {class}"),
        };
        format!("a {} {what} array", format_dims(dims))
    }
}

/// `2×3`-style dimensions.
pub(crate) fn format_dims(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    parts.join("×")
}

/// `prod(dims)`, saturating: a product that overflows cannot match any real data.
fn numel(dims: &[usize]) -> usize {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX)
}

/// The variables of a MAT-file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MatFile {
    pub(crate) vars: Vec<(String, MatValue)>,
}

impl MatFile {
    /// The variable called `name` (the first, should a file repeat a name).
    pub(crate) fn get(&self, name: &str) -> Option<&MatValue> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Reads and parses the MAT-file at `path`.
pub(crate) fn read_file(path: &Path) -> Result<MatFile> {
    let bytes = std::fs::read(path).at(path)?;
    parse(path, &bytes)
}

/// Parses MAT-file bytes; `path` only names the file in errors.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<MatFile> {
    let big_endian = check_header(path, bytes)?;
    let mut parser = Parser {
        path,
        big_endian,
        trail: Vec::new(),
    };
    let mut vars = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let start = pos;
        parser.trail = vec![Seg::Var(format!("variable #{} (byte {start})", vars.len() + 1))];
        let elem = parser.read_elem(bytes, &mut pos, "variable")?;
        let (name, value) = match elem.dtype {
            MI_COMPRESSED => {
                let inflated = parser.inflate(elem.data, start)?;
                let mut inner = 0;
                let matrix = parser.read_elem(&inflated, &mut inner, "compressed variable")?;
                if matrix.dtype != MI_MATRIX {
                    return Err(parser.err(format!(
                        "compressed data holds an element of type {} where a matrix (14) was expected",
                        matrix.dtype
                    )));
                }
                parser.parse_matrix(matrix.data, 0)?
            }
            MI_MATRIX => parser.parse_matrix(elem.data, 0)?,
            other => {
                return Err(parser.err(format!(
                    "top-level element at byte {start} has type {other}; only matrices (14) and \
                     compressed matrices (15) are allowed"
                )));
            }
        };
        vars.push((name, value));
    }
    Ok(MatFile { vars })
}

/// Validates the 128-byte header and returns whether the file is big-endian.
fn check_header(path: &Path, bytes: &[u8]) -> Result<bool> {
    let v73 = || {
        Error::unsupported(
            path,
            "MAT-file v7.3 (HDF5); re-save it as a v7 MAT-file (EEGLAB: pop_saveset(..., 'version', '7'); \
             MATLAB: save(..., '-v7'))",
        )
    };
    if bytes.starts_with(b"\x89HDF\r\n\x1a\n") || bytes.get(512..520) == Some(b"\x89HDF\r\n\x1a\n") {
        return Err(v73());
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::malformed(
            path,
            "header",
            format!(
                "file is {} bytes long, shorter than the {HEADER_LEN}-byte MAT-file header",
                bytes.len()
            ),
        ));
    }
    let big_endian = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => {
            // MAT v4 files have no text header: their first bytes are a small binary type code.
            if bytes[..4].contains(&0) {
                return Err(Error::unsupported(
                    path,
                    "MAT-file v4 (or not a MAT-file); re-save it as a v7 MAT-file",
                ));
            }
            return Err(Error::malformed(
                path,
                "header.endian",
                format!("endianness indicator is {other:?}, expected \"IM\" or \"MI\""),
            ));
        }
    };
    let raw = [bytes[124], bytes[125]];
    let version = if big_endian {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    };
    match version {
        0x0100 => Ok(big_endian),
        0x0200 => Err(v73()),
        other => Err(Error::malformed(
            path,
            "header.version",
            format!("version is {other:#06x}, expected 0x0100 (MAT-file v5/v6/v7)"),
        )),
    }
}

/// One step of the path to the value being parsed, for error messages.
enum Seg {
    Var(String),
    Field(String),
    /// 0-based element of a struct array (printed 1-based, MATLAB style).
    Index(usize),
    /// 0-based cell (printed `{i}`, 1-based).
    Cell(usize),
}

struct Elem<'a> {
    dtype: u32,
    data: &'a [u8],
}

struct Parser<'p> {
    path: &'p Path,
    big_endian: bool,
    trail: Vec<Seg>,
}

impl Parser<'_> {
    /// The current variable path, e.g. `EEG.chanlocs(3).labels`.
    fn location(&self) -> String {
        let mut s = String::new();
        for seg in &self.trail {
            match seg {
                Seg::Var(v) => s.push_str(v),
                Seg::Field(f) => {
                    s.push('.');
                    s.push_str(f);
                }
                Seg::Index(i) => {
                    let _ = write!(s, "({})", i + 1);
                }
                Seg::Cell(i) => {
                    let _ = write!(s, "{{{}}}", i + 1);
                }
            }
        }
        s
    }

    fn err(&self, problem: impl Into<String>) -> Error {
        Error::malformed(self.path, self.location(), problem)
    }

    fn u32_at(&self, b: &[u8]) -> u32 {
        let raw = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    /// Reads the data element at `*pos` of `buf` and moves past it and its padding.
    fn read_elem<'a>(&self, buf: &'a [u8], pos: &mut usize, what: &str) -> Result<Elem<'a>> {
        let start = *pos;
        let rest = buf.len().saturating_sub(start);
        if rest < 8 {
            return Err(self.err(format!(
                "{what}: data element tag at byte {start} is cut short ({rest} of 8 bytes)"
            )));
        }
        let word = self.u32_at(&buf[start..]);
        if word >> 16 != 0 {
            // Small data element: type and size share the first word, data fills the second.
            let n = (word >> 16) as usize;
            if n > 4 {
                return Err(self.err(format!(
                    "{what}: small data element at byte {start} declares {n} bytes (at most 4 fit)"
                )));
            }
            *pos = start + 8;
            return Ok(Elem {
                dtype: word & 0xffff,
                data: &buf[start + 4..start + 4 + n],
            });
        }
        let n = self.u32_at(&buf[start + 4..]) as usize;
        let body = start + 8;
        if n > buf.len() - body {
            return Err(self.err(format!(
                "{what}: data element at byte {start} declares {n} bytes but only {} remain",
                buf.len() - body
            )));
        }
        // Elements are padded to 8 bytes, except compressed ones; tolerate a missing final pad.
        let pad = if word == MI_COMPRESSED { 0 } else { (8 - n % 8) % 8 };
        *pos = (body + n + pad).min(buf.len());
        Ok(Elem {
            dtype: word,
            data: &buf[body..body + n],
        })
    }

    /// Inflates a compressed variable; the output is bounded by the size its
    /// inner tag declares and grows only with bytes the stream really yields.
    fn inflate(&self, compressed: &[u8], start: usize) -> Result<Vec<u8>> {
        let mut decoder = ZlibDecoder::new(compressed);
        let mut tag = [0u8; 8];
        decoder
            .read_exact(&mut tag)
            .map_err(|e| self.err(format!("compressed data at byte {start} cannot be inflated: {e}")))?;
        let declared = self.u32_at(&tag[4..]) as u64;
        let mut out = tag.to_vec();
        decoder
            .take(declared)
            .read_to_end(&mut out)
            .map_err(|e| self.err(format!("compressed data at byte {start} is corrupt: {e}")))?;
        let got = out.len() as u64 - 8;
        if got < declared {
            return Err(self.err(format!(
                "compressed data at byte {start} inflates to {got} bytes but its matrix declares {declared}"
            )));
        }
        Ok(out)
    }

    /// Parses the body of a `miMATRIX` element into its name and value.
    fn parse_matrix(&mut self, body: &[u8], depth: usize) -> Result<(String, MatValue)> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        if body.is_empty() {
            // MATLAB writes `[]` inside cells and structs as a matrix element with no body.
            return Ok((
                String::new(),
                MatValue::Numeric(Numeric {
                    class: NumClass::Double,
                    dims: vec![0, 0],
                    data: NumData::F64(Vec::new()),
                    complex: false,
                }),
            ));
        }
        let mut pos = 0;
        let flags = self.read_elem(body, &mut pos, "array flags")?;
        if flags.dtype != MI_UINT32 || flags.data.len() < 4 {
            return Err(self.err(format!(
                "array flags have type {} and {} bytes, expected uint32 (6) and 8 bytes",
                flags.dtype,
                flags.data.len()
            )));
        }
        let flag_word = self.u32_at(flags.data);
        let class = (flag_word & 0xff) as u8;

        let dims_elem = self.read_elem(body, &mut pos, "dimensions")?;
        if dims_elem.dtype != MI_INT32 || !dims_elem.data.len().is_multiple_of(4) || dims_elem.data.is_empty()
        {
            return Err(self.err(format!(
                "dimensions have type {} and {} bytes, expected int32 (5) and a multiple of 4",
                dims_elem.dtype,
                dims_elem.data.len()
            )));
        }
        let mut dims = Vec::with_capacity(dims_elem.data.len() / 4);
        for chunk in dims_elem.data.chunks_exact(4) {
            let d = self.u32_at(chunk) as i32;
            if d < 0 {
                return Err(self.err(format!("dimension {d} is negative")));
            }
            dims.push(d as usize);
        }

        let name_elem = self.read_elem(body, &mut pos, "array name")?;
        if !matches!(name_elem.dtype, MI_INT8 | MI_UINT8 | MI_UTF8) {
            return Err(self.err(format!(
                "array name has type {}, expected int8 (1)",
                name_elem.dtype
            )));
        }
        let name = String::from_utf8_lossy(name_elem.data)
            .trim_end_matches('\0')
            .to_string();
        if depth == 0 {
            // The trail so far only gave the variable's byte offset; now it has a name.
            self.trail = vec![Seg::Var(name.clone())];
        }

        let value = match class {
            MX_DOUBLE | MX_SINGLE | MX_INT8 | MX_UINT8 | MX_INT16 | MX_UINT16 | MX_INT32 | MX_UINT32
            | MX_INT64 | MX_UINT64 => self.parse_numeric(body, &mut pos, class, flag_word, dims)?,
            MX_CHAR => self.parse_char(body, &mut pos, dims)?,
            MX_CELL => self.parse_cell(body, &mut pos, dims, depth)?,
            MX_STRUCT => self.parse_struct(body, &mut pos, dims, None, depth)?,
            MX_OBJECT => {
                let class_elem = self.read_elem(body, &mut pos, "object class name")?;
                let class_name = String::from_utf8_lossy(class_elem.data)
                    .trim_end_matches('\0')
                    .to_string();
                self.parse_struct(body, &mut pos, dims, Some(class_name), depth)?
            }
            MX_SPARSE | MX_FUNCTION | MX_OPAQUE => MatValue::Other { class },
            other => return Err(self.err(format!("array class {other} is not a MATLAB class"))),
        };
        Ok((name, value))
    }

    fn parse_numeric(
        &self,
        body: &[u8],
        pos: &mut usize,
        class: u8,
        flags: u32,
        dims: Vec<usize>,
    ) -> Result<MatValue> {
        let n = numel(&dims);
        let complex = flags & FLAG_COMPLEX != 0;
        let class = match class {
            _ if flags & FLAG_LOGICAL != 0 => NumClass::Logical,
            MX_DOUBLE => NumClass::Double,
            MX_SINGLE => NumClass::Single,
            MX_INT8 => NumClass::Int8,
            MX_UINT8 => NumClass::UInt8,
            MX_INT16 => NumClass::Int16,
            MX_UINT16 => NumClass::UInt16,
            MX_INT32 => NumClass::Int32,
            MX_UINT32 => NumClass::UInt32,
            MX_INT64 => NumClass::Int64,
            _ => NumClass::UInt64,
        };
        if n == 0 && *pos >= body.len() {
            let data = NumData::F64(Vec::new());
            return Ok(MatValue::Numeric(Numeric {
                class,
                dims,
                data,
                complex,
            }));
        }
        let real = self.read_elem(body, pos, "real part")?;
        let data = self.decode_numbers(&real, n, "real part")?;
        if complex {
            let imag = self.read_elem(body, pos, "imaginary part")?;
            self.decode_numbers(&imag, n, "imaginary part")?;
        }
        Ok(MatValue::Numeric(Numeric {
            class,
            dims,
            data,
            complex,
        }))
    }

    /// Decodes a numeric element in the precision it is stored in, checking it holds `n` values.
    fn decode_numbers(&self, e: &Elem, n: usize, what: &str) -> Result<NumData> {
        let size = match e.dtype {
            MI_INT8 | MI_UINT8 => 1,
            MI_INT16 | MI_UINT16 => 2,
            MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
            MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
            other => return Err(self.err(format!("{what} has type {other}, which is not numeric"))),
        };
        if !e.data.len().is_multiple_of(size) || e.data.len() / size != n {
            return Err(self.err(format!(
                "{what} holds {} bytes of {size}-byte values; the dimensions call for {n} values",
                e.data.len()
            )));
        }
        let big = self.big_endian;
        macro_rules! load {
            ($t:ty, $n:expr, $variant:ident, $conv:ty) => {
                NumData::$variant(
                    e.data
                        .chunks_exact($n)
                        .map(|c| {
                            let raw: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                            (if big {
                                <$t>::from_be_bytes(raw)
                            } else {
                                <$t>::from_le_bytes(raw)
                            }) as $conv
                        })
                        .collect(),
                )
            };
        }
        Ok(match e.dtype {
            MI_INT8 => load!(i8, 1, Int, i64),
            MI_UINT8 => load!(u8, 1, UInt, u64),
            MI_INT16 => load!(i16, 2, Int, i64),
            MI_UINT16 => load!(u16, 2, UInt, u64),
            MI_INT32 => load!(i32, 4, Int, i64),
            MI_UINT32 => load!(u32, 4, UInt, u64),
            MI_INT64 => load!(i64, 8, Int, i64),
            MI_UINT64 => load!(u64, 8, UInt, u64),
            MI_SINGLE => load!(f32, 4, F32, f32),
            _ => load!(f64, 8, F64, f64),
        })
    }

    fn parse_char(&self, body: &[u8], pos: &mut usize, dims: Vec<usize>) -> Result<MatValue> {
        let n = numel(&dims);
        let chars: Vec<char> = if n == 0 && *pos >= body.len() {
            Vec::new()
        } else {
            let e = self.read_elem(body, pos, "characters")?;
            let big = self.big_endian;
            let u16s = || {
                e.data.chunks_exact(2).map(move |c| {
                    let raw = [c[0], c[1]];
                    if big {
                        u16::from_be_bytes(raw)
                    } else {
                        u16::from_le_bytes(raw)
                    }
                })
            };
            match e.dtype {
                MI_UINT16 | MI_UTF16 | MI_INT16 => char::decode_utf16(u16s())
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
                MI_UTF8 => String::from_utf8_lossy(e.data).chars().collect(),
                // 8-bit chars are Latin-1, as MATLAB writes them.
                MI_UINT8 | MI_INT8 => e.data.iter().map(|&b| char::from(b)).collect(),
                MI_UTF32 | MI_UINT32 | MI_INT32 => e
                    .data
                    .chunks_exact(4)
                    .map(|c| char::from_u32(self.u32_at(c)).unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
                other => return Err(self.err(format!("char data has type {other}, which holds no text"))),
            }
        };
        let n_rows = dims.first().copied().unwrap_or(0);
        let rows = if n_rows <= 1 {
            // One row (or none): multi-unit characters may make the count differ from numel.
            if n_rows == 0 && chars.is_empty() {
                Vec::new()
            } else {
                vec![
                    chars
                        .iter()
                        .collect::<String>()
                        .trim_end_matches('\0')
                        .to_string(),
                ]
            }
        } else {
            if chars.len() != n {
                return Err(self.err(format!(
                    "char array of {} holds {} characters",
                    format_dims(&dims),
                    chars.len()
                )));
            }
            let n_cols = n / n_rows;
            (0..n_rows)
                .map(|r| {
                    let row: String = (0..n_cols).map(|c| chars[r + c * n_rows]).collect();
                    row.trim_end_matches('\0').to_string()
                })
                .collect()
        };
        Ok(MatValue::Char(CharArray { dims, rows }))
    }

    fn parse_cell(
        &mut self,
        body: &[u8],
        pos: &mut usize,
        dims: Vec<usize>,
        depth: usize,
    ) -> Result<MatValue> {
        let n = numel(&dims);
        // Every item is a tagged element of at least 8 bytes: reject counts the bytes cannot hold.
        let room = body.len().saturating_sub(*pos) / 8;
        if n > room {
            return Err(self.err(format!(
                "cell array of {} declares {n} items but only {} bytes remain",
                format_dims(&dims),
                body.len().saturating_sub(*pos)
            )));
        }
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            self.trail.push(Seg::Cell(i));
            let item = self.read_child(body, pos, depth)?;
            self.trail.pop();
            items.push(item);
        }
        Ok(MatValue::Cell { dims, items })
    }

    fn parse_struct(
        &mut self,
        body: &[u8],
        pos: &mut usize,
        dims: Vec<usize>,
        class_name: Option<String>,
        depth: usize,
    ) -> Result<MatValue> {
        let len_elem = self.read_elem(body, pos, "field name length")?;
        if len_elem.data.len() != 4 || !matches!(len_elem.dtype, MI_INT32 | MI_UINT32) {
            return Err(self.err(format!(
                "field name length has type {} and {} bytes, expected one int32",
                len_elem.dtype,
                len_elem.data.len()
            )));
        }
        let name_len = self.u32_at(len_elem.data) as usize;
        let names_elem = self.read_elem(body, pos, "field names")?;
        let field_names: Vec<String> = if names_elem.data.is_empty() {
            Vec::new()
        } else {
            if name_len == 0 || !names_elem.data.len().is_multiple_of(name_len) {
                return Err(self.err(format!(
                    "field names take {} bytes, not a multiple of the field name length {name_len}",
                    names_elem.data.len()
                )));
            }
            names_elem
                .data
                .chunks_exact(name_len)
                .map(|c| {
                    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                    String::from_utf8_lossy(&c[..end]).into_owned()
                })
                .collect()
        };
        let n = numel(&dims);
        let nf = field_names.len();
        let total = n.saturating_mul(nf);
        let rest = body.len().saturating_sub(*pos);
        if total > rest / 8 {
            return Err(self.err(format!(
                "struct array of {} with {nf} fields declares {n} elements but only {rest} bytes remain",
                format_dims(&dims)
            )));
        }
        let mut values = Vec::with_capacity(total);
        for e in 0..n {
            if n != 1 {
                self.trail.push(Seg::Index(e));
            }
            for name in &field_names {
                self.trail.push(Seg::Field(name.clone()));
                let value = self.read_child(body, pos, depth)?;
                self.trail.pop();
                values.push(value);
            }
            if n != 1 {
                self.trail.pop();
            }
        }
        Ok(MatValue::Struct(StructArray {
            dims,
            class_name,
            field_names,
            values,
        }))
    }

    /// Reads one nested `miMATRIX` element (a cell item or a struct field).
    fn read_child(&mut self, body: &[u8], pos: &mut usize, depth: usize) -> Result<MatValue> {
        let e = self.read_elem(body, pos, "nested value")?;
        if e.dtype != MI_MATRIX {
            return Err(self.err(format!(
                "nested value has element type {}, expected a matrix (14)",
                e.dtype
            )));
        }
        Ok(self.parse_matrix(e.data, depth + 1)?.1)
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for
/// decimal exponents in `-5 < e < 16`, scientific (`1e-05`, `1e+16`) outside.
pub(crate) fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    python_repr_from_exp(&format!("{x:e}"))
}

/// NumPy's `str(np.float32)`: as [`python_float_repr`], with the shortest
/// digits that round-trip in single precision.
pub(crate) fn python_f32_repr(x: f32) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    python_repr_from_exp(&format!("{x:e}"))
}

/// Reformats Rust's shortest `{:e}` output (`-1.25e-7`) the way Python prints floats.
fn python_repr_from_exp(sci: &str) -> String {
    let (sign, rest) = match sci.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", sci),
    };
    let (mantissa, exp) = rest.split_once('e').unwrap_or((rest, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let decpt = exp + 1;
    let body = if decpt <= -4 || decpt > 16 {
        let frac = if n > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{}{frac}e{esign}{:02}", &digits[..1], exp.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        format!("{}.{}", &digits[..decpt as usize], &digits[decpt as usize..])
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = include_bytes!("../tests/fixtures/eeglab/mat_types.mat");
    const ZIPPED: &[u8] = include_bytes!("../tests/fixtures/eeglab/mat_types_z.mat");

    fn load(bytes: &[u8]) -> MatFile {
        parse(Path::new("mat_types.mat"), bytes).expect("fixture parses")
    }

    fn num<'a>(m: &'a MatFile, name: &str) -> &'a Numeric {
        m.get(name)
            .and_then(MatValue::as_numeric)
            .unwrap_or_else(|| panic!("{name} is numeric"))
    }

    /// The same SciPy-written variables, with and without zlib compression.
    #[test]
    fn scipy_fixtures_decode_identically_with_and_without_compression() {
        let (plain, zipped) = (load(PLAIN), load(ZIPPED));
        assert_eq!(plain, zipped);
        assert_eq!(plain.vars.len(), 20);
    }

    #[test]
    fn numeric_classes_keep_their_stored_type_and_value() {
        let m = load(PLAIN);
        let d = num(&m, "d");
        assert_eq!(d.class, NumClass::Double);
        assert_eq!(d.dims, vec![2, 3]);
        // Column-major, as MATLAB stores it.
        assert_eq!(d.data, NumData::F64(vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]));
        assert_eq!(num(&m, "s").data, NumData::F32(vec![2.5]));
        assert_eq!(num(&m, "s").class, NumClass::Single);
        for (name, class, value) in [
            ("i8", NumClass::Int8, -5.0),
            ("u8", NumClass::UInt8, 200.0),
            ("i16", NumClass::Int16, -300.0),
            ("u16", NumClass::UInt16, 65000.0),
            ("i32", NumClass::Int32, -70000.0),
            ("u32", NumClass::UInt32, 4e9),
            ("i64", NumClass::Int64, -(2f64.powi(40))),
        ] {
            let n = num(&m, name);
            assert_eq!((n.class, n.scalar()), (class, Some(value)), "{name}");
            assert_eq!(n.python_str(0), Some(format!("{value}")), "{name}");
        }
        // 2^63 + 1 is not representable in f64: the integer carrier keeps it exact.
        assert_eq!(num(&m, "u64").data, NumData::UInt(vec![(1u64 << 63) + 1]));
        let b = num(&m, "b");
        assert_eq!(
            (b.class, &b.data),
            (NumClass::Logical, &NumData::UInt(vec![1, 0]))
        );
        let z = num(&m, "z");
        assert!(z.complex);
        assert_eq!(z.scalar(), Some(1.0));
        let e = m.get("e").expect("e");
        assert!(e.is_empty());
        assert_eq!(e.as_numeric().map(|n| n.dims.clone()), Some(vec![0, 3]));
    }

    #[test]
    fn char_arrays_decode_rows_and_unicode() {
        let m = load(PLAIN);
        assert_eq!(m.get("c").and_then(MatValue::as_str), Some("hello"));
        assert_eq!(m.get("ce").and_then(MatValue::as_str), Some(""));
        assert_eq!(m.get("cu").and_then(MatValue::as_str), Some("µV ünï ✓"));
        match m.get("cm") {
            Some(MatValue::Char(c)) => {
                assert_eq!(c.dims, vec![2, 2]);
                assert_eq!(c.rows, vec!["ab".to_string(), "cd".to_string()]);
            }
            other => panic!("cm: {other:?}"),
        }
        assert_eq!(m.get("cm").and_then(MatValue::as_str), None);
    }

    #[test]
    fn cells_and_struct_arrays_nest() {
        let m = load(PLAIN);
        let Some(MatValue::Cell { dims, items }) = m.get("cell") else {
            panic!("cell")
        };
        assert_eq!(dims, &vec![1, 3]);
        assert_eq!(items[0].scalar(), Some(1.0));
        assert_eq!(items[1].as_str(), Some("x"));
        let Some(MatValue::Cell { items: inner, .. }) = items.get(2) else {
            panic!("inner cell")
        };
        assert_eq!(
            inner[0].as_numeric().map(|n| n.data.clone()),
            Some(NumData::UInt(vec![2]))
        );

        let st = m.get("st").and_then(MatValue::as_struct).expect("st");
        assert_eq!(st.len(), 2);
        assert_eq!(st.field_names, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(st.field(0, "a").and_then(MatValue::scalar), Some(1.5));
        assert_eq!(st.field(1, "b").and_then(MatValue::as_str), Some("second"));
        assert_eq!(
            st.field(1, "a")
                .and_then(MatValue::as_numeric)
                .map(|n| n.data.clone()),
            Some(NumData::Int(vec![1, 2, 3]))
        );
        assert!(st.field(2, "a").is_none());
        assert!(st.field(0, "nope").is_none());
        let names: Vec<&str> = st.element(1).map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);

        let nested = m.get("nested").and_then(MatValue::as_struct).expect("nested");
        let inner = nested
            .field(0, "inner")
            .and_then(MatValue::as_struct)
            .expect("inner");
        assert_eq!(inner.field(0, "x").and_then(MatValue::scalar), Some(7.0));
    }

    /// A hand-assembled big-endian file: SciPy only writes the native order.
    #[test]
    fn big_endian_files_decode() {
        let mut f = vec![b' '; 116];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&[0x01, 0x00, b'M', b'I']);
        let mut body = Vec::new();
        body.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 8, 0, 0, 0, 6, 0, 0, 0, 0]); // flags: double
        body.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2]); // dims 1×2
        body.extend_from_slice(&[0, 1, 0, 1, b'x', 0, 0, 0]); // small element name "x"
        body.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 16]);
        body.extend_from_slice(&1.5f64.to_be_bytes());
        body.extend_from_slice(&(-2.0f64).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 14]);
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&body);
        let m = parse(Path::new("be.mat"), &f).expect("big-endian parses");
        assert_eq!(num(&m, "x").data, NumData::F64(vec![1.5, -2.0]));
    }

    #[test]
    fn hdf5_and_v4_files_are_unsupported_not_malformed() {
        let mut v73 = PLAIN.to_vec();
        v73[124..126].copy_from_slice(&0x0200u16.to_le_bytes());
        let err = parse(Path::new("x.set"), &v73).unwrap_err().to_string();
        assert!(err.contains("v7.3") && err.contains("-v7"), "{err}");
        let mut hdf = vec![0u8; 1024];
        hdf[512..520].copy_from_slice(b"\x89HDF\r\n\x1a\n");
        assert!(matches!(
            parse(Path::new("x.set"), &hdf),
            Err(Error::Unsupported { .. })
        ));
        let v4 = [0u8, 0, 0, 0, 2, 0, 0, 0].repeat(20);
        assert!(matches!(
            parse(Path::new("x.mat"), &v4),
            Err(Error::Unsupported { .. })
        ));
    }

    /// Every prefix of both fixtures fails cleanly (or, at a variable boundary, parses).
    #[test]
    fn truncation_never_panics() {
        for bytes in [PLAIN, ZIPPED] {
            for len in 0..bytes.len() {
                if let Err(e) = parse(Path::new("t.mat"), &bytes[..len]) {
                    assert!(matches!(e, Error::Malformed { .. }), "{len}: {e}");
                }
            }
        }
    }

    /// Single-byte corruptions anywhere give a value or an error, never a panic.
    #[test]
    fn byte_flips_never_panic() {
        for bytes in [PLAIN, ZIPPED] {
            for pos in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut b = bytes.to_vec();
                    b[pos] ^= flip;
                    let _ = parse(Path::new("f.mat"), &b);
                }
            }
        }
    }

    #[test]
    fn hostile_sizes_are_rejected_before_allocating() {
        // A cell claiming 2^31 items in a 40-byte body.
        let mut f = PLAIN[..128].to_vec();
        let mut body = Vec::new();
        body.extend_from_slice(&[6, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&[5, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x7f, 1, 0, 0, 0]);
        body.extend_from_slice(&[1, 0, 1, 0, b'c', 0, 0, 0]);
        f.extend_from_slice(&[14, 0, 0, 0]);
        f.extend_from_slice(&(body.len() as u32).to_le_bytes());
        f.extend_from_slice(&body);
        let err = parse(Path::new("bomb.mat"), &f).unwrap_err().to_string();
        assert!(
            err.contains("bomb.mat") && err.contains("c:") && err.contains("declares"),
            "{err}"
        );
    }

    #[test]
    fn python_repr_matches_cpython() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (65516.0, "65516.0"),
            (65517.66796875, "65517.66796875"),
            (12.333333015441895, "12.333333015441895"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
        ];
        for &(x, want) in cases {
            assert_eq!(python_float_repr(x), want, "{x:e}");
        }
        assert_eq!(python_f32_repr(12.333333), "12.333333");
        assert_eq!(python_f32_repr(2.5), "2.5");
        assert_eq!(python_f32_repr(1.0), "1.0");
        assert_eq!(python_float_repr(f64::NAN), "nan");
        assert_eq!(python_float_repr(f64::NEG_INFINITY), "-inf");
    }
}
