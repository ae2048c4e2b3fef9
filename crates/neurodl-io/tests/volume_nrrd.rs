//! NRRD: hand-written headers (so the expected geometry and voxel order are independent of
//! neurodl's writer), encodings, detached data, channel axes, round trips and bad files.

use std::path::Path;

use neurodl_io::nrrd::{NrrdEncoding, read_nrrd, write_nrrd_with};
use neurodl_io::{Affine, Error, VoxelData, open_volume, write_volume};

#[path = "volume_support/mod.rs"]
mod common;
use common::{ramp, volume};

/// 2 × 3 × 2 int16 voxels 0..12 in file order (x fastest).
fn raw_i16(big: bool) -> Vec<u8> {
    (0i16..12)
        .flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() })
        .collect()
}

fn write(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

const LPS_HEADER: &str = "NRRD0004\n# a comment\ntype: short\ndimension: 3\nspace: left-posterior-superior\n\
sizes: 2 3 2\nspace directions: (0.5,0,0) (0,-2,0) (0,0,3)\nkinds: domain domain domain\n\
endian: little\nencoding: raw\nspace origin: (10,20,30)\ncontent: test volume\nmy key:=my value\n\n";

#[test]
fn lps_header_becomes_ras_affine_and_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.nrrd");
    write(&path, LPS_HEADER, &raw_i16(false));
    let v = read_nrrd(&path).unwrap();
    // LPS → RAS: negate the first two rows of directions and origin.
    let expected = Affine::from_rows([
        [-0.5, 0.0, 0.0, -10.0],
        [0.0, 2.0, 0.0, -20.0],
        [0.0, 0.0, 3.0, 30.0],
    ]);
    assert_eq!(v.affine, expected);
    assert_eq!(v.affine.axis_codes(), "LAS");
    let VoxelData::I16(a) = &v.data else {
        panic!("short is i16")
    };
    assert_eq!(a.shape(), &[1, 2, 3, 2]);
    // Value = x + 2·(y + 3·z).
    assert_eq!(a[(0, 1, 0, 0)], 1);
    assert_eq!(a[(0, 0, 1, 0)], 2);
    assert_eq!(a[(0, 1, 2, 1)], 11);
    assert_eq!(v.meta.description, "test volume");
    assert_eq!(v.meta.extras["nrrd.space"], "left-posterior-superior");
    assert_eq!(v.meta.extras["nrrd.kv.my key"], "my value");
}

#[test]
fn encodings_endianness_and_detached_data_agree() {
    let dir = tempfile::tempdir().unwrap();
    let reference = {
        let p = dir.path().join("ref.nrrd");
        write(&p, LPS_HEADER, &raw_i16(false));
        read_nrrd(&p).unwrap()
    };
    // Big-endian raw.
    let p = dir.path().join("big.nrrd");
    write(
        &p,
        &LPS_HEADER.replace("endian: little", "endian: big"),
        &raw_i16(true),
    );
    assert_eq!(read_nrrd(&p).unwrap().data, reference.data);
    // Attached gzip.
    let p = dir.path().join("gz.nrrd");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &raw_i16(false)).unwrap();
    let gz = enc.finish().unwrap();
    write(&p, &LPS_HEADER.replace("encoding: raw", "encoding: gzip"), &gz);
    assert_eq!(read_nrrd(&p).unwrap().data, reference.data);
    // ASCII.
    let p = dir.path().join("text.nrrd");
    let text: String = (0..12).map(|v| format!("{v}\n")).collect();
    write(
        &p,
        &LPS_HEADER.replace("encoding: raw", "encoding: ascii"),
        text.as_bytes(),
    );
    assert_eq!(read_nrrd(&p).unwrap().data, reference.data);
    // Detached raw with a byte skip, and detached with byte skip -1 (data at the end).
    let mut skipped = vec![7u8; 5];
    skipped.extend(raw_i16(false));
    std::fs::write(dir.path().join("d.raw"), &skipped).unwrap();
    let p = dir.path().join("d.nhdr");
    write(
        &p,
        &LPS_HEADER.replace("\n\n", "\ndata file: d.raw\nbyte skip: 5\n\n"),
        &[],
    );
    assert_eq!(open_volume(&p).unwrap().data, reference.data);
    write(
        &p,
        &LPS_HEADER.replace("\n\n", "\ndata file: d.raw\nbyte skip: -1\n\n"),
        &[],
    );
    assert_eq!(open_volume(&p).unwrap().data, reference.data);
    // Attached raw after a skipped line and bytes.
    let p = dir.path().join("skip.nrrd");
    let mut data = b"junk line\nXYZ".to_vec();
    data.extend(raw_i16(false));
    write(
        &p,
        &LPS_HEADER.replace("\n\n", "\nline skip: 1\nbyte skip: 3\n\n"),
        &data,
    );
    assert_eq!(read_nrrd(&p).unwrap().data, reference.data);
}

#[test]
fn vector_axis_becomes_channels_first_or_last() {
    let dir = tempfile::tempdir().unwrap();
    // 2 channels × 2 × 1 × 1, channel fastest: values c + 2x.
    let first = "NRRD0004\ntype: float\ndimension: 4\nspace: RAS\nsizes: 2 2 1 1\n\
space directions: none (1,0,0) (0,1,0) (0,0,1)\nkinds: vector domain domain domain\nendian: little\nencoding: raw\n\n";
    let data: Vec<u8> = [0f32, 1.0, 2.0, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = dir.path().join("first.nrrd");
    write(&p, first, &data);
    let v = read_nrrd(&p).unwrap();
    let VoxelData::F32(a) = &v.data else { panic!() };
    assert_eq!(a.shape(), &[2, 2, 1, 1]);
    assert_eq!((a[(1, 0, 0, 0)], a[(0, 1, 0, 0)]), (1.0, 2.0));
    assert_eq!(v.affine, Affine::identity());
    // Channel axis last (time-like, X fastest): values x + 2c.
    let last = first
        .replace("sizes: 2 2 1 1", "sizes: 2 1 1 2")
        .replace(
            "space directions: none (1,0,0) (0,1,0) (0,0,1)",
            "space directions: (1,0,0) (0,1,0) (0,0,1) none",
        )
        .replace(
            "kinds: vector domain domain domain",
            "kinds: domain domain domain list",
        );
    let p = dir.path().join("last.nrrd");
    write(&p, &last, &data);
    let v = read_nrrd(&p).unwrap();
    let VoxelData::F32(a) = &v.data else { panic!() };
    assert_eq!((a[(0, 1, 0, 0)], a[(1, 0, 0, 0)]), (1.0, 2.0));
    // Both round trip with their channel axis and kind.
    for name in ["first.nrrd", "last.nrrd"] {
        let v = read_nrrd(&dir.path().join(name)).unwrap();
        let out = dir.path().join(format!("out_{name}"));
        write_volume(&out, &v).unwrap();
        let back = read_nrrd(&out).unwrap();
        assert_eq!(back.data, v.data, "{name}");
        assert_eq!(back.meta.extras, v.meta.extras, "{name}");
    }
}

#[test]
fn writes_every_encoding_and_reads_it_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let affine = common::affine(common::rotation(0, 0.7), [0.3, 0.7, 1.1], [1.0 / 3.0, -2.5, 1e-7]);
    let v = volume(VoxelData::F64(ramp([1, 3, 4, 5]).mapv(|x| x / 3.0)), affine);
    for (name, enc) in [
        ("a.nrrd", NrrdEncoding::Raw),
        ("b.nrrd", NrrdEncoding::Gzip),
        ("c.nrrd", NrrdEncoding::Ascii),
        ("d.nhdr", NrrdEncoding::Gzip),
    ] {
        let path = dir.path().join(name);
        write_nrrd_with(&path, &v, enc).unwrap();
        let back = read_nrrd(&path).unwrap();
        assert_eq!(back.data, v.data, "{name}");
        // Shortest round-trip decimal text: the affine is bit-exact.
        assert_eq!(back.affine, v.affine, "{name}");
        assert_eq!(back.meta.extras["nrrd.space"], "left-posterior-superior");
    }
    assert!(dir.path().join("d.raw.gz").exists());
}

fn refused(dir: &Path, name: &str, header: &str, data: &[u8], needle: &str) -> Error {
    let p = dir.join(name);
    write(&p, header, data);
    let err = read_nrrd(&p).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(needle) && text.contains(name), "{name}: {text}");
    err
}

#[test]
fn broken_headers_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw = raw_i16(false);
    refused(
        d,
        "magic.nrrd",
        &LPS_HEADER.replace("NRRD0004", "NRRX0004"),
        &raw,
        "magic",
    );
    refused(
        d,
        "type.nrrd",
        &LPS_HEADER.replace("type: short\n", ""),
        &raw,
        "type: required field is missing",
    );
    let e = refused(
        d,
        "int64.nrrd",
        &LPS_HEADER.replace("type: short", "type: int64"),
        &raw,
        "int64",
    );
    assert!(matches!(e, Error::Unsupported { .. }));
    refused(
        d,
        "sizes.nrrd",
        &LPS_HEADER.replace("sizes: 2 3 2", "sizes: 2 0 2"),
        &raw,
        "sizes",
    );
    refused(
        d,
        "count.nrrd",
        &LPS_HEADER.replace("sizes: 2 3 2", "sizes: 2 3"),
        &raw,
        "2 sizes for dimension 3",
    );
    refused(
        d,
        "space.nrrd",
        &LPS_HEADER.replace("left-posterior-superior", "scanner-xyz"),
        &raw,
        "scanner-xyz",
    );
    refused(
        d,
        "endian.nrrd",
        &LPS_HEADER.replace("endian: little\n", ""),
        &raw,
        "endian",
    );
    refused(
        d,
        "dirs.nrrd",
        &LPS_HEADER.replace("(0,-2,0)", "(0,x,0)"),
        &raw,
        "space directions",
    );
    refused(d, "short.nrrd", LPS_HEADER, &raw[..20], "file ends");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    let gz = enc.finish().unwrap();
    refused(
        d,
        "cut.nrrd",
        &LPS_HEADER.replace("encoding: raw", "encoding: gzip"),
        &gz[..gz.len() / 2],
        "gzip",
    );
    refused(
        d,
        "ascii.nrrd",
        &LPS_HEADER.replace("encoding: raw", "encoding: ascii"),
        b"1 2 x 4 5 6 7 8 9 10 11 12",
        "\"x\"",
    );
    // A header claiming far more data than the file holds is refused before allocating it.
    let huge = LPS_HEADER.replace("sizes: 2 3 2", "sizes: 100000 100000 1000");
    refused(d, "huge.nrrd", &huge, &raw, "file ends");
    refused(
        d,
        "hugegz.nrrd",
        &huge.replace("encoding: raw", "encoding: gzip"),
        &gz,
        "gzip stream ends early",
    );
    refused(
        d,
        "missing.nhdr",
        &LPS_HEADER.replace("\n\n", "\ndata file: nowhere.raw\n\n"),
        &[],
        "nowhere.raw",
    );
}
