//! Connected components of label maps, and nnU-Net's post-processing that keeps only the
//! largest component of a class (or of the whole foreground).
//!
//! Labelling is `ndarray-ndimage`'s port of `scipy.ndimage.label`, so components are numbered
//! as SciPy numbers them (in the C order of their first voxel); golden tests compare the
//! label maps with SciPy's for both connectivities. What nnU-Net v2 keeps when two components
//! tie in size is the first one in that order (`np.argmax` over the sizes); so does this.

use ndarray::{Array3, ArrayView3};
use ndarray_ndimage::{Kernel3d, label};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};

/// Which voxels touch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Voxels sharing a face: 6 neighbours in 3-D, 4 in one slice (SciPy's default,
    /// `generate_binary_structure(3, 1)`, which nnU-Net v1's post-processing used).
    #[default]
    Faces,
    /// Faces, edges and corners: 26 neighbours, 8 in one slice (scikit-image's default, which
    /// nnU-Net v2's post-processing helper inherits).
    Full,
}

impl std::fmt::Display for Connectivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Faces => "faces (6 neighbours)",
            Self::Full => "full (26 neighbours)",
        })
    }
}

impl Connectivity {
    fn kernel(self) -> Array3<bool> {
        match self {
            Self::Faces => Kernel3d::Star.generate(),
            Self::Full => Kernel3d::Full.generate(),
        }
    }
}

/// The connected components of a mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Components {
    /// 0 for background, `1..=n` for the components, numbered as `scipy.ndimage.label` does.
    pub labels: Array3<u32>,
    /// `sizes[i]`: voxels of component `i + 1`.
    pub sizes: Vec<u64>,
}

impl Components {
    /// The number of the largest component (the first in numbering order among equals),
    /// or `None` when the mask is empty.
    pub fn largest(&self) -> Option<u32> {
        let mut best: Option<(u32, u64)> = None;
        for (i, &s) in self.sizes.iter().enumerate() {
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i as u32 + 1, s));
            }
        }
        best.map(|(n, _)| n)
    }
}

/// Labels the connected components of `mask`.
/// Errors: the mask has an empty axis or more voxels than a `u32` label can number.
pub fn label_components(mask: ArrayView3<bool>, connectivity: Connectivity) -> Result<Components> {
    if mask.is_empty() {
        return Err(VolumeError::Empty {
            what: "mask",
            shape: mask.shape().to_vec(),
        });
    }
    // The labeller panics if its label type overflows; a mask can have at most one
    // component per voxel, so this bound makes that impossible.
    if mask.len() >= u32::MAX as usize {
        return Err(VolumeError::Parameter {
            name: "mask",
            value: format!("{:?}", mask.shape()),
            reason: "connected components are numbered with u32: at most 2^32 - 1 voxels",
        });
    }
    let (labels, n) = label::<u32>(&mask, &connectivity.kernel());
    let mut sizes = vec![0u64; n];
    for &l in labels.iter() {
        if l > 0 {
            sizes[l as usize - 1] += 1;
        }
    }
    Ok(Components { labels, sizes })
}

/// Keeps only the largest connected component of the voxels whose label is one of `classes`
/// (all of them together: pass every foreground label for nnU-Net's "largest foreground
/// component"); the voxels of the other components become background (0), as in nnU-Net.
/// Returns how many voxels were removed. Errors: as [`label_components`].
pub fn keep_largest_component(
    labels: &mut Array3<u16>,
    classes: &[u16],
    connectivity: Connectivity,
) -> Result<u64> {
    let mask = labels.mapv(|v| v != 0 && classes.contains(&v));
    let components = label_components(mask.view(), connectivity)?;
    let Some(keep) = components.largest() else {
        return Ok(0);
    };
    let mut removed = 0;
    ndarray::Zip::from(labels)
        .and(&components.labels)
        .for_each(|v, &c| {
            if c != 0 && c != keep {
                *v = 0;
                removed += 1;
            }
        });
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_and_full_connectivity_differ_on_a_diagonal() {
        let mut mask = Array3::from_elem((3, 3, 3), false);
        mask[[0, 0, 0]] = true;
        mask[[1, 1, 1]] = true;
        mask[[2, 2, 2]] = true;
        mask[[2, 2, 1]] = true;
        let faces = label_components(mask.view(), Connectivity::Faces).unwrap();
        assert_eq!(faces.sizes, vec![1, 1, 2]);
        assert_eq!(faces.largest(), Some(3));
        let full = label_components(mask.view(), Connectivity::Full).unwrap();
        assert_eq!(full.sizes, vec![4]);
    }

    #[test]
    fn keeping_the_largest_removes_only_other_components_of_the_chosen_classes() {
        // Class 1: a 2-voxel blob and a lone voxel; class 2 touches neither and is kept.
        let mut labels = Array3::<u16>::zeros((1, 5, 5));
        labels[[0, 0, 0]] = 1;
        labels[[0, 0, 1]] = 1;
        labels[[0, 4, 4]] = 1;
        labels[[0, 2, 2]] = 2;
        let removed = keep_largest_component(&mut labels, &[1], Connectivity::Faces).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(labels[[0, 4, 4]], 0);
        assert_eq!(labels[[0, 0, 0]], 1);
        assert_eq!(labels[[0, 2, 2]], 2);
        // Ties keep the first component in C order; an empty class is left alone.
        let mut tie = Array3::<u16>::zeros((1, 1, 5));
        tie[[0, 0, 0]] = 3;
        tie[[0, 0, 4]] = 3;
        assert_eq!(
            keep_largest_component(&mut tie, &[3], Connectivity::Full).unwrap(),
            1
        );
        assert_eq!(tie[[0, 0, 0]], 3);
        assert_eq!(
            keep_largest_component(&mut tie, &[7], Connectivity::Full).unwrap(),
            0
        );
        assert!(label_components(Array3::from_elem((0, 2, 2), false).view(), Connectivity::Full).is_err());
    }
}
