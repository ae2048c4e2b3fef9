//! A minimal NIfTI-1 reader for this crate's real-data test and benchmark (single-file
//! `.nii.gz`, sform, uint8 / int16 / float32 voxels). neurodl-io's `open_volume` is being
//! written in parallel and replaces this once merged.

use std::io::Read;
use std::path::Path;

use ndarray::Array3;
use neurodl_io::Affine;

/// Reads a single-file gzipped NIfTI-1 scalar volume (sform affine) as `f32`, C order.
pub fn read_nifti_gz(path: &Path) -> Result<(Array3<f32>, Affine), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 352 || i32::from_le_bytes(bytes[0..4].try_into().unwrap()) != 348 {
        return Err("not a little-endian NIfTI-1 file".into());
    }
    let i16_at = |o: usize| i16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let dims: Vec<usize> = (0..4).map(|i| i16_at(40 + 2 * i) as usize).collect();
    let (nx, ny, nz) = (dims[1], dims[2], dims[3]);
    if i16_at(254) <= 0 {
        return Err("no sform".into());
    }
    let mut rows = [[0.0; 4]; 3];
    for (r, row) in rows.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = f32_at(280 + 16 * r + 4 * c) as f64;
        }
    }
    let offset = (f32_at(108) as usize).max(352);
    let n = nx * ny * nz;
    let raw = &bytes[offset..];
    let values: Vec<f32> = match i16_at(70) {
        2 => raw[..n].iter().map(|v| *v as f32).collect(),
        4 => raw[..2 * n]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32)
            .collect(),
        16 => raw[..4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        other => return Err(format!("datatype {other} not handled by the benchmark's reader")),
    };
    // NIfTI stores x fastest (Fortran order).
    let data = Array3::from_shape_vec((nz, ny, nx), values)
        .map_err(|e| e.to_string())?
        .reversed_axes()
        .as_standard_layout()
        .into_owned();
    Ok((data, Affine::from_rows(rows)))
}
