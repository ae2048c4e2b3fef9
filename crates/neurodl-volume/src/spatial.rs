//! Deterministic spatial preprocessing and its inverses: reorientation to RAS, resampling
//! to a spacing or onto a reference grid, cropping to the non-zero bounding box, padding or
//! cropping to a shape, and flips.
//!
//! Every function returns a new [`Subject`] whose affine keeps world positions exact (a
//! voxel's content sits at the same millimetre coordinates before and after), plus, where a
//! prediction must be mapped back, a record whose `undo_*` methods do it.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Axis, s};
use neurodl_io::Affine;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError, param};
use crate::interp::{Boundary, Interpolation, Warp, warp_joint};
use crate::subject::{Geometry, Subject};

fn translation(offset: [f64; 3]) -> Affine {
    Affine::from_rows([
        [1.0, 0.0, 0.0, offset[0]],
        [0.0, 1.0, 0.0, offset[1]],
        [0.0, 0.0, 1.0, offset[2]],
    ])
}

fn rows(a: &Affine) -> [[f64; 4]; 3] {
    [a.matrix[0], a.matrix[1], a.matrix[2]]
}

/// How [`reorient_to_canonical`] permuted and flipped the axes, to undo it on a
/// prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorientation {
    /// The grid before reorientation.
    pub original: Geometry,
    /// `source_axis[w]`: the original voxel axis that became canonical axis `w`.
    pub source_axis: [usize; 3],
    /// Whether canonical axis `w` runs opposite to its source axis.
    pub flipped: [bool; 3],
}

fn permute_flip<T: Clone, D: ndarray::Dimension, P: ndarray::IntoDimension<Dim = D>>(
    mut a: ndarray::ArrayView<T, D>,
    perm: P,
    flips: &[(usize, bool)],
) -> ndarray::Array<T, D> {
    for (axis, f) in flips {
        if *f {
            a.invert_axis(Axis(*axis));
        }
    }
    a.permuted_axes(perm).as_standard_layout().into_owned()
}

impl Reorientation {
    /// Whether it changed nothing (the input was already RAS).
    pub fn is_identity(&self) -> bool {
        self.source_axis == [0, 1, 2] && self.flipped == [false; 3]
    }

    /// Maps a canonical-grid image (`C × X × Y × Z`) back onto the original grid.
    pub fn undo_image(&self, image: ArrayView4<f32>) -> Result<Array4<f32>> {
        self.check(&image.shape()[1..])?;
        // Inverse: original axis v = canonical axis w where source_axis[w] == v.
        let mut inv = [0usize; 3];
        for (w, v) in self.source_axis.iter().enumerate() {
            inv[*v] = w;
        }
        let flips: Vec<(usize, bool)> = (0..3).map(|w| (w + 1, self.flipped[w])).collect();
        Ok(permute_flip(
            image,
            [0, inv[0] + 1, inv[1] + 1, inv[2] + 1],
            &flips,
        ))
    }

    /// Maps a canonical-grid label map back onto the original grid.
    pub fn undo_labels(&self, labels: ArrayView3<u16>) -> Result<Array3<u16>> {
        self.check(labels.shape())?;
        let mut inv = [0usize; 3];
        for (w, v) in self.source_axis.iter().enumerate() {
            inv[*v] = w;
        }
        let flips: Vec<(usize, bool)> = (0..3).map(|w| (w, self.flipped[w])).collect();
        Ok(permute_flip(labels, inv, &flips))
    }

    fn check(&self, shape: &[usize]) -> Result<()> {
        let expected: Vec<usize> = self.source_axis.iter().map(|v| self.original.shape[*v]).collect();
        if shape != expected.as_slice() {
            return Err(VolumeError::ShapeMismatch {
                what: "canonical grid and array to reorient back",
                left: expected,
                right: shape.to_vec(),
            });
        }
        Ok(())
    }
}

/// Reorients to the closest canonical (RAS+) voxel order, as nibabel's
/// `as_closest_canonical`: axes permuted and flipped (no interpolation), affine
/// `A · T` where `T` maps new indices to old ones, so world positions are unchanged.
pub fn reorient_to_canonical(subject: &Subject) -> (Subject, Reorientation) {
    let orientation = subject.affine().orientation();
    let shape = subject.spatial_shape();
    let mut source_axis = [0usize; 3];
    let mut flipped = [false; 3];
    for (v, (w, sign)) in orientation.iter().enumerate() {
        source_axis[*w] = v;
        flipped[*w] = *sign < 0.0;
    }
    // T: column w has ±1 in row source_axis[w]; a flipped axis adds n − 1 to the translation.
    let mut t = [[0.0; 4]; 3];
    for w in 0..3 {
        let v = source_axis[w];
        if flipped[w] {
            t[v][w] = -1.0;
            t[v][3] = shape[v] as f64 - 1.0;
        } else {
            t[v][w] = 1.0;
        }
    }
    let affine = subject.affine().compose(&Affine::from_rows(t));
    let record = Reorientation {
        original: subject.geometry(),
        source_axis,
        flipped,
    };
    let img_flips: Vec<(usize, bool)> = (0..3).map(|v| (v + 1, orientation[v].1 < 0.0)).collect();
    let perm = [0, source_axis[0] + 1, source_axis[1] + 1, source_axis[2] + 1];
    let image = permute_flip(subject.image().view(), perm, &img_flips);
    let label = subject.label().map(|l| {
        let flips: Vec<(usize, bool)> = (0..3).map(|v| (v, orientation[v].1 < 0.0)).collect();
        permute_flip(l.view(), source_axis, &flips)
    });
    (subject.with_data(image, label, affine), record)
}

/// The grid TorchIO's `Resample(spacing)` produces: same directions, the requested spacing,
/// `floor(n · old / new)` voxels per axis (never extrapolating beyond the old extent), and
/// centred on the old grid's centre.
pub fn geometry_for_spacing(geometry: &Geometry, spacing: [f64; 3]) -> Result<Geometry> {
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(param(
            "spacing",
            spacing,
            "every spacing must be finite and > 0 mm",
        ));
    }
    let old = geometry.affine.spacing();
    let mut shape = [0usize; 3];
    for a in 0..3 {
        shape[a] = if geometry.shape[a] == 1 {
            1
        } else {
            ((geometry.shape[a] as f64 * old[a] / spacing[a]).floor() as usize).max(1)
        };
    }
    let m = &geometry.affine.matrix;
    let centre_index = geometry.shape.map(|n| (n as f64 - 1.0) / 2.0);
    let centre = geometry.affine.apply(centre_index);
    let mut r = [[0.0; 4]; 3];
    for row in 0..3 {
        let mut origin = centre[row];
        for col in 0..3 {
            let direction = m[row][col] / old[col];
            r[row][col] = direction * spacing[col];
            origin -= direction * spacing[col] * (shape[col] as f64 - 1.0) / 2.0;
        }
        r[row][3] = origin;
    }
    Ok(Geometry {
        shape,
        affine: Affine::from_rows(r),
    })
}

/// Input-voxel coordinates of output voxels: `A_in⁻¹ · A_out`.
fn grid_to_grid(from: &Affine, to: &Geometry) -> Result<[[f64; 4]; 3]> {
    let inv = from
        .inverse()
        .ok_or(VolumeError::SingularAffine { what: "source grid" })?;
    Ok(rows(&inv.compose(&to.affine)))
}

/// Resamples onto the grid of [`geometry_for_spacing`]: image with `order`, label
/// nearest. Boundary is [`Boundary::Nearest`]: every output voxel centre lies inside the
/// old extent, and clamping keeps a point that rounding put 1e-12 voxels outside.
pub fn resample_to_spacing(subject: &Subject, spacing: [f64; 3], order: Interpolation) -> Result<Subject> {
    let target = geometry_for_spacing(&subject.geometry(), spacing)?;
    resample_to_geometry(subject, &target, order, Boundary::Nearest)
}

/// Resamples a subject onto any target grid (e.g. a prediction back onto the original
/// scan): output voxel `o` takes the input at world position `A_target · o`.
pub fn resample_to_geometry(
    subject: &Subject,
    target: &Geometry,
    order: Interpolation,
    boundary: Boundary,
) -> Result<Subject> {
    let warp = Warp::affine(grid_to_grid(subject.affine(), target)?);
    let (img, lab) = warp_joint(
        Some(subject.image().view()),
        subject.label().map(|l| l.view()),
        &warp,
        target.shape,
        order,
        boundary,
        0,
    )?;
    Ok(subject.with_data(img.expect("image in, image out"), lab, target.affine))
}

/// Resamples a float array (e.g. class probabilities, `C × X × Y × Z`) from grid `from`
/// onto `target`.
pub fn resample_image_to(
    image: ArrayView4<f32>,
    from: &Affine,
    target: &Geometry,
    order: Interpolation,
    boundary: Boundary,
) -> Result<Array4<f32>> {
    let warp = Warp::affine(grid_to_grid(from, target)?);
    let (img, _) = warp_joint(Some(image), None, &warp, target.shape, order, boundary, 0)?;
    Ok(img.expect("image in, image out"))
}

/// Resamples a label map from grid `from` onto `target`, nearest-neighbour; voxels
/// outside the source grid get `fill`.
pub fn resample_labels_to(
    labels: ArrayView3<u16>,
    from: &Affine,
    target: &Geometry,
    fill: u16,
) -> Result<Array3<u16>> {
    let warp = Warp::affine(grid_to_grid(from, target)?);
    let (_, lab) = warp_joint(
        None,
        Some(labels),
        &warp,
        target.shape,
        Interpolation::Nearest,
        Boundary::Constant(0.0),
        fill,
    )?;
    Ok(lab.expect("labels in, labels out"))
}

/// A half-open voxel box `[start, stop)` per axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// First voxel inside, per axis.
    pub start: [usize; 3],
    /// One past the last voxel inside, per axis.
    pub stop: [usize; 3],
    /// The spatial shape of the volume the box was taken from.
    pub full_shape: [usize; 3],
}

impl BoundingBox {
    /// `stop − start`.
    pub fn shape(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.stop[a] - self.start[a])
    }

    fn check(&self, shape: &[usize]) -> Result<()> {
        if shape != self.shape() {
            return Err(VolumeError::ShapeMismatch {
                what: "bounding box and cropped array",
                left: self.shape().to_vec(),
                right: shape.to_vec(),
            });
        }
        Ok(())
    }

    /// Puts a cropped label map back into the full grid, `fill` elsewhere.
    pub fn uncrop_labels(&self, cropped: ArrayView3<u16>, fill: u16) -> Result<Array3<u16>> {
        self.check(cropped.shape())?;
        let mut out = Array3::from_elem(self.full_shape, fill);
        out.slice_mut(s![
            self.start[0]..self.stop[0],
            self.start[1]..self.stop[1],
            self.start[2]..self.stop[2]
        ])
        .assign(&cropped);
        Ok(out)
    }

    /// Puts a cropped `C × X × Y × Z` array (image or probabilities) back into the full
    /// grid, `fill` elsewhere.
    pub fn uncrop_image(&self, cropped: ArrayView4<f32>, fill: f32) -> Result<Array4<f32>> {
        self.check(&cropped.shape()[1..])?;
        let c = cropped.shape()[0];
        let [x, y, z] = self.full_shape;
        let mut out = Array4::from_elem((c, x, y, z), fill);
        out.slice_mut(s![
            ..,
            self.start[0]..self.stop[0],
            self.start[1]..self.stop[1],
            self.start[2]..self.stop[2]
        ])
        .assign(&cropped);
        Ok(out)
    }
}

/// The bounding box of voxels where any channel is non-zero (nnU-Net's
/// `create_nonzero_mask` + `get_bbox_from_mask`; hole filling does not move a bounding
/// box, so it is not done). `None` when every voxel is zero.
pub fn nonzero_bbox(image: ArrayView4<f32>) -> Option<BoundingBox> {
    let s = image.shape();
    let full_shape = [s[1], s[2], s[3]];
    let mut start = full_shape;
    let mut stop = [0usize; 3];
    for ch in image.axis_iter(Axis(0)) {
        for ((x, y, z), v) in ch.indexed_iter() {
            if *v != 0.0 {
                let p = [x, y, z];
                for a in 0..3 {
                    start[a] = start[a].min(p[a]);
                    stop[a] = stop[a].max(p[a] + 1);
                }
            }
        }
    }
    (stop[0] > 0).then_some(BoundingBox {
        start,
        stop,
        full_shape,
    })
}

/// Crops to a box (affine shifted so world positions hold).
pub fn crop(subject: &Subject, bbox: &BoundingBox) -> Result<Subject> {
    let shape = subject.spatial_shape();
    if bbox.full_shape != shape || (0..3).any(|a| bbox.start[a] >= bbox.stop[a] || bbox.stop[a] > shape[a]) {
        return Err(param(
            "bbox",
            bbox,
            "must be a non-empty box inside the subject's grid",
        ));
    }
    let (b0, b1) = (bbox.start, bbox.stop);
    let image = subject
        .image()
        .slice(s![.., b0[0]..b1[0], b0[1]..b1[1], b0[2]..b1[2]])
        .to_owned();
    let label = subject
        .label()
        .map(|l| l.slice(s![b0[0]..b1[0], b0[1]..b1[1], b0[2]..b1[2]]).to_owned());
    let affine = subject.affine().compose(&translation(b0.map(|v| v as f64)));
    Ok(subject.with_data(image, label, affine))
}

/// nnU-Net's `crop_to_nonzero`: crops image and label to the box of non-zero image
/// voxels; returns the box so a prediction can be put back with
/// [`BoundingBox::uncrop_labels`]. An all-zero image is left whole.
pub fn crop_to_nonzero(subject: &Subject) -> Result<(Subject, BoundingBox)> {
    let bbox = nonzero_bbox(subject.image().view()).unwrap_or(BoundingBox {
        start: [0; 3],
        stop: subject.spatial_shape(),
        full_shape: subject.spatial_shape(),
    });
    Ok((crop(subject, &bbox)?, bbox))
}

/// What fills voxels that padding adds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// This value for the image (labels get 0).
    Constant(f32),
    /// The nearest edge voxel's value (image and label).
    Edge,
}

/// Where the old grid sits in the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Centred: `offset = floor((new − old) / 2)` per axis (nnU-Net's `pad_nd_image`
    /// puts the odd voxel after; cropping removes the odd voxel at the end too).
    Centre,
    /// Old voxel `i` goes to new voxel `i + offset` (negative: cropped at the start).
    Offset([isize; 3]),
}

/// The record of [`pad_or_crop`], to map predictions back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PadCrop {
    /// Old voxel `i` is new voxel `i + offset`.
    pub offset: [isize; 3],
    /// Spatial shape before.
    pub original_shape: [usize; 3],
    /// Spatial shape after.
    pub shape: [usize; 3],
}

/// `out[t] = src[t − offset]`, or `fill` / the edge voxel where `t − offset` is outside.
fn shift_copy<T: Copy + Send + Sync>(
    src: ArrayView3<T>,
    offset: [isize; 3],
    out_shape: [usize; 3],
    fill: Option<T>,
) -> Array3<T> {
    let n = [src.shape()[0], src.shape()[1], src.shape()[2]];
    let map = |a: usize, t: usize| -> Option<usize> {
        let i = t as isize - offset[a];
        if i >= 0 && (i as usize) < n[a] {
            Some(i as usize)
        } else if fill.is_none() {
            Some(i.clamp(0, n[a] as isize - 1) as usize)
        } else {
            None
        }
    };
    let idx: Vec<Vec<Option<usize>>> = (0..3)
        .map(|a| (0..out_shape[a]).map(|t| map(a, t)).collect())
        .collect();
    Array3::from_shape_fn(out_shape, |(x, y, z)| match (idx[0][x], idx[1][y], idx[2][z]) {
        (Some(i), Some(j), Some(k)) => src[(i, j, k)],
        _ => fill.expect("edge mode maps every index"),
    })
}

impl PadCrop {
    fn inverse(&self) -> PadCrop {
        PadCrop {
            offset: self.offset.map(|o| -o),
            original_shape: self.shape,
            shape: self.original_shape,
        }
    }

    fn check(&self, shape: &[usize]) -> Result<()> {
        if shape != self.shape {
            return Err(VolumeError::ShapeMismatch {
                what: "padded/cropped grid and array to map back",
                left: self.shape.to_vec(),
                right: shape.to_vec(),
            });
        }
        Ok(())
    }

    /// Maps a label map on the new grid back to the original grid (0 where the new grid
    /// had cropped the original away).
    pub fn undo_labels(&self, labels: ArrayView3<u16>) -> Result<Array3<u16>> {
        self.check(labels.shape())?;
        let inv = self.inverse();
        Ok(shift_copy(labels, inv.offset, inv.shape, Some(0)))
    }

    /// Maps a `C × X × Y × Z` array on the new grid back to the original grid (`fill`
    /// where the new grid had cropped the original away).
    pub fn undo_image(&self, image: ArrayView4<f32>, fill: f32) -> Result<Array4<f32>> {
        self.check(&image.shape()[1..])?;
        let inv = self.inverse();
        let chans: Vec<Array3<f32>> = image
            .axis_iter(Axis(0))
            .map(|c| shift_copy(c, inv.offset, inv.shape, Some(fill)))
            .collect();
        let views: Vec<_> = chans.iter().map(|c| c.view().insert_axis(Axis(0))).collect();
        Ok(ndarray::concatenate(Axis(0), &views).expect("channels share the shape"))
    }
}

/// Pads and/or crops to `shape` (TorchIO's `CropOrPad`), placing the old grid by
/// `anchor`; the affine is shifted so world positions hold.
pub fn pad_or_crop(
    subject: &Subject,
    shape: [usize; 3],
    anchor: Anchor,
    mode: PadMode,
) -> Result<(Subject, PadCrop)> {
    if shape.contains(&0) {
        return Err(param("shape", shape, "every target size must be ≥ 1"));
    }
    let old = subject.spatial_shape();
    let offset = match anchor {
        Anchor::Centre => [0, 1, 2].map(|a| (shape[a] as isize - old[a] as isize).div_euclid(2)),
        Anchor::Offset(o) => o,
    };
    let (img_fill, lab_fill) = match mode {
        PadMode::Constant(v) => (Some(v), Some(0u16)),
        PadMode::Edge => (None, None),
    };
    let chans: Vec<Array3<f32>> = subject
        .image()
        .axis_iter(Axis(0))
        .map(|c| shift_copy(c, offset, shape, img_fill))
        .collect();
    let views: Vec<_> = chans.iter().map(|c| c.view().insert_axis(Axis(0))).collect();
    let image = ndarray::concatenate(Axis(0), &views).expect("channels share the shape");
    let label = subject
        .label()
        .map(|l| shift_copy(l.view(), offset, shape, lab_fill));
    let affine = subject
        .affine()
        .compose(&translation(offset.map(|o| -(o as f64))));
    let record = PadCrop {
        offset,
        original_shape: old,
        shape,
    };
    Ok((subject.with_data(image, label, affine), record))
}

/// Flips image and label along the axes marked `true` (TorchIO's `Flip`): an augmentation,
/// so the affine is kept (the anatomy changes side, the grid does not).
pub fn flip(subject: &Subject, axes: [bool; 3]) -> Subject {
    let mut image = subject.image().view();
    let mut label = subject.label().map(|l| l.view());
    for a in 0..3 {
        if axes[a] {
            image.invert_axis(Axis(a + 1));
            if let Some(l) = label.as_mut() {
                l.invert_axis(Axis(a));
            }
        }
    }
    subject.with_data(
        image.as_standard_layout().into_owned(),
        label.map(|l| l.as_standard_layout().into_owned()),
        *subject.affine(),
    )
}
