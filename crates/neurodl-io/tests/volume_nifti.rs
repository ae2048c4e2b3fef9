//! NIfTI-1/2: round trips, nibabel's geometry rules on hand-edited headers, cropped reads,
//! and every kind of broken file refused with an error that names file, field and problem.

// Matrix entries are compared by (row, column) index, which the messages print.
#![allow(clippy::needless_range_loop)]

use std::path::{Path, PathBuf};

use neurodl_io::nifti::{
    NiftiVersion, read_nifti, read_nifti_header, read_nifti_region, write_nifti_version,
};
use neurodl_io::testdata::shared_data_dir;
use neurodl_io::{Affine, Error, Volume, VoxelData, open_volume, write_volume};

#[path = "volume_support/mod.rs"]
mod common;
use common::{affine, ramp, rotation, synthetic_volumes, volume};

fn assert_affine_close(a: &Affine, b: &Affine, tol: f64, what: &str) {
    for r in 0..4 {
        for c in 0..4 {
            assert!(
                (a.matrix[r][c] - b.matrix[r][c]).abs() <= tol,
                "{what}: [{r}][{c}] {} vs {}\n{a:?}\n{b:?}",
                a.matrix[r][c],
                b.matrix[r][c]
            );
        }
    }
}

/// Writes a volume, then the file read back must hold the same voxels and (to the f32
/// precision NIfTI-1 stores) the same affine; a second write of what was read must then
/// reproduce the first file's header geometry and affine exactly.
#[test]
fn synthetic_volumes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (name, v) in synthetic_volumes() {
        let path = dir.path().join(&name);
        if name.contains("nifti2") {
            write_nifti_version(&path, &v, NiftiVersion::Two).unwrap();
        } else {
            write_volume(&path, &v).unwrap();
        }
        let back = open_volume(&path).unwrap();
        assert_eq!(back.data, v.data, "{name}");
        assert_eq!(back.scaling, v.scaling, "{name}");
        // 1e-6 relative: f32 storage of an f64 affine (NRRD and NIfTI-2 are exact).
        let exact = name.contains("nifti2") || name.ends_with(".nrrd") || name.ends_with(".nhdr");
        let scale = v
            .affine
            .matrix
            .iter()
            .flatten()
            .fold(1.0f64, |m, x| m.max(x.abs()));
        assert_affine_close(
            &back.affine,
            &v.affine,
            if exact { 0.0 } else { 1e-6 * scale },
            &name,
        );
        let again = dir.path().join(format!("again_{name}"));
        write_volume(&again, &back).unwrap();
        let third = open_volume(&again).unwrap();
        assert_eq!(third.affine, back.affine, "{name}: bit-exact on the second trip");
        assert_eq!(third.data, back.data, "{name}");
        assert_eq!(third.meta.extras, back.meta.extras, "{name}: header fields");
    }
}

#[test]
fn written_headers_follow_nibabel_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let all = synthetic_volumes();
    let get = |n: &str| all.iter().find(|(name, _)| name == n).unwrap().1.clone();
    // A fresh volume: sform code 2 (aligned), qform code 0 with the qform fields filled.
    let path = dir.path().join("fresh.nii");
    write_volume(&path, &get("oblique_f32.nii.gz")).unwrap();
    let h = read_nifti_header(&path).unwrap();
    assert_eq!((h.sform_code, h.qform_code), (2, 0));
    assert_eq!(h.version, NiftiVersion::One);
    let q = h.qform_affine(&path).unwrap();
    assert_affine_close(
        &q,
        &get("oblique_f32.nii.gz").affine,
        1e-5,
        "qform of a fresh write",
    );
    assert_eq!(&h.pixdim[1..4], &[1.5f32 as f64, 2.0, 2.5]);
    // Qform-only, big-endian and NIfTI-2 are honoured.
    let path = dir.path().join("q.nii");
    write_volume(&path, &get("qform_only_i16.nii")).unwrap();
    let h = read_nifti_header(&path).unwrap();
    assert_eq!((h.sform_code, h.qform_code), (0, 1));
    let path = dir.path().join("big.nii");
    write_volume(&path, &get("big_endian_i32.nii")).unwrap();
    assert!(read_nifti_header(&path).unwrap().big_endian);
    assert_eq!(std::fs::read(&path).unwrap()[..4], 348i32.to_be_bytes());
    // qfac -1: the flipped affine has a negative determinant.
    assert_eq!(read_nifti_header(&path).unwrap().pixdim[0], -1.0);
    let path = dir.path().join("two.nii");
    write_nifti_version(&path, &get("oblique_nifti2_f64.nii"), NiftiVersion::Two).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[4..8], b"n+2\0");
    assert_eq!(bytes.len(), 544 + 2 * 3 * 3 * 4 * 8);
    // A resampled volume (affine changed, stale NIfTI fields) gets geometry from its affine.
    let mut moved = open_volume(&dir.path().join("q.nii")).unwrap();
    moved.affine = Affine::from_spacing([3.0, 3.0, 3.0]);
    let path = dir.path().join("moved.nii");
    write_volume(&path, &moved).unwrap();
    assert_eq!(
        open_volume(&path).unwrap().affine,
        Affine::from_spacing([3.0, 3.0, 3.0])
    );
}

// Byte offsets of NIfTI-1 fields (little-endian files written by neurodl).
const DIM: usize = 40;
const DATATYPE: usize = 70;
const PIXDIM: usize = 76;
const VOX_OFFSET: usize = 108;
const SCL_SLOPE: usize = 112;
const SCL_INTER: usize = 116;
const QFORM_CODE: usize = 252;
const SFORM_CODE: usize = 254;
const MAGIC: usize = 344;

fn patched(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let v = volume(
        VoxelData::I16(ramp([1, 4, 5, 6]).mapv(|x| x as i16)),
        affine(rotation(1, 0.25), [2.0, 3.0, 4.0], [1.0, 2.0, 3.0]),
    );
    let path = dir.join(name);
    write_volume(&path, &v).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    edit(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    path
}

fn put_i16(b: &mut [u8], at: usize, v: i16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn geometry_follows_nibabel_rules() {
    let dir = tempfile::tempdir().unwrap();
    let base = read_nifti(&patched(dir.path(), "base.nii", |_| {})).unwrap();
    // Sform only (qform_code 0): the sform.
    let p = patched(dir.path(), "sform.nii", |b| put_i16(b, QFORM_CODE, 0));
    assert_eq!(read_nifti(&p).unwrap().affine, base.affine);
    // Qform only: the quaternion form, equal to the rigid affine to f32 precision.
    let p = patched(dir.path(), "qform.nii", |b| {
        put_i16(b, SFORM_CODE, 0);
        put_i16(b, QFORM_CODE, 1);
        // Spoil the sform so that using it would show.
        put_f32(b, 280, 99.0);
    });
    let q = read_nifti(&p).unwrap().affine;
    assert_affine_close(&q, &base.affine, 1e-5, "qform-only");
    // Both codes present: nibabel prefers the sform.
    let p = patched(dir.path(), "both.nii", |b| {
        put_i16(b, QFORM_CODE, 1);
        put_f32(b, 268, 500.0); // qoffset_x: would move the origin if the qform were used
    });
    assert_eq!(read_nifti(&p).unwrap().affine, base.affine);
    // Invalid codes count as 0 (nibabel's load-time fix), so the qform wins here.
    let p = patched(dir.path(), "badcode.nii", |b| {
        put_i16(b, SFORM_CODE, 9);
        put_i16(b, QFORM_CODE, 1);
    });
    assert_affine_close(
        &read_nifti(&p).unwrap().affine,
        &base.affine,
        1e-5,
        "sform_code 9 ignored",
    );
    // Neither: nibabel's get_base_affine, diag(-2, 3, 4) centred on the 4×5×6 grid;
    // qfac 0 is read as 1 and a zero pixdim as 1.
    let p = patched(dir.path(), "neither.nii", |b| {
        put_i16(b, SFORM_CODE, 0);
        put_i16(b, QFORM_CODE, 0);
        put_f32(b, PIXDIM, 0.0);
        put_f32(b, PIXDIM + 12, 0.0);
    });
    let expected = Affine::from_rows([
        [-2.0, 0.0, 0.0, 3.0],
        [0.0, 3.0, 0.0, -6.0],
        [0.0, 0.0, 1.0, -2.5],
    ]);
    assert_eq!(read_nifti(&p).unwrap().affine, expected);
    // qfac 0 with a qform: treated as +1 (not as a flip).
    let p = patched(dir.path(), "qfac0.nii", |b| {
        put_i16(b, SFORM_CODE, 0);
        put_i16(b, QFORM_CODE, 1);
        put_f32(b, PIXDIM, 0.0);
    });
    let a = read_nifti(&p).unwrap().affine;
    assert_affine_close(&a, &base.affine, 1e-5, "qfac 0");
}

#[test]
fn scaling_follows_nibabel() {
    let dir = tempfile::tempdir().unwrap();
    let slope = |s: f32, i: f32| {
        let p = patched(dir.path(), "scl.nii", |b| {
            put_f32(b, SCL_SLOPE, s);
            put_f32(b, SCL_INTER, i);
        });
        read_nifti(&p).map(|v| v.scaling.map(|s| (s.slope, s.intercept)))
    };
    assert_eq!(slope(0.0, 5.0).unwrap(), None, "slope 0 means no scaling");
    assert_eq!(slope(f32::NAN, 5.0).unwrap(), None);
    assert_eq!(slope(2.0, -1.5).unwrap(), Some((2.0, -1.5)));
    let err = slope(2.0, f32::INFINITY).unwrap_err().to_string();
    assert!(err.contains("scl_inter"), "{err}");
    let p = patched(dir.path(), "scaled.nii", |b| {
        put_f32(b, SCL_SLOPE, 0.5);
        put_f32(b, SCL_INTER, 0.0);
    });
    let v = read_nifti(&p).unwrap();
    assert_eq!(v.to_f32()[(0, 1, 0, 0)], (100.0 - 300.0) * 0.5);
}

#[test]
fn extensions_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let plain = read_nifti(&patched(dir.path(), "plain.nii", |_| {})).unwrap();
    let p = patched(dir.path(), "ext.nii", |b| {
        // One 32-byte extension (esize 32, ecode 6 = comment) between header and data.
        let mut ext = vec![0u8; 32];
        ext[..4].copy_from_slice(&32i32.to_le_bytes());
        ext[4..8].copy_from_slice(&6i32.to_le_bytes());
        ext[8..13].copy_from_slice(b"hello");
        b[348] = 1;
        b.splice(352..352, ext);
        put_f32(b, VOX_OFFSET, 384.0);
    });
    assert_eq!(read_nifti(&p).unwrap().data, plain.data);
    // An extension claiming to run past vox_offset is refused.
    let p = patched(dir.path(), "badext.nii", |b| {
        let mut ext = vec![0u8; 32];
        ext[..4].copy_from_slice(&64i32.to_le_bytes());
        b[348] = 1;
        b.splice(352..352, ext);
        put_f32(b, VOX_OFFSET, 384.0);
    });
    let err = read_nifti(&p).unwrap_err().to_string();
    assert!(err.contains("extension") && err.contains("esize 64"), "{err}");
}

fn malformed(path: &Path, field: &str, problem: &str) {
    match read_nifti(path) {
        Err(Error::Malformed {
            path: p,
            field: f,
            problem: pr,
        }) => {
            assert_eq!(p, path);
            assert!(f.contains(field), "field {f:?} should name {field:?} ({pr})");
            assert!(pr.contains(problem), "problem {pr:?} should say {problem:?}");
        }
        other => panic!("{}: expected Malformed({field}), got {other:?}", path.display()),
    }
}

#[test]
fn broken_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    malformed(
        &patched(d, "short.nii", |b| b.truncate(200)),
        "header",
        "file ends at byte 200",
    );
    malformed(
        &patched(d, "empty.nii", |b| b.clear()),
        "sizeof_hdr",
        "file ends at byte 0",
    );
    malformed(
        &patched(d, "magic.nii", |b| b[MAGIC..MAGIC + 4].copy_from_slice(b"abcd")),
        "magic",
        "expected",
    );
    malformed(
        &patched(d, "size.nii", |b| b[..4].copy_from_slice(&349i32.to_le_bytes())),
        "sizeof_hdr",
        "349",
    );
    malformed(&patched(d, "ndim.nii", |b| put_i16(b, DIM, 9)), "dim[0]", "9");
    malformed(
        &patched(d, "negdim.nii", |b| put_i16(b, DIM + 4, -3)),
        "dim[2]",
        "-3",
    );
    malformed(
        &patched(d, "zerodim.nii", |b| put_i16(b, DIM + 2, 0)),
        "dim[1]",
        "must be positive",
    );
    malformed(
        &patched(d, "data.nii", |b| b.truncate(b.len() - 10)),
        "data",
        "file ends",
    );
    // Dimensions claiming ~2 TB: refused from the file length, nothing allocated.
    let huge = |b: &mut Vec<u8>| {
        put_i16(b, DIM + 2, 32000);
        put_i16(b, DIM + 4, 32000);
        put_i16(b, DIM + 6, 1000);
    };
    malformed(&patched(d, "huge.nii", huge), "data", "file ends");
    malformed(
        &patched(d, "offset.nii", |b| put_f32(b, VOX_OFFSET, 100.0)),
        "vox_offset",
        "352",
    );
    let p = patched(d, "complex.nii", |b| put_i16(b, DATATYPE, 32));
    let err = read_nifti(&p).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported { .. }) && err.to_string().contains("complex64"),
        "{err}"
    );
    let p = patched(d, "pair.nii", |b| b[MAGIC..MAGIC + 4].copy_from_slice(b"ni1\0"));
    assert!(matches!(read_nifti(&p).unwrap_err(), Error::Unsupported { .. }));
    let p = patched(d, "dim5.nii", |b| {
        put_i16(b, DIM, 5);
        put_i16(b, DIM + 10, 2);
    });
    assert!(read_nifti(&p).unwrap_err().to_string().contains("dim[5]"));
    // A gzip stream cut short, and one with corrupt bytes.
    let v = volume(
        VoxelData::F32(ramp([1, 8, 8, 8]).mapv(|x| x as f32)),
        Affine::identity(),
    );
    let gz = d.join("cut.nii.gz");
    write_volume(&gz, &v).unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    malformed(&gz, "data", "gzip stream ends early");
    // The same 2 TB claim in a gzip file: the buffer grows only as data arrives.
    let huge_gz = d.join("huge.nii.gz");
    let raw = std::fs::read(patched(d, "huge_src.nii", huge)).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    std::fs::write(&huge_gz, enc.finish().unwrap()).unwrap();
    malformed(&huge_gz, "data", "gzip stream ends early");
    let mut bad = bytes.clone();
    let n = bad.len();
    for b in &mut bad[20..n - 8] {
        *b ^= 0x5a;
    }
    std::fs::write(&gz, &bad).unwrap();
    let err = read_nifti(&gz).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
}

#[test]
fn region_reads_equal_crops_of_full_reads() {
    let dir = tempfile::tempdir().unwrap();
    let v = volume(
        VoxelData::I16(ramp([2, 9, 8, 7]).mapv(|x| x as i16)),
        affine(rotation(2, 0.4), [1.0, 2.0, 3.0], [5.0, 6.0, 7.0]),
    );
    for name in ["r.nii", "r.nii.gz"] {
        let path = dir.path().join(name);
        write_volume(&path, &v).unwrap();
        let full = read_nifti(&path).unwrap();
        let (start, shape) = ([2, 1, 3], [4, 6, 2]);
        let crop = read_nifti_region(&path, start, shape).unwrap();
        let expected = match &full.data {
            VoxelData::I16(a) => a.slice(ndarray::s![.., 2..6, 1..7, 3..5]).to_owned(),
            _ => unreachable!(),
        };
        assert_eq!(crop.data, VoxelData::I16(expected), "{name}");
        // Voxel (0,0,0) of the crop sits where voxel `start` of the full volume does.
        let want = full.affine.apply([2.0, 1.0, 3.0]);
        let got = crop.affine.apply([0.0, 0.0, 0.0]);
        for a in 0..3 {
            assert!((want[a] - got[a]).abs() < 1e-12, "{name}");
        }
        assert!(
            read_nifti_region(&path, [8, 0, 0], [2, 1, 1]).is_err(),
            "outside the volume"
        );
    }
}

#[test]
fn region_read_of_a_real_scan() {
    let Some(data) = shared_data_dir() else { return };
    let path = data.join("mri/single_subject/bet.nii.gz");
    if !path.exists() {
        eprintln!("skipped: {} absent", path.display());
        return;
    }
    let full = read_nifti(&path).unwrap();
    let crop = read_nifti_region(&path, [40, 50, 60], [32, 16, 8]).unwrap();
    let VoxelData::U8(a) = &full.data else {
        panic!("bet is uint8")
    };
    assert_eq!(
        crop.data,
        VoxelData::U8(a.slice(ndarray::s![.., 40..72, 50..66, 60..68]).to_owned())
    );
}

#[test]
fn volumes_convert_for_training() {
    // A uint8 label map stays uint8 and converts to labels without loss.
    let dir = tempfile::tempdir().unwrap();
    let labels = ndarray::Array3::from_shape_fn((3, 4, 5), |(x, y, z)| ((x + y + z) % 3) as u16);
    let v = Volume::from_labels(labels.view(), Affine::from_spacing([1.0, 1.0, 2.0]));
    let path = dir.path().join("lab.nii.gz");
    write_volume(&path, &v).unwrap();
    let back = open_volume(&path).unwrap();
    assert_eq!(back.data.voxel_type(), neurodl_io::VoxelType::U8);
    assert_eq!(back.to_labels().unwrap(), labels);
    assert_eq!(back.spacing(), [1.0, 1.0, 2.0]);
}
