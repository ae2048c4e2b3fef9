//! Border voxels and the directed surface distances between two masks (MONAI 1.5.1's
//! `get_mask_edges` without subvoxels, then `get_surface_distance` both ways).

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::distance_transform::{check_spacing, squared_edt_transposed};
use crate::error::EvalError;

/// The border of a mask as MONAI 1.5.1 defines it (`binary_erosion(mask) ^ mask`,
/// scipy's default cross-shaped structuring element and `border_value = 0`): a voxel of
/// the mask with at least one of its 6 face neighbours outside the mask. Voxels on the
/// faces of the volume count as border voxels (outside the image is not mask).
pub fn border_voxels(mask: ArrayView3<bool>) -> Array3<bool> {
    let dim = mask.dim();
    let flat = mask.as_standard_layout();
    let flat = flat.as_slice().expect("standard layout is contiguous");
    let border = border_flat(flat, [dim.0, dim.1, dim.2]);
    Array3::from_shape_vec(dim, border).expect("border has the mask's shape")
}

/// [`border_voxels`] on a C-order flat mask.
pub(crate) fn border_flat(m: &[bool], shape: [usize; 3]) -> Vec<bool> {
    let [n0, n1, n2] = shape;
    let n12 = n1 * n2;
    let mut out = vec![false; m.len()];
    if m.is_empty() {
        return out;
    }
    out.par_chunks_mut(n12).enumerate().for_each(|(i0, plane)| {
        for i1 in 0..n1 {
            for i2 in 0..n2 {
                let i = i0 * n12 + i1 * n2 + i2;
                if !m[i] {
                    continue;
                }
                let interior = i0 > 0
                    && i0 + 1 < n0
                    && i1 > 0
                    && i1 + 1 < n1
                    && i2 > 0
                    && i2 + 1 < n2
                    && m[i - n12]
                    && m[i + n12]
                    && m[i - n2]
                    && m[i + n2]
                    && m[i - 1]
                    && m[i + 1];
                plane[i1 * n2 + i2] = !interior;
            }
        }
    });
    out
}

/// Directed distances (mm) between the borders of a prediction and a reference mask,
/// one per border voxel in C order — what MONAI's `get_edge_surface_distance(...,
/// symmetric=True)` returns, in `f64` (MONAI rounds to `f32`).
///
/// When one mask is empty its border is empty: its own list is empty and every entry
/// of the other list is `+inf` (MONAI's convention). Both empty → both lists empty.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SurfaceDistances {
    /// For each border voxel of the prediction, the distance to the nearest border
    /// voxel of the reference.
    pub prediction_to_reference: Vec<f64>,
    /// For each border voxel of the reference, the distance to the nearest border
    /// voxel of the prediction.
    pub reference_to_prediction: Vec<f64>,
}

/// Border voxels of both masks and the distances between them, spacing-aware
/// (`spacing[a]` = voxel size along axis `a`, in mm). Distances come from the exact
/// Euclidean distance transform ([`super::distance_transform_edt`]) of each border.
///
/// Work is limited to the bounding box of the union of both masks grown by one voxel
/// (as MONAI crops); distances between voxels do not depend on that crop.
///
/// Errors: shapes differ; spacing not finite and positive.
pub fn surface_distances(
    prediction: ArrayView3<bool>,
    reference: ArrayView3<bool>,
    spacing: [f64; 3],
) -> Result<SurfaceDistances, EvalError> {
    check_spacing(spacing)?;
    check_same_shape(prediction.shape(), reference.shape())?;
    let dim = prediction.dim();
    let shape = [dim.0, dim.1, dim.2];
    let p = prediction.as_standard_layout();
    let r = reference.as_standard_layout();
    let (p, r) = (
        p.as_slice().expect("contiguous"),
        r.as_slice().expect("contiguous"),
    );
    let mut bbox = BoundingBox::empty();
    for i0 in 0..shape[0] {
        for i1 in 0..shape[1] {
            for i2 in 0..shape[2] {
                let i = (i0 * shape[1] + i1) * shape[2] + i2;
                if p[i] || r[i] {
                    bbox.add([i0, i1, i2]);
                }
            }
        }
    }
    let (_, _, d) = cropped_distances(shape, bbox, |i| p[i], |i| r[i], spacing);
    Ok(d)
}

/// Refuses two volumes of different shapes.
pub(crate) fn check_same_shape(prediction: &[usize], reference: &[usize]) -> Result<(), EvalError> {
    if prediction != reference {
        return Err(EvalError::InvalidParameter {
            name: "prediction",
            reason: format!("shape {prediction:?} differs from the reference's {reference:?}"),
        });
    }
    Ok(())
}

/// Inclusive bounding box of a set of voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoundingBox {
    pub(crate) min: [usize; 3],
    pub(crate) max: [usize; 3],
}

impl BoundingBox {
    pub(crate) fn empty() -> Self {
        Self {
            min: [usize::MAX; 3],
            max: [0; 3],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.min[0] == usize::MAX
    }

    pub(crate) fn add(&mut self, at: [usize; 3]) {
        for ((lo, hi), x) in self.min.iter_mut().zip(self.max.iter_mut()).zip(at) {
            *lo = (*lo).min(x);
            *hi = (*hi).max(x);
        }
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        if other.is_empty() {
            return;
        }
        self.add(other.min);
        self.add(other.max);
    }
}

/// Crops both masks (given as predicates on full-volume C-order indices) to `bbox`
/// grown by one voxel and clipped to the volume, finds their borders and the distances
/// between them. Returns (prediction border voxels, reference border voxels, distances).
pub(crate) fn cropped_distances(
    shape: [usize; 3],
    bbox: BoundingBox,
    in_pred: impl Fn(usize) -> bool + Sync,
    in_ref: impl Fn(usize) -> bool + Sync,
    spacing: [f64; 3],
) -> (usize, usize, SurfaceDistances) {
    if bbox.is_empty() {
        return (
            0,
            0,
            SurfaceDistances {
                prediction_to_reference: Vec::new(),
                reference_to_prediction: Vec::new(),
            },
        );
    }
    // One voxel of margin keeps the mask's outer neighbours inside the crop; where the
    // box meets the volume's faces, outside the crop is outside the image, and both
    // count as "not mask", as scipy's erosion with border_value = 0 treats them.
    let lo: [usize; 3] = std::array::from_fn(|a| bbox.min[a].saturating_sub(1));
    let hi: [usize; 3] = std::array::from_fn(|a| (bbox.max[a] + 1).min(shape[a] - 1));
    let c: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
    let cn = c[0] * c[1] * c[2];
    let mut pm = vec![false; cn];
    let mut rm = vec![false; cn];
    pm.par_chunks_mut(c[1] * c[2])
        .zip(rm.par_chunks_mut(c[1] * c[2]))
        .enumerate()
        .for_each(|(j0, (pp, rr))| {
            for j1 in 0..c[1] {
                let base = ((lo[0] + j0) * shape[1] + lo[1] + j1) * shape[2] + lo[2];
                for j2 in 0..c[2] {
                    pp[j1 * c[2] + j2] = in_pred(base + j2);
                    rr[j1 * c[2] + j2] = in_ref(base + j2);
                }
            }
        });
    let pb = border_flat(&pm, c);
    let rb = border_flat(&rm, c);
    drop((pm, rm));
    let np = pb.iter().filter(|&&b| b).count();
    let nr = rb.iter().filter(|&&b| b).count();
    let directed = |from: &[bool], n_from: usize, to: &[bool], n_to: usize| -> Vec<f64> {
        if n_from == 0 {
            return Vec::new();
        }
        if n_to == 0 {
            return vec![f64::INFINITY; n_from];
        }
        let sq = squared_edt_transposed(to, c, spacing);
        let mut d = Vec::with_capacity(n_from);
        for (i, _) in from.iter().enumerate().filter(|(_, b)| **b) {
            let i2 = i % c[2];
            let i1 = (i / c[2]) % c[1];
            let i0 = i / (c[1] * c[2]);
            d.push(sq[(i1 * c[2] + i2) * c[0] + i0].sqrt());
        }
        d
    };
    let prediction_to_reference = directed(&pb, np, &rb, nr);
    let reference_to_prediction = directed(&rb, nr, &pb, np);
    (
        np,
        nr,
        SurfaceDistances {
            prediction_to_reference,
            reference_to_prediction,
        },
    )
}

impl SurfaceDistances {
    /// Hausdorff distance: the largest directed distance either way (MONAI
    /// `compute_hausdorff_distance(percentile=None)`). `None` when both masks are
    /// empty; `+inf` when exactly one is.
    pub fn hausdorff(&self) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        Some(
            self.prediction_to_reference
                .iter()
                .chain(&self.reference_to_prediction)
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// Percentile Hausdorff distance as MONAI 1.5.1's
    /// `compute_hausdorff_distance(percentile=p)` defines it: the `p`-th percentile of
    /// each directed list separately (linear interpolation between order statistics,
    /// `torch.quantile` / `numpy.quantile` default: position `p/100 · (n − 1)`), then
    /// the larger of the two. A direction with no border voxels is skipped, so one
    /// empty mask gives `+inf` (MONAI: NaN there). `None` when both masks are empty.
    ///
    /// Errors: `percentile` outside `[0, 100]` or NaN.
    pub fn hausdorff_percentile(&self, percentile: f64) -> Result<Option<f64>, EvalError> {
        if !(0.0..=100.0).contains(&percentile) {
            return Err(EvalError::InvalidParameter {
                name: "percentile",
                reason: format!("{percentile} is not in [0, 100]"),
            });
        }
        let q = percentile / 100.0;
        let a = quantile_linear(&self.prediction_to_reference, q);
        let b = quantile_linear(&self.reference_to_prediction, q);
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        })
    }

    /// Average symmetric surface distance as MONAI 1.5.1's
    /// `compute_average_surface_distance(symmetric=True)`: the mean of both directed
    /// lists **pooled** — `(Σ d_pr + Σ d_rp) / (n_p + n_r)` — not the mean of the two
    /// directed means. `None` when both masks are empty; `+inf` when one is.
    pub fn average_symmetric(&self) -> Option<f64> {
        let n = self.prediction_to_reference.len() + self.reference_to_prediction.len();
        if n == 0 {
            return None;
        }
        let sum: f64 = self
            .prediction_to_reference
            .iter()
            .chain(&self.reference_to_prediction)
            .sum();
        Some(sum / n as f64)
    }

    /// Normalised surface Dice at `tolerance_mm` as MONAI 1.5.1's
    /// `compute_surface_dice(use_subvoxels=False)`: the fraction of border voxels of
    /// both masks whose directed distance is `<= tolerance_mm`. `None` when both masks
    /// are empty; 0 when one is.
    ///
    /// Errors: a tolerance that is negative or not finite (MONAI refuses those too).
    pub fn surface_dice(&self, tolerance_mm: f64) -> Result<Option<f64>, EvalError> {
        check_tolerance(tolerance_mm)?;
        let n = self.prediction_to_reference.len() + self.reference_to_prediction.len();
        if n == 0 {
            return Ok(None);
        }
        let within = self
            .prediction_to_reference
            .iter()
            .chain(&self.reference_to_prediction)
            .filter(|&&d| d <= tolerance_mm)
            .count();
        Ok(Some(within as f64 / n as f64))
    }

    fn is_empty(&self) -> bool {
        self.prediction_to_reference.is_empty() && self.reference_to_prediction.is_empty()
    }
}

/// Refuses a surface-Dice tolerance that is negative or not finite.
pub(crate) fn check_tolerance(tolerance_mm: f64) -> Result<(), EvalError> {
    if !(tolerance_mm.is_finite() && tolerance_mm >= 0.0) {
        return Err(EvalError::InvalidParameter {
            name: "surface_dice_tolerance_mm",
            reason: format!("{tolerance_mm} mm; the tolerance must be finite and >= 0"),
        });
    }
    Ok(())
}

/// `numpy.quantile(xs, q)` with the default linear method: position `q·(n − 1)`,
/// interpolated between its neighbouring order statistics with numpy's two-sided
/// `lerp`. `None` for no values. Uses selection, not a full sort.
pub(crate) fn quantile_linear(xs: &[f64], q: f64) -> Option<f64> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let pos = q * (n - 1) as f64;
    let lo = (pos.floor() as usize).min(n - 1);
    let t = pos - lo as f64;
    let mut v = xs.to_vec();
    let (_, &mut a, upper) = v.select_nth_unstable_by(lo, f64::total_cmp);
    if t == 0.0 || upper.is_empty() {
        return Some(a);
    }
    let b = upper.iter().copied().fold(f64::INFINITY, f64::min);
    if a == b {
        return Some(a);
    }
    let diff = b - a;
    Some(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_examples() {
        // numpy.quantile([1, 2, 3, 4], q): 0.95 → 3.85, 0.5 → 2.5, 0 → 1, 1 → 4.
        let xs = [4.0, 1.0, 3.0, 2.0];
        assert!((quantile_linear(&xs, 0.95).unwrap() - 3.85).abs() < 1e-15);
        assert_eq!(quantile_linear(&xs, 0.5), Some(2.5));
        assert_eq!(quantile_linear(&xs, 0.0), Some(1.0));
        assert_eq!(quantile_linear(&xs, 1.0), Some(4.0));
        assert_eq!(quantile_linear(&[7.0], 0.95), Some(7.0));
        assert_eq!(quantile_linear(&[], 0.95), None);
        assert_eq!(
            quantile_linear(&[f64::INFINITY, f64::INFINITY], 0.95),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn border_of_a_cube_is_its_shell_and_faces_of_the_volume_count() {
        let mut m = Array3::from_elem((5, 5, 5), false);
        m.slice_mut(ndarray::s![1..4, 1..4, 1..4]).fill(true);
        let b = border_voxels(m.view());
        assert_eq!(b.iter().filter(|&&x| x).count(), 26);
        assert!(!b[[2, 2, 2]]);
        let full = Array3::from_elem((3, 3, 3), true);
        assert_eq!(border_voxels(full.view()).iter().filter(|&&x| x).count(), 26);
    }
}
