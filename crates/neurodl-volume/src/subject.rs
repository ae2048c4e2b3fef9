//! The working sample: one case's image channels and label map on one shared grid.

use ndarray::{Array3, Array4, Axis};
use neurodl_io::{Affine, Volume};

use crate::error::{Result, VolumeError};

/// A voxel grid in world space: spatial shape plus voxel-to-world affine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// `[X, Y, Z]`.
    pub shape: [usize; 3],
    /// Voxel → world (mm, RAS+).
    pub affine: Affine,
}

/// One case (subject) as transforms see it: `channels × X × Y × Z` float image, an optional
/// `X × Y × Z` label map, one affine for both.
///
/// Fields are private so the invariant "image and label share the spatial shape and the
/// affine" holds by construction: every transform in this crate takes a `Subject` and
/// returns one, moving image and label together with the same randomness (labels always
/// nearest-neighbour).
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    id: String,
    image: Array4<f32>,
    label: Option<Array3<u16>>,
    affine: Affine,
}

/// The largest absolute element difference between two affines' 3 × 4 blocks.
pub(crate) fn affine_difference(a: &Affine, b: &Affine) -> f64 {
    let mut d = 0.0f64;
    for r in 0..3 {
        for c in 0..4 {
            d = d.max((a.matrix[r][c] - b.matrix[r][c]).abs());
        }
    }
    d
}

/// Volumes of one case may differ in their affines by this much (mm) and still count as
/// one grid: headers written by different tools round the same geometry differently.
pub const AFFINE_TOLERANCE_MM: f64 = 1e-4;

impl Subject {
    /// A subject from arrays; refuses an empty image or a label of another spatial shape.
    pub fn new(
        id: impl Into<String>,
        image: Array4<f32>,
        label: Option<Array3<u16>>,
        affine: Affine,
    ) -> Result<Self> {
        if image.is_empty() {
            return Err(VolumeError::Empty {
                what: "image",
                shape: image.shape().to_vec(),
            });
        }
        if let Some(l) = &label
            && l.shape() != &image.shape()[1..]
        {
            return Err(VolumeError::ShapeMismatch {
                what: "image (spatial) and label",
                left: image.shape()[1..].to_vec(),
                right: l.shape().to_vec(),
            });
        }
        if affine.inverse().is_none() {
            return Err(VolumeError::SingularAffine { what: "subject" });
        }
        let image = if image.is_standard_layout() {
            image
        } else {
            image.as_standard_layout().into_owned()
        };
        let label = label.map(|l| {
            if l.is_standard_layout() {
                l
            } else {
                l.as_standard_layout().into_owned()
            }
        });
        Ok(Subject {
            id: id.into(),
            image,
            label,
            affine,
        })
    }

    /// A subject from image volumes (one per modality, their channels stacked in order)
    /// and an optional label volume. All must share the spatial shape and (within
    /// [`AFFINE_TOLERANCE_MM`]) the affine; the first image's affine is kept.
    pub fn from_volumes(id: impl Into<String>, images: &[Volume], label: Option<&Volume>) -> Result<Self> {
        let Some(first) = images.first() else {
            return Err(VolumeError::Empty {
                what: "image volume list",
                shape: vec![0],
            });
        };
        let shape = first.spatial_shape();
        let mut arrays = Vec::with_capacity(images.len());
        for (i, v) in images.iter().enumerate() {
            if v.spatial_shape() != shape {
                return Err(VolumeError::ShapeMismatch {
                    what: "image volumes (spatial)",
                    left: shape.to_vec(),
                    right: v.spatial_shape().to_vec(),
                });
            }
            let d = affine_difference(&first.affine, &v.affine);
            if d > AFFINE_TOLERANCE_MM {
                return Err(VolumeError::AffineMismatch {
                    what: format!("image volume 0 vs image volume {i}"),
                    max_difference: d,
                });
            }
            arrays.push(v.to_f32());
        }
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let image = ndarray::concatenate(Axis(0), &views).map_err(|_| VolumeError::ShapeMismatch {
            what: "image volumes",
            left: shape.to_vec(),
            right: shape.to_vec(),
        })?;
        let label = match label {
            Some(l) => {
                if l.spatial_shape() != shape {
                    return Err(VolumeError::ShapeMismatch {
                        what: "image and label (spatial)",
                        left: shape.to_vec(),
                        right: l.spatial_shape().to_vec(),
                    });
                }
                let d = affine_difference(&first.affine, &l.affine);
                if d > AFFINE_TOLERANCE_MM {
                    return Err(VolumeError::AffineMismatch {
                        what: "image vs label".into(),
                        max_difference: d,
                    });
                }
                Some(l.to_labels()?)
            }
            None => None,
        };
        Subject::new(id, image, label, first.affine)
    }

    /// Replaces data and affine keeping the id; shapes are the caller's (this crate's)
    /// responsibility, checked in debug builds.
    pub(crate) fn with_data(
        &self,
        image: Array4<f32>,
        label: Option<Array3<u16>>,
        affine: Affine,
    ) -> Subject {
        debug_assert!(label.as_ref().is_none_or(|l| l.shape() == &image.shape()[1..]));
        Subject {
            id: self.id.clone(),
            image,
            label,
            affine,
        }
    }

    /// The case identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `channels × X × Y × Z` image (standard layout).
    pub fn image(&self) -> &Array4<f32> {
        &self.image
    }

    /// The image, mutable (intensity transforms; the shape cannot change through it).
    pub fn image_mut(&mut self) -> ndarray::ArrayViewMut4<'_, f32> {
        self.image.view_mut()
    }

    /// The label map, if any (standard layout).
    pub fn label(&self) -> Option<&Array3<u16>> {
        self.label.as_ref()
    }

    /// Voxel → world.
    pub fn affine(&self) -> &Affine {
        &self.affine
    }

    /// Spatial shape and affine.
    pub fn geometry(&self) -> Geometry {
        Geometry {
            shape: self.spatial_shape(),
            affine: self.affine,
        }
    }

    /// `[X, Y, Z]`.
    pub fn spatial_shape(&self) -> [usize; 3] {
        let s = self.image.shape();
        [s[1], s[2], s[3]]
    }

    /// Number of image channels.
    pub fn channels(&self) -> usize {
        self.image.shape()[0]
    }

    /// `(id, image, label, affine)`.
    pub fn into_parts(self) -> (String, Array4<f32>, Option<Array3<u16>>, Affine) {
        (self.id, self.image, self.label, self.affine)
    }

    /// The image as a float volume with this subject's affine.
    pub fn image_volume(&self) -> Volume {
        Volume {
            data: neurodl_io::VoxelData::F32(self.image.clone()),
            affine: self.affine,
            scaling: None,
            meta: Default::default(),
        }
    }

    /// The label map as a volume (`u8` when every label fits) with this subject's affine.
    pub fn label_volume(&self) -> Option<Volume> {
        self.label
            .as_ref()
            .map(|l| Volume::from_labels(l.view(), self.affine))
    }
}
