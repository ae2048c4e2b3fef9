//! The volume data model: voxels, the voxel-to-world affine, and the case that groups
//! volumes by role.
//!
//! A [`Volume`] is what every image reader returns and every writer takes: the voxel
//! data as stored (any numeric type, `channels × X × Y × Z`), the affine that maps voxel
//! indices to world coordinates in millimetres (RAS+, as nibabel reports it), the
//! intensity scaling the file declares, and the format's own geometry fields so that a
//! read → write round trip reproduces the header exactly. Conversion to `f32` (images)
//! or integer labels happens on demand, so a `uint8` label map is never widened to
//! floats until a transform needs it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array3, Array4, ArrayView3};

/// A voxel-to-world transform: `world = matrix · (i, j, k, 1)ᵀ`, world in millimetres,
/// RAS+ (+x = right, +y = anterior, +z = superior), as nibabel's `img.affine`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Row-major 4 × 4 matrix; the last row is `[0, 0, 0, 1]`.
    pub matrix: [[f64; 4]; 4],
}

impl Default for Affine {
    fn default() -> Self {
        Self::identity()
    }
}

impl Affine {
    /// The identity: voxel `(i, j, k)` sits at world `(i, j, k)` mm.
    pub fn identity() -> Self {
        Self::from_spacing([1.0, 1.0, 1.0])
    }

    /// Axis-aligned voxels of the given size, origin at voxel `(0, 0, 0)`.
    pub fn from_spacing(spacing: [f64; 3]) -> Self {
        let mut matrix = [[0.0; 4]; 4];
        for (axis, size) in spacing.iter().enumerate() {
            matrix[axis][axis] = *size;
        }
        matrix[3][3] = 1.0;
        Self { matrix }
    }

    /// The affine from its upper 3 × 4 block (rotation/zoom columns and translation).
    pub fn from_rows(rows: [[f64; 4]; 3]) -> Self {
        Self {
            matrix: [rows[0], rows[1], rows[2], [0.0, 0.0, 0.0, 1.0]],
        }
    }

    /// Voxel size along each voxel axis in mm: the Euclidean norm of each column of the
    /// 3 × 3 block (nibabel's `voxel_sizes(affine)`).
    pub fn spacing(&self) -> [f64; 3] {
        let mut spacing = [0.0; 3];
        for (col, size) in spacing.iter_mut().enumerate() {
            *size = (0..3)
                .map(|row| self.matrix[row][col].powi(2))
                .sum::<f64>()
                .sqrt();
        }
        spacing
    }

    /// World position of the centre of voxel `(i, j, k)` (fractional indices allowed).
    pub fn apply(&self, ijk: [f64; 3]) -> [f64; 3] {
        let m = &self.matrix;
        let mut out = [0.0; 3];
        for (row, value) in out.iter_mut().enumerate() {
            *value = m[row][0] * ijk[0] + m[row][1] * ijk[1] + m[row][2] * ijk[2] + m[row][3];
        }
        out
    }

    /// `self · other`: first `other`, then `self`.
    pub fn compose(&self, other: &Affine) -> Affine {
        let mut matrix = [[0.0; 4]; 4];
        for (r, row) in matrix.iter_mut().enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                *value = (0..4).map(|k| self.matrix[r][k] * other.matrix[k][c]).sum();
            }
        }
        Affine { matrix }
    }

    /// The inverse, or `None` when the 3 × 3 block is singular (a degenerate header).
    pub fn inverse(&self) -> Option<Affine> {
        let m = &self.matrix;
        let a = [
            [m[0][0], m[0][1], m[0][2]],
            [m[1][0], m[1][1], m[1][2]],
            [m[2][0], m[2][1], m[2][2]],
        ];
        let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
        let scale = a.iter().flatten().fold(0.0f64, |acc, v| acc.max(v.abs()));
        if !det.is_finite() || scale == 0.0 || det.abs() <= f64::EPSILON * scale.powi(3) {
            return None;
        }
        let mut inv = [[0.0; 3]; 3];
        for (r, row) in inv.iter_mut().enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                // Cofactor of a[c][r] (transposed adjugate).
                let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
                let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
                *value = (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]) / det;
            }
        }
        let t = [m[0][3], m[1][3], m[2][3]];
        let mut rows = [[0.0; 4]; 3];
        for r in 0..3 {
            for c in 0..3 {
                rows[r][c] = inv[r][c];
            }
            rows[r][3] = -(0..3).map(|k| inv[r][k] * t[k]).sum::<f64>();
        }
        Some(Affine::from_rows(rows))
    }

    /// For each voxel axis, the world axis it runs closest to and its direction, as
    /// nibabel's `io_orientation`: `(world_axis, +1.0 | -1.0)`. Axes are assigned greedily
    /// by the largest absolute direction cosine, so an oblique acquisition still gets a
    /// permutation.
    pub fn orientation(&self) -> [(usize, f64); 3] {
        let spacing = self.spacing();
        let mut cosines = [[0.0; 3]; 3]; // [voxel axis][world axis]
        for (voxel_axis, row) in cosines.iter_mut().enumerate() {
            for (world_axis, value) in row.iter_mut().enumerate() {
                let size = spacing[voxel_axis];
                *value = if size > 0.0 {
                    self.matrix[world_axis][voxel_axis] / size
                } else {
                    0.0
                };
            }
        }
        let mut result = [(usize::MAX, 1.0); 3];
        let mut used_voxel = [false; 3];
        let mut used_world = [false; 3];
        for _ in 0..3 {
            let mut best = (0, 0, -1.0);
            for v in (0..3).filter(|v| !used_voxel[*v]) {
                for w in (0..3).filter(|w| !used_world[*w]) {
                    if cosines[v][w].abs() > best.2 {
                        best = (v, w, cosines[v][w].abs());
                    }
                }
            }
            let (v, w, _) = best;
            used_voxel[v] = true;
            used_world[w] = true;
            result[v] = (w, if cosines[v][w] < 0.0 { -1.0 } else { 1.0 });
        }
        result
    }

    /// Axis codes such as `"RAS"` or `"LPI"` (nibabel's `aff2axcodes`): for each voxel axis,
    /// the world direction its index grows towards.
    pub fn axis_codes(&self) -> String {
        const POSITIVE: [char; 3] = ['R', 'A', 'S'];
        const NEGATIVE: [char; 3] = ['L', 'P', 'I'];
        self.orientation()
            .iter()
            .map(|(axis, sign)| {
                if *sign > 0.0 {
                    POSITIVE[*axis]
                } else {
                    NEGATIVE[*axis]
                }
            })
            .collect()
    }
}

/// The numeric type voxels are stored as in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoxelType {
    /// Unsigned 8-bit.
    U8,
    /// Signed 8-bit.
    I8,
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit.
    U32,
    /// Signed 32-bit.
    I32,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

/// Voxel values as stored, `channels × X × Y × Z` (a 3-D scalar volume has one channel;
/// NIfTI's 4th dimension — time or modalities — becomes the channel axis).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum VoxelData {
    U8(Array4<u8>),
    I8(Array4<i8>),
    U16(Array4<u16>),
    I16(Array4<i16>),
    U32(Array4<u32>),
    I32(Array4<i32>),
    F32(Array4<f32>),
    F64(Array4<f64>),
}

macro_rules! each_variant {
    ($data:expr, $array:ident => $body:expr) => {
        match $data {
            VoxelData::U8($array) => $body,
            VoxelData::I8($array) => $body,
            VoxelData::U16($array) => $body,
            VoxelData::I16($array) => $body,
            VoxelData::U32($array) => $body,
            VoxelData::I32($array) => $body,
            VoxelData::F32($array) => $body,
            VoxelData::F64($array) => $body,
        }
    };
}

impl VoxelData {
    /// `[channels, X, Y, Z]`.
    pub fn shape(&self) -> [usize; 4] {
        let s = each_variant!(self, a => a.shape());
        [s[0], s[1], s[2], s[3]]
    }

    /// The stored type.
    pub fn voxel_type(&self) -> VoxelType {
        match self {
            VoxelData::U8(_) => VoxelType::U8,
            VoxelData::I8(_) => VoxelType::I8,
            VoxelData::U16(_) => VoxelType::U16,
            VoxelData::I16(_) => VoxelType::I16,
            VoxelData::U32(_) => VoxelType::U32,
            VoxelData::I32(_) => VoxelType::I32,
            VoxelData::F32(_) => VoxelType::F32,
            VoxelData::F64(_) => VoxelType::F64,
        }
    }

    /// Values as `f64` after `value · slope + intercept`.
    #[allow(clippy::unnecessary_cast)] // the macro's f64 arm casts f64 to itself
    pub fn to_f64_scaled(&self, slope: f64, intercept: f64) -> Array4<f64> {
        each_variant!(self, a => a.mapv(|v| v as f64 * slope + intercept))
    }
}

/// The intensity scaling a file declares (NIfTI `scl_slope`/`scl_inter`): physical value =
/// stored · slope + intercept.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntensityScaling {
    /// Multiplier.
    pub slope: f64,
    /// Offset.
    pub intercept: f64,
}

/// Where a volume came from and the header fields a writer needs to reproduce it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeMeta {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// Free-text description (NIfTI `descrip`, NRRD `content`).
    pub description: String,
    /// Format-specific header fields kept for round trips (e.g. `qform_code`, `sform_code`,
    /// NRRD `space`), as text.
    pub extras: BTreeMap<String, String>,
}

/// One image or label volume with its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Voxel values as stored.
    pub data: VoxelData,
    /// Voxel-to-world transform (the one nibabel's `img.affine` reports).
    pub affine: Affine,
    /// Intensity scaling to apply on conversion; `None` when the file declares none.
    pub scaling: Option<IntensityScaling>,
    /// Provenance and round-trip header fields.
    pub meta: VolumeMeta,
}

/// Why a volume cannot be used as a label map.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// A label map must have one channel.
    #[error("a label map must have one channel, this volume has {0}")]
    Channels(usize),
    /// A voxel holds something that is not a label in `0..=65535`.
    #[error("voxel ({x}, {y}, {z}) holds {value}, not an integer label in 0..=65535")]
    NotALabel {
        /// Voxel index along X.
        x: usize,
        /// Voxel index along Y.
        y: usize,
        /// Voxel index along Z.
        z: usize,
        /// The offending value after scaling.
        value: f64,
    },
}

impl Volume {
    /// A single-channel float volume.
    pub fn from_f32(data: Array3<f32>, affine: Affine) -> Self {
        let data = data.insert_axis(ndarray::Axis(0));
        Self {
            data: VoxelData::F32(data),
            affine,
            scaling: None,
            meta: VolumeMeta::default(),
        }
    }

    /// A label map stored as `u16` (or `u8` when every label fits).
    pub fn from_labels(labels: ArrayView3<u16>, affine: Affine) -> Self {
        let data = if labels.iter().all(|v| *v <= u8::MAX as u16) {
            VoxelData::U8(labels.mapv(|v| v as u8).insert_axis(ndarray::Axis(0)))
        } else {
            VoxelData::U16(labels.to_owned().insert_axis(ndarray::Axis(0)))
        };
        Self {
            data,
            affine,
            scaling: None,
            meta: VolumeMeta::default(),
        }
    }

    /// `[channels, X, Y, Z]`.
    pub fn shape(&self) -> [usize; 4] {
        self.data.shape()
    }

    /// Spatial shape `[X, Y, Z]`.
    pub fn spatial_shape(&self) -> [usize; 3] {
        let [_, x, y, z] = self.shape();
        [x, y, z]
    }

    /// Voxel size in mm along each voxel axis.
    pub fn spacing(&self) -> [f64; 3] {
        self.affine.spacing()
    }

    /// Physical values as `f32`, with the file's intensity scaling applied.
    #[allow(clippy::unnecessary_cast)] // the macro's f64 arm casts f64 to itself
    pub fn to_f32(&self) -> Array4<f32> {
        match (&self.data, self.scaling) {
            (VoxelData::F32(a), None) => a.clone(),
            (data, scaling) => {
                let s = scaling.unwrap_or(IntensityScaling {
                    slope: 1.0,
                    intercept: 0.0,
                });
                each_variant!(data, a => a.mapv(|v| (v as f64 * s.slope + s.intercept) as f32))
            }
        }
    }

    /// The volume as a label map (`X × Y × Z` of `u16`), refusing fractional, negative or
    /// out-of-range values instead of truncating them.
    pub fn to_labels(&self) -> Result<Array3<u16>, LabelError> {
        let [channels, ..] = self.shape();
        if channels != 1 {
            return Err(LabelError::Channels(channels));
        }
        let scaling = self.scaling.unwrap_or(IntensityScaling {
            slope: 1.0,
            intercept: 0.0,
        });
        let values = self.data.to_f64_scaled(scaling.slope, scaling.intercept);
        let values = values.index_axis_move(ndarray::Axis(0), 0);
        let mut labels = Array3::<u16>::zeros(values.raw_dim());
        for ((x, y, z), value) in values.indexed_iter() {
            if !(value.fract() == 0.0 && (0.0..=u16::MAX as f64).contains(value)) {
                return Err(LabelError::NotALabel {
                    x,
                    y,
                    z,
                    value: *value,
                });
            }
            labels[(x, y, z)] = *value as u16;
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_an_oblique_affine() {
        let affine = Affine::from_rows([
            [0.0, -1.2, 0.1, 10.0],
            [0.9, 0.0, 0.0, -4.0],
            [0.05, 0.0, 2.5, 3.0],
        ]);
        let inverse = affine.inverse().expect("invertible");
        let identity = inverse.compose(&affine);
        for (r, row) in identity.matrix.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let expected = if r == c { 1.0 } else { 0.0 };
                assert!((value - expected).abs() < 1e-12, "({r},{c}) = {value}");
            }
        }
        assert!(
            Affine::from_rows([[1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
                .inverse()
                .is_none()
        );
    }

    #[test]
    fn axis_codes_follow_nibabel() {
        assert_eq!(Affine::identity().axis_codes(), "RAS");
        // A typical LPS-stored scan as nibabel reports it: x flipped, y flipped.
        let lps = Affine::from_rows([
            [-1.0, 0.0, 0.0, 90.0],
            [0.0, -1.0, 0.0, 126.0],
            [0.0, 0.0, 1.0, -72.0],
        ]);
        assert_eq!(lps.axis_codes(), "LPS");
        // Voxel axes permuted: i runs along world z, j along -x, k along y.
        let permuted = Affine::from_rows([[0.0, -2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [1.0, 0.0, 0.0, 0.0]]);
        assert_eq!(permuted.axis_codes(), "SLA");
        assert_eq!(permuted.spacing(), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn labels_refuse_fractions_and_extra_channels() {
        let affine = Affine::identity();
        let mut values = Array3::<f32>::zeros((2, 2, 2));
        values[(1, 0, 1)] = 2.0;
        let volume = Volume::from_f32(values.clone(), affine);
        assert_eq!(volume.to_labels().unwrap()[(1, 0, 1)], 2);
        values[(0, 1, 0)] = 0.5;
        let err = Volume::from_f32(values, affine).to_labels().unwrap_err();
        assert_eq!(
            err,
            LabelError::NotALabel {
                x: 0,
                y: 1,
                z: 0,
                value: 0.5
            }
        );
        let two_channels = Volume {
            data: VoxelData::U8(Array4::zeros((2, 1, 1, 1))),
            affine,
            scaling: None,
            meta: VolumeMeta::default(),
        };
        assert_eq!(two_channels.to_labels().unwrap_err(), LabelError::Channels(2));
        let small = Volume::from_labels(Array3::from_elem((1, 1, 1), 3).view(), affine);
        assert_eq!(small.data.voxel_type(), VoxelType::U8);
    }
}
