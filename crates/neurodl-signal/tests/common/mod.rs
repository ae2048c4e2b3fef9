//! Shared helpers: load a golden from `tests/golden/signal/` and the crop of the
//! real recording it was computed from.

#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::Array2;
use neurodl_io::testdata::{repo_root, shared_data_dir};
use serde_json::Value;

/// The golden `name` (without `.json`).
pub fn golden(name: &str) -> Value {
    let path = repo_root()
        .join("tests/golden/signal")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The real recording the goldens come from, or `None` (skip) when the data folder is absent.
pub fn source_path() -> Option<PathBuf> {
    Some(shared_data_dir()?.join("eeg/eegmmidb/S001R03.edf"))
}

/// The crop the goldens were computed on: channels `picks`, samples `0..n_times`.
pub fn crop(g: &Value) -> Option<(Array2<f64>, f64)> {
    let path = source_path()?;
    let picks: Vec<usize> = g["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let n = g["n_times"].as_u64().unwrap() as usize;
    let mut reader = neurodl_io::open_recording(&path).expect("read the source recording");
    let sfreq = reader.info().sfreq;
    Some((reader.read_segment(0, n, Some(&picks)).unwrap(), sfreq))
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Largest error of `actual` at the golden's stored positions, relative to the
/// largest magnitude of the reference row (so a value near a zero crossing is
/// not held to an impossible relative precision).
pub fn max_rel_error(actual: &Array2<f64>, stored: &Value) -> f64 {
    let idx: Vec<usize> = stored["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let rows = stored["values"].as_array().unwrap();
    assert_eq!(rows.len(), actual.nrows(), "channel count");
    let mut worst: f64 = 0.0;
    for (r, row) in rows.iter().enumerate() {
        let expected = f64s(row);
        let scale = expected
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        for (&i, e) in idx.iter().zip(&expected) {
            assert!(
                i < actual.ncols(),
                "golden index {i} beyond output length {}",
                actual.ncols()
            );
            worst = worst.max((actual[[r, i]] - e).abs() / scale);
        }
    }
    worst
}

/// The whole source recording, or `None` (skip) when the data folder is absent.
pub fn full_recording() -> Option<neurodl_io::Recording> {
    let path = source_path()?;
    Some(neurodl_io::open_recording(&path).unwrap().read_all().unwrap())
}
