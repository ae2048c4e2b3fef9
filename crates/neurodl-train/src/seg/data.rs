//! From files to training cases and back: nnU-Net's preprocessing (reorient to RAS, crop to
//! the non-zero region, resample to the plan's spacing, normalise as the plan says) with the
//! record that maps a prediction back onto the original scan, voxel for voxel.

use std::collections::BTreeMap;

use ndarray::{Array3, ArrayView4, Axis};
use neurodl_io::volume_dataset::{CaseFiles, VolumeDataset};
use neurodl_io::{Affine, Volume};
use neurodl_volume::intensity::{CtStats, ZScoreRegion, ct_normalize, zscore};
use neurodl_volume::spatial::{
    crop_to_nonzero, geometry_for_spacing, reorient_to_canonical, resample_image_to, resample_to_geometry,
};
use neurodl_volume::{Boundary, BoundingBox, Geometry, Interpolation, Reorientation, Subject};

use super::experiment::SegExperiment;
use super::plan::{Normalization, Plan};
use crate::error::{Result, TrainError};

/// A case ready for training or inference, and how to undo its preprocessing.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    /// Preprocessed image (and label, when the case has one) on the plan's grid.
    pub subject: Subject,
    /// The way back to the original scan.
    pub undo: CaseGeometry,
}

/// What preprocessing did to a case's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseGeometry {
    /// The reorientation to RAS (holds the original grid).
    pub reorientation: Reorientation,
    /// The non-zero box on the RAS grid.
    pub crop: BoundingBox,
    /// The cropped RAS grid, before resampling.
    pub cropped: Geometry,
}

fn volume_err(case: &str, e: impl std::fmt::Display) -> TrainError {
    TrainError::Dataset(format!("case {case}: {e}"))
}

/// Preprocesses one case as `plan` says. Images are resampled with cubic B-splines and labels
/// with nearest neighbours (nnU-Net: order 3 for data, order 1 on one-hot maps for labels;
/// the two agree except at boundaries of label regions).
pub fn prepare_case(
    id: &str,
    images: &[Volume],
    label: Option<&Volume>,
    plan: &Plan,
) -> Result<PreparedCase> {
    let subject = Subject::from_volumes(id, images, label).map_err(|e| volume_err(id, e))?;
    if subject.channels() != plan.in_channels {
        return Err(volume_err(
            id,
            format!(
                "{} image channels, the plan expects {}",
                subject.channels(),
                plan.in_channels
            ),
        ));
    }
    if let Some(l) = subject.label()
        && let Some(v) = l.iter().find(|v| !plan.labels.contains_key(v))
    {
        return Err(volume_err(
            id,
            format!(
                "label value {v} is not among the plan's labels {:?}",
                plan.labels.keys().collect::<Vec<_>>()
            ),
        ));
    }
    if let Some(((c, x, y, z), _)) = subject.image().indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(volume_err(
            id,
            format!("channel {c} holds a non-finite value at voxel ({x}, {y}, {z})"),
        ));
    }
    let (canonical, reorientation) = reorient_to_canonical(&subject);
    let (cropped, crop) = crop_to_nonzero(&canonical).map_err(|e| volume_err(id, e))?;
    let cropped_geometry = cropped.geometry();
    let target = geometry_for_spacing(&cropped_geometry, plan.spacing).map_err(|e| volume_err(id, e))?;
    let mut resampled = if same_grid(&target, &cropped_geometry) {
        cropped
    } else {
        resample_to_geometry(&cropped, &target, Interpolation::Cubic, Boundary::Nearest)
            .map_err(|e| volume_err(id, e))?
    };
    normalise(&mut resampled, &plan.normalization).map_err(|e| volume_err(id, e))?;
    Ok(PreparedCase {
        subject: resampled,
        undo: CaseGeometry {
            reorientation,
            crop,
            cropped: cropped_geometry,
        },
    })
}

fn same_grid(a: &Geometry, b: &Geometry) -> bool {
    a.shape == b.shape
        && a.affine
            .matrix
            .iter()
            .flatten()
            .zip(b.affine.matrix.iter().flatten())
            .all(|(x, y)| (x - y).abs() < 1e-9)
}

fn normalise(subject: &mut Subject, schemes: &[Normalization]) -> neurodl_volume::Result<()> {
    let mut image = subject.image_mut();
    for (c, scheme) in schemes.iter().enumerate() {
        let channel = image.slice_mut(ndarray::s![c..c + 1, .., .., ..]);
        match scheme {
            Normalization::ZScore { use_mask } => {
                let region = if *use_mask {
                    ZScoreRegion::NonZero
                } else {
                    ZScoreRegion::All
                };
                zscore(channel, region)?;
            }
            Normalization::Ct {
                lower,
                upper,
                mean,
                sd,
            } => {
                let stats = CtStats {
                    mean: *mean,
                    std: *sd,
                    lower: *lower,
                    upper: *upper,
                };
                ct_normalize(channel.index_axis_move(Axis(0), 0), &stats);
            }
        }
    }
    Ok(())
}

/// Puts class probabilities `K × X × Y × Z` predicted on a prepared case's grid back onto the
/// original scan: resampled (linearly) to the cropped grid, argmax, un-cropped (background
/// outside the box) and un-reoriented. Returns the label map on the original grid.
pub fn restore_labels(
    probabilities: ArrayView4<f32>,
    prepared_affine: &Affine,
    undo: &CaseGeometry,
    class_values: &[u16],
) -> Result<Array3<u16>> {
    let on_crop =
        if probabilities.shape()[1..] == undo.cropped.shape && prepared_affine == &undo.cropped.affine {
            probabilities.to_owned()
        } else {
            resample_image_to(
                probabilities,
                prepared_affine,
                &undo.cropped,
                Interpolation::Linear,
                Boundary::Nearest,
            )
            .map_err(|e| TrainError::Dataset(format!("restoring a prediction: {e}")))?
        };
    let labels = argmax_labels(on_crop.view(), class_values);
    let full = undo
        .crop
        .uncrop_labels(labels.view(), 0)
        .map_err(|e| TrainError::Dataset(format!("restoring a prediction: {e}")))?;
    undo.reorientation
        .undo_labels(full.view())
        .map_err(|e| TrainError::Dataset(format!("restoring a prediction: {e}")))
}

/// The label of the most probable class at every voxel (ties: the lower class).
pub fn argmax_labels(scores: ArrayView4<f32>, class_values: &[u16]) -> Array3<u16> {
    let [_, x, y, z] = [
        scores.shape()[0],
        scores.shape()[1],
        scores.shape()[2],
        scores.shape()[3],
    ];
    let mut out = Array3::<u16>::zeros((x, y, z));
    let mut best = Array3::<f32>::from_elem((x, y, z), f32::NEG_INFINITY);
    for (k, channel) in scores.axis_iter(Axis(0)).enumerate() {
        ndarray::Zip::from(&mut out)
            .and(&mut best)
            .and(&channel)
            .for_each(|o, b, v| {
                if *v > *b {
                    *b = *v;
                    *o = class_values[k];
                }
            });
    }
    out
}

/// The dataset of an experiment, with its channel and label names resolved (the experiment's
/// override the dataset's) and the case list cut to `max_cases`.
pub struct SegData {
    /// The dataset as discovered.
    pub dataset: VolumeDataset,
    /// Training cases (labelled), in id order.
    pub cases: Vec<CaseFiles>,
    /// Input channel names.
    pub channels: Vec<String>,
    /// Label value → name.
    pub labels: BTreeMap<u16, String>,
}

/// Opens the experiment's dataset and checks it can be trained on.
pub fn open_dataset(exp: &SegExperiment) -> Result<SegData> {
    let dataset = VolumeDataset::open(&exp.dataset.root)?;
    let declared = exp.declared_labels().map_err(TrainError::Dataset)?;
    let labels = if declared.is_empty() {
        dataset.label_names.clone()
    } else {
        declared
    };
    if labels.len() < 2 {
        return Err(TrainError::Dataset(format!(
            "{}: no labels declared: name them in [dataset] labels (e.g. {{ 0 = \"background\", 1 = \"lesion\" }})",
            exp.dataset.root.display()
        )));
    }
    let mut cases: Vec<CaseFiles> = dataset
        .cases
        .iter()
        .filter(|c| c.label.is_some())
        .cloned()
        .collect();
    if let Some(n) = exp.dataset.max_cases {
        cases.truncate(n);
    }
    if cases.len() < exp.evaluation.n_folds {
        return Err(TrainError::Dataset(format!(
            "{}: {} labelled cases cannot make {} folds",
            exp.dataset.root.display(),
            cases.len(),
            exp.evaluation.n_folds
        )));
    }
    let n_channels = cases[0].images.len();
    let channels = if !exp.dataset.channels.is_empty() {
        exp.dataset.channels.clone()
    } else if dataset.channel_names.len() == n_channels {
        dataset.channel_names.clone()
    } else {
        (0..n_channels).map(|c| format!("channel_{c}")).collect()
    };
    if channels.len() != n_channels {
        return Err(TrainError::Dataset(format!(
            "[dataset] channels names {} channels, the cases have {n_channels} image files each",
            channels.len()
        )));
    }
    Ok(SegData {
        dataset,
        cases,
        channels,
        labels,
    })
}

/// Reads a case's images and label.
pub fn read_case(case: &CaseFiles) -> Result<(Vec<Volume>, Option<Volume>)> {
    Ok((case.read_images()?, case.read_label()?))
}

/// A saved label map (a prediction): the volume, for its header geometry, and its labels.
pub(crate) fn read_label_map(path: &std::path::Path) -> Result<(Volume, Array3<u16>)> {
    let volume = neurodl_io::open_volume(path)?;
    let labels = volume
        .to_labels()
        .map_err(|e| TrainError::Dataset(format!("{}: {e}", path.display())))?;
    Ok((volume, labels))
}
