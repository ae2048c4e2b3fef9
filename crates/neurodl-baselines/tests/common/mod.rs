//! Shared helpers: the committed goldens in `tests/golden/baselines/` and the real
//! EEG epochs stored beside them (no shared data needed).

#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/baselines")
}

/// The golden `name` (without `.json`).
pub fn golden(name: &str) -> Value {
    let path = golden_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 60 stored epochs `[60, 16, 321]` (float32 on disk, widened to f64 exactly as
/// the Python reference widened them) and the golden's `data.json`.
pub fn epochs() -> (Array3<f64>, Value) {
    let meta = golden("data");
    let path = golden_dir().join(meta["file"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sha,
        meta["sha256"].as_str().unwrap(),
        "{} is not the file the goldens were made from",
        path.display()
    );
    let shape: Vec<usize> = meta["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let values: Vec<f64> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
        .collect();
    (
        Array3::from_shape_vec((shape[0], shape[1], shape[2]), values).unwrap(),
        meta,
    )
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

pub fn arr1(v: &Value) -> Array1<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

pub fn arr2(v: &Value) -> Array2<f64> {
    let rows: Vec<Array1<f64>> = v.as_array().unwrap().iter().map(arr1).collect();
    let n = rows.first().map_or(0, |r| r.len());
    Array2::from_shape_fn((rows.len(), n), |(i, j)| rows[i][j])
}

pub fn arr3(v: &Value) -> Array3<f64> {
    let mats: Vec<Array2<f64>> = v.as_array().unwrap().iter().map(arr2).collect();
    let (r, c) = mats[0].dim();
    Array3::from_shape_fn((mats.len(), r, c), |(k, i, j)| mats[k][[i, j]])
}

/// A named case's epochs and labels: the binary set (T1 vs T2) or all 60 (T0/T1/T2).
pub fn dataset(binary: bool) -> (Array3<f64>, Vec<usize>) {
    let (x, meta) = epochs();
    if binary {
        let idx = usizes(&meta["binary_epochs"]);
        (x.select(Axis(0), &idx), usizes(&meta["labels_binary"]))
    } else {
        (x, usizes(&meta["labels_multiclass"]))
    }
}

/// `max |a - b| / max |b|`: the error relative to the reference's scale.
pub fn rel_err(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shape");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// `max |a - b|`.
pub fn abs_err(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shape");
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// Largest relative error between the rows of `a` and `b`, each row compared
/// after flipping `a`'s row to `b`'s sign (eigenvectors are defined up to sign),
/// and relative to that row's largest entry. Returns the error and the signs.
pub fn rows_up_to_sign(a: ArrayView2<f64>, b: ArrayView2<f64>) -> (f64, Vec<f64>) {
    assert_eq!(a.dim(), b.dim(), "shape");
    let mut worst = 0.0f64;
    let mut signs = Vec::new();
    for (ra, rb) in a.outer_iter().zip(b.outer_iter()) {
        let s = if ra.dot(&rb) < 0.0 { -1.0 } else { 1.0 };
        let scale = rb.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let e = ra
            .iter()
            .zip(rb)
            .fold(0.0f64, |m, (x, y)| m.max((s * x - y).abs()))
            / scale;
        worst = worst.max(e);
        signs.push(s);
    }
    (worst, signs)
}

/// Flip the rows of `a` by `signs`.
pub fn flip_rows(a: ArrayView2<f64>, signs: &[f64]) -> Array2<f64> {
    let mut out = a.to_owned();
    for (mut row, s) in out.outer_iter_mut().zip(signs) {
        row *= *s;
    }
    out
}

/// Print a measured error next to its tolerance, then assert it.
pub fn check(case: &str, what: &str, err: f64, tol: f64) {
    println!("{case:<22} {what:<34} {err:>10.3e}  (tol {tol:.0e})");
    assert!(err <= tol, "{case}: {what} error {err:e} exceeds {tol:e}");
}

/// Train indices of a fold: all indices not in `test`, ascending (sklearn's order).
pub fn train_of(n: usize, test: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !test.contains(i)).collect()
}
