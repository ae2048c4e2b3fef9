//! Volume reading against nibabel 5.3.2 (NIfTI) and SimpleITK 2.5.7 (NRRD).
//!
//! `tests/golden/volume_io/volumes.json` was written by
//! `tests/reference/generate_volume_goldens.py`: for tiny header-case fixtures it wrote
//! with nibabel (`fixtures/`: qform-only oblique with qfac -1, neither form, qfac 0,
//! scl_slope, big-endian sform code 4 beside a different qform, big-endian 4-D), for real
//! files (MSD hippocampus cases,
//! a brain-extracted T1, NRRD tumour scans) and nibabel's own test images (big-endian,
//! 4-D, NIfTI-2, sform-only), the reference's affine, axis codes, shape, stored dtype,
//! scaling, xform codes, fifteen voxels and the sum / sum of squares of all stored values.
//!
//! Tolerances, and why:
//! - shape, dtype, axis codes, xform codes, byte order, voxel values: exact (voxels are
//!   stored values, not computed).
//! - affine: 1e-12 of its largest entry. Both sides start from the same stored f32/f64
//!   header bits; nibabel builds the qform rotation in long double and SimpleITK
//!   normalises the NRRD direction vectors before multiplying the spacing back, so only
//!   the last bits of f64 arithmetic may differ. (The 1e-6 that f32 storage needs applies
//!   only to files *written* from an f64 affine: see `write_files_for_reference`.)
//! - sums: relative 1e-9 (f64 summation order differs; integer data sum exactly).
//!
//! Shared-data records skip when `shared/data` is absent, nibabel records when its test
//! data folder is (`NEURODL_NIBABEL_DATA` or the reference venv's `nibabel/tests/data`).

// Matrix entries are compared by (row, column) index, which the messages print.
#![allow(clippy::needless_range_loop)]

use std::path::{Path, PathBuf};

use neurodl_io::testdata::{repo_root, shared_data_dir};
use neurodl_io::{Volume, VoxelData, open_volume, write_volume};
use serde_json::{Value, json};

fn golden() -> Value {
    let path = repo_root().join("tests/golden/volume_io/volumes.json");
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("golden JSON")
}

fn nibabel_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("NEURODL_NIBABEL_DATA") {
        return Some(PathBuf::from(d));
    }
    let lib = Path::new("/work/venv-torch/lib");
    let found = std::fs::read_dir(lib).ok()?.filter_map(|e| e.ok()).find_map(|e| {
        let d = e.path().join("site-packages/nibabel/tests/data");
        d.is_dir().then_some(d)
    });
    if found.is_none() {
        eprintln!("skipped nibabel records: set NEURODL_NIBABEL_DATA to nibabel/tests/data");
    }
    found
}

fn stored(data: &VoxelData, idx: [usize; 4]) -> f64 {
    let i = (idx[0], idx[1], idx[2], idx[3]);
    match data {
        VoxelData::U8(a) => a[i] as f64,
        VoxelData::I8(a) => a[i] as f64,
        VoxelData::U16(a) => a[i] as f64,
        VoxelData::I16(a) => a[i] as f64,
        VoxelData::U32(a) => a[i] as f64,
        VoxelData::I32(a) => a[i] as f64,
        VoxelData::F32(a) => a[i] as f64,
        VoxelData::F64(a) => a[i],
    }
}

fn sums(v: &Volume) -> (f64, f64) {
    let all = v.data.to_f64_scaled(1.0, 0.0);
    (all.iter().sum(), all.iter().map(|x| x * x).sum())
}

fn rel_close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn check_record(rec: &Value, path: &Path) -> Vec<String> {
    let name = rec["name"].as_str().unwrap();
    let mut bad = Vec::new();
    let v = match open_volume(path) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let shape: Vec<usize> = rec["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    if v.shape().to_vec() != shape {
        bad.push(format!("{name}: shape {:?} vs {shape:?}", v.shape()));
        return bad;
    }
    let dtype = serde_json::to_value(v.data.voxel_type()).unwrap();
    if dtype != rec["dtype"] {
        bad.push(format!("{name}: dtype {dtype} vs {}", rec["dtype"]));
    }
    let want: Vec<Vec<f64>> = serde_json::from_value(rec["affine"].clone()).unwrap();
    let scale = want.iter().flatten().fold(1.0f64, |m, x| m.max(x.abs()));
    for r in 0..4 {
        for c in 0..4 {
            let got = v.affine.matrix[r][c];
            if (got - want[r][c]).abs() > 1e-12 * scale {
                bad.push(format!("{name}: affine[{r}][{c}] {got:?} vs {:?}", want[r][c]));
            }
        }
    }
    if v.affine.axis_codes() != rec["axis_codes"].as_str().unwrap() {
        bad.push(format!(
            "{name}: axis codes {} vs {}",
            v.affine.axis_codes(),
            rec["axis_codes"]
        ));
    }
    let scaling = v.scaling.map(|s| json!([s.slope, s.intercept]));
    if scaling.unwrap_or(Value::Null) != rec["scaling"] {
        bad.push(format!("{name}: scaling {:?} vs {}", v.scaling, rec["scaling"]));
    }
    for key in ["qform_code", "sform_code"] {
        if let Some(code) = rec.get(key) {
            let got = v
                .meta
                .extras
                .get(&format!("nifti.{key}"))
                .cloned()
                .unwrap_or_default();
            if code.as_i64().map(|c| c.to_string()).as_ref() != Some(&got) {
                bad.push(format!("{name}: {key} {got} vs {code}"));
            }
        }
    }
    if let Some(big) = rec.get("big_endian").and_then(Value::as_bool) {
        let got = v.meta.extras.get("nifti.endian").map(String::as_str) == Some("big");
        if got != big {
            bad.push(format!("{name}: big-endian {got} vs {big}"));
        }
    }
    for voxel in rec["voxels"].as_array().unwrap() {
        let p: Vec<f64> = serde_json::from_value(voxel.clone()).unwrap();
        let idx = [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize];
        let got = stored(&v.data, idx);
        if got != p[4] {
            bad.push(format!("{name}: voxel {idx:?} = {got} vs {}", p[4]));
        }
    }
    let (sum, sum_sq) = sums(&v);
    for (what, got, want) in [("sum", sum, &rec["sum"]), ("sum_sq", sum_sq, &rec["sum_sq"])] {
        let want = want.as_f64().unwrap();
        if !rel_close(got, want, 1e-9) {
            bad.push(format!("{name}: {what} {got} vs {want}"));
        }
    }
    bad
}

#[test]
fn reads_match_nibabel_and_simpleitk() {
    let golden = golden();
    let shared = shared_data_dir();
    let nib = nibabel_data_dir();
    let mut checked = 0;
    let mut bad = Vec::new();
    for rec in golden["records"].as_array().unwrap() {
        let name = rec["name"].as_str().unwrap();
        let path = if let Some(rel) = name.strip_prefix("fixture:") {
            repo_root().join("tests/golden/volume_io/fixtures").join(rel)
        } else if let Some(rel) = name.strip_prefix("shared:") {
            match &shared {
                Some(d) => d.join(rel),
                None => continue,
            }
        } else if let Some(rel) = name.strip_prefix("nibabel:") {
            match &nib {
                Some(d) => d.join(rel),
                None => continue,
            }
        } else {
            panic!("unknown record source {name}");
        };
        if !path.exists() {
            eprintln!("skipped {name}: {} is absent", path.display());
            continue;
        }
        bad.extend(check_record(rec, &path));
        checked += 1;
    }
    eprintln!("checked {checked} volumes against the reference");
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

/// Every golden file read → written → read again is identical: data, affine bit for bit,
/// and the stored header geometry fields.
#[test]
fn golden_files_round_trip_exactly() {
    let golden = golden();
    let shared = shared_data_dir();
    let nib = nibabel_data_dir();
    let dir = tempfile::tempdir().unwrap();
    for (i, rec) in golden["records"].as_array().unwrap().iter().enumerate() {
        let name = rec["name"].as_str().unwrap();
        let path = match (name.split_once(':').unwrap(), &shared, &nib) {
            (("fixture", rel), _, _) => repo_root().join("tests/golden/volume_io/fixtures").join(rel),
            (("shared", rel), Some(d), _) => d.join(rel),
            (("nibabel", rel), _, Some(d)) => d.join(rel),
            _ => continue,
        };
        if !path.exists() {
            continue;
        }
        let original = open_volume(&path).unwrap();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = dir.path().join(format!("{i}_{file_name}"));
        write_volume(&out, &original).unwrap();
        let back = open_volume(&out).unwrap();
        assert_eq!(back.data, original.data, "{name}: data");
        assert_eq!(back.affine, original.affine, "{name}: affine");
        assert_eq!(back.scaling, original.scaling, "{name}: scaling");
        let mut a = original.meta.extras.clone();
        let mut b = back.meta.extras.clone();
        // The header's own byte layout fields may legitimately change (gzip vs raw
        // is chosen by the output name, which keeps the original's).
        a.remove("nrrd.kv.NRRD_space");
        b.remove("nrrd.kv.NRRD_space");
        assert_eq!(a, b, "{name}: header fields");
        assert_eq!(
            back.meta.description, original.meta.description,
            "{name}: description"
        );
    }
}

/// Writes files for `generate_volume_goldens.py --verify-written DIR` (nibabel / SimpleITK
/// read neurodl-written files): `NEURODL_VOLUME_WRITTEN=DIR cargo test -p neurodl-io
/// --test volume_golden -- --ignored`.
#[test]
#[ignore = "writes files for the Python check; run with NEURODL_VOLUME_WRITTEN=DIR"]
fn write_files_for_reference() {
    let dir = PathBuf::from(std::env::var_os("NEURODL_VOLUME_WRITTEN").expect("set NEURODL_VOLUME_WRITTEN"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, volume) in common::synthetic_volumes() {
        let path = dir.join(&name);
        if name.contains("nifti2") {
            neurodl_io::nifti::write_nifti_version(&path, &volume, neurodl_io::nifti::NiftiVersion::Two)
                .unwrap();
        } else {
            write_volume(&path, &volume).unwrap();
        }
        // What a reader should see is what neurodl reads back (NIfTI-1 narrows to f32).
        let back = open_volume(&path).unwrap();
        let (sum, _) = sums(&back);
        let expect = json!({
            "file": name,
            "affine": back.affine.matrix,
            "shape": back.shape(),
            "sum": sum,
            "scaling": back.scaling.map(|s| [s.slope, s.intercept]),
        });
        std::fs::write(dir.join(format!("{name}.expect.json")), expect.to_string()).unwrap();
        // And neurodl's read of its own file is the affine it was given, to f32 precision.
        let scale = volume
            .affine
            .matrix
            .iter()
            .flatten()
            .fold(1.0f64, |m, x| m.max(x.abs()));
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (back.affine.matrix[r][c] - volume.affine.matrix[r][c]).abs() <= 1e-6 * scale,
                    "{name}"
                );
            }
        }
    }
}

#[path = "volume_support/mod.rs"]
mod common;
