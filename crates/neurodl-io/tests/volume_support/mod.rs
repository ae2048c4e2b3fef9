//! Synthetic volumes shared by the volume tests: one per geometry / type / layout case.

#![allow(dead_code)] // each test crate uses part of it

use ndarray::Array4;
use neurodl_io::{Affine, IntensityScaling, Volume, VolumeMeta, VoxelData};

/// A rotation of `angle` radians about the world axis `axis`.
pub fn rotation(axis: usize, angle: f64) -> [[f64; 3]; 3] {
    let (s, c) = angle.sin_cos();
    let (i, j) = ((axis + 1) % 3, (axis + 2) % 3);
    let mut r = [[0.0; 3]; 3];
    r[axis][axis] = 1.0;
    r[i][i] = c;
    r[j][j] = c;
    r[i][j] = -s;
    r[j][i] = s;
    r
}

/// `R · diag(zooms)` with translation `t`.
pub fn affine(r: [[f64; 3]; 3], zooms: [f64; 3], t: [f64; 3]) -> Affine {
    let mut rows = [[0.0; 4]; 3];
    for i in 0..3 {
        for j in 0..3 {
            rows[i][j] = r[i][j] * zooms[j];
        }
        rows[i][3] = t[i];
    }
    Affine::from_rows(rows)
}

/// Deterministic values that differ in every voxel (so axis-order mistakes show).
pub fn ramp(shape: [usize; 4]) -> Array4<f64> {
    Array4::from_shape_fn(shape, |(c, x, y, z)| {
        (c * 1000 + x * 100 + y * 10 + z) as f64 - 300.0
    })
}

pub fn volume(data: VoxelData, affine: Affine) -> Volume {
    Volume {
        data,
        affine,
        scaling: None,
        meta: VolumeMeta::default(),
    }
}

/// `(file name, volume)` pairs covering the cases writers must get right.
pub fn synthetic_volumes() -> Vec<(String, Volume)> {
    let oblique = affine(rotation(2, 0.3), [1.5, 2.0, 2.5], [-40.0, 12.5, 7.25]);
    let flipped = affine(
        [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
        [0.9, 0.9, 3.0],
        [90.0, 100.0, 50.0],
    );
    let mut out = Vec::new();

    let v = volume(
        VoxelData::F32(ramp([1, 5, 6, 7]).mapv(|x| x as f32 * 0.25)),
        oblique,
    );
    out.push(("oblique_f32.nii.gz".to_string(), v));

    let mut v = volume(
        VoxelData::I16(ramp([1, 4, 5, 3]).mapv(|x| x as i16)),
        affine(rotation(0, -0.2), [1.0, 1.0, 2.0], [3.0, 4.0, 5.0]),
    );
    v.meta.extras.insert("nifti.qform_code".into(), "1".into());
    v.meta.extras.insert("nifti.sform_code".into(), "0".into());
    out.push(("qform_only_i16.nii".to_string(), v));

    let mut v = volume(
        VoxelData::U16(ramp([3, 4, 3, 2]).mapv(|x| (x + 300.0) as u16)),
        Affine::from_spacing([2.0, 2.0, 2.0]),
    );
    v.scaling = Some(IntensityScaling {
        slope: 0.5,
        intercept: 10.0,
    });
    out.push(("scaled_4d_u16.nii".to_string(), v));

    let mut v = volume(
        VoxelData::I32(ramp([1, 3, 4, 5]).mapv(|x| x as i32 * 1000)),
        flipped,
    );
    v.meta.extras.insert("nifti.endian".into(), "big".into());
    out.push(("big_endian_i32.nii".to_string(), v));

    let v = volume(VoxelData::F64(ramp([2, 3, 3, 4]).mapv(|x| x / 7.0)), oblique);
    out.push(("oblique_nifti2_f64.nii".to_string(), v));

    let v = volume(VoxelData::I16(ramp([1, 6, 5, 4]).mapv(|x| x as i16)), oblique);
    out.push(("oblique_i16.nrrd".to_string(), v));

    let v = volume(VoxelData::F32(ramp([3, 4, 3, 2]).mapv(|x| x as f32)), flipped);
    out.push(("vector_f32.nhdr".to_string(), v));

    let v = volume(
        VoxelData::U8(ramp([1, 3, 3, 3]).mapv(|x| (x as i64).rem_euclid(251) as u8)),
        Affine::from_spacing([0.5, 0.5, 1.0]),
    );
    out.push(("labels_u8.nii.gz".to_string(), v));
    out
}
