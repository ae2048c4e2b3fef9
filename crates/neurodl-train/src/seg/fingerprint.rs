//! The dataset fingerprint (nnU-Net's `DatasetFingerprintExtractor`): per case, the spacing,
//! the shape before and after cropping to the non-zero region and the foreground voxel count
//! of every label; over the dataset, the intensity statistics of the foreground voxels of each
//! input channel. Planning ([`super::plan`]) needs nothing else.
//!
//! Foreground intensities: nnU-Net draws a fixed number of foreground voxels *with
//! replacement* from every case, so each case weighs the same. We keep every foreground voxel
//! of a case when it has at most [`MAX_SAMPLES_PER_CASE`] of them and a seeded sample without
//! replacement otherwise, so the statistics of small-foreground datasets (hippocampus: ~3,000
//! voxels per case) are exact rather than resampled; cases then weigh by their foreground
//! size up to that cap. Only the CT normalisation uses these numbers.

use std::collections::BTreeMap;

use ndarray::{ArrayView3, ArrayView4, Axis};
use rayon::prelude::*;

use super::plan::{CaseFingerprint, ChannelIntensity, Fingerprint};
use crate::error::{Result, TrainError};
use crate::rng::{SplitMix64, derive_seed};

/// Foreground voxels kept per case and channel for the intensity statistics.
pub const MAX_SAMPLES_PER_CASE: usize = 10_000;

/// The bounding box of voxels that are non-zero in any channel, `(start, stop)` per axis, or
/// `None` when the image is all zeros.
pub fn nonzero_bbox(image: ArrayView4<f32>) -> Option<([usize; 3], [usize; 3])> {
    let shape = image.shape();
    let mut start = [usize::MAX; 3];
    let mut stop = [0usize; 3];
    for channel in image.axis_iter(Axis(0)) {
        for ((x, y, z), v) in channel.indexed_iter() {
            if *v != 0.0 {
                for (a, i) in [x, y, z].into_iter().enumerate() {
                    start[a] = start[a].min(i);
                    stop[a] = stop[a].max(i + 1);
                }
            }
        }
    }
    if start[0] == usize::MAX || shape.contains(&0) {
        return None;
    }
    Some((start, stop))
}

/// One case's fingerprint and its sampled foreground intensities (one list per channel).
pub fn case_fingerprint(
    id: &str,
    image: ArrayView4<f32>,
    label: ArrayView3<u16>,
    spacing: [f64; 3],
    seed: u64,
) -> Result<(CaseFingerprint, Vec<Vec<f32>>)> {
    let spatial = [image.shape()[1], image.shape()[2], image.shape()[3]];
    if label.shape() != spatial {
        return Err(TrainError::Dataset(format!(
            "case {id}: the label is {:?} voxels but the image is {spatial:?}",
            label.shape()
        )));
    }
    if let Some(((x, y, z), _)) = image
        .index_axis(Axis(0), 0)
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(TrainError::Dataset(format!(
            "case {id}: the image holds a non-finite value at voxel ({x}, {y}, {z})"
        )));
    }
    let (shape_after_crop, relative) = match nonzero_bbox(image) {
        Some((start, stop)) => {
            let cropped = [0, 1, 2].map(|a| stop[a] - start[a]);
            let ratio = cropped.iter().product::<usize>() as f64 / spatial.iter().product::<usize>() as f64;
            (cropped, ratio)
        }
        None => (spatial, 1.0),
    };
    let mut label_voxels = BTreeMap::new();
    let mut foreground = Vec::new();
    for (i, l) in label.iter().enumerate() {
        if *l > 0 {
            *label_voxels.entry(*l).or_insert(0usize) += 1;
            foreground.push(i);
        }
    }
    if foreground.len() > MAX_SAMPLES_PER_CASE {
        let mut rng = SplitMix64::new(seed);
        rng.shuffle(&mut foreground);
        foreground.truncate(MAX_SAMPLES_PER_CASE);
    }
    let samples = image
        .axis_iter(Axis(0))
        .map(|channel| {
            let flat: Vec<f32> = channel.iter().copied().collect();
            foreground.iter().map(|&i| flat[i]).collect()
        })
        .collect();
    Ok((
        CaseFingerprint {
            id: id.to_string(),
            spacing,
            shape: spatial,
            shape_after_crop,
            relative_size_after_crop: relative,
            label_voxels,
        },
        samples,
    ))
}

/// A loaded training case: its id, image `channels × X × Y × Z`, label map and spacing.
pub struct LoadedCase {
    /// Case id.
    pub id: String,
    /// Image voxels.
    pub image: ndarray::Array4<f32>,
    /// Label voxels.
    pub label: ndarray::Array3<u16>,
    /// Voxel size, mm.
    pub spacing: [f64; 3],
}

/// Fingerprints `n_cases` cases loaded by `load` (in parallel, one case in memory per worker).
pub fn fingerprint_dataset(
    n_cases: usize,
    load: impl Fn(usize) -> Result<LoadedCase> + Sync,
    channel_names: &[String],
    labels: &BTreeMap<u16, String>,
    seed: u64,
) -> Result<Fingerprint> {
    let per_case: Vec<(CaseFingerprint, Vec<Vec<f32>>)> = (0..n_cases)
        .into_par_iter()
        .map(|i| {
            let case = load(i)?;
            if case.image.shape()[0] != channel_names.len() {
                return Err(TrainError::Dataset(format!(
                    "case {}: {} image channels, the dataset declares {} ({})",
                    case.id,
                    case.image.shape()[0],
                    channel_names.len(),
                    channel_names.join(", ")
                )));
            }
            if let Some(unknown) = case.label.iter().find(|l| !labels.contains_key(l)) {
                return Err(TrainError::Dataset(format!(
                    "case {}: label value {unknown} is not among the declared labels {:?}",
                    case.id,
                    labels.keys().collect::<Vec<_>>()
                )));
            }
            case_fingerprint(
                &case.id,
                case.image.view(),
                case.label.view(),
                case.spacing,
                derive_seed(seed, &[i as u64]),
            )
        })
        .collect::<Result<_>>()?;
    let channels = channel_names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let mut values: Vec<f64> = per_case
                .iter()
                .flat_map(|(_, s)| s[c].iter().map(|v| f64::from(*v)))
                .collect();
            intensity_stats(name, &mut values)
        })
        .collect();
    Ok(Fingerprint {
        cases: per_case.into_iter().map(|(c, _)| c).collect(),
        channels,
        labels: labels.clone(),
    })
}

fn intensity_stats(name: &str, values: &mut [f64]) -> ChannelIntensity {
    if values.is_empty() {
        return ChannelIntensity {
            name: name.to_string(),
            mean: f64::NAN,
            median: f64::NAN,
            sd: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
            percentile_00_5: f64::NAN,
            percentile_99_5: f64::NAN,
        };
    }
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let q = |p: f64| {
        let rank = p / 100.0 * (values.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
    };
    ChannelIntensity {
        name: name.to_string(),
        mean,
        median: q(50.0),
        sd,
        min: values[0],
        max: values[values.len() - 1],
        percentile_00_5: q(0.5),
        percentile_99_5: q(99.5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    #[test]
    fn crop_and_statistics_follow_the_definitions() {
        let mut image = Array4::<f32>::zeros((1, 6, 5, 4));
        let mut label = Array3::<u16>::zeros((6, 5, 4));
        for x in 1..4 {
            for y in 2..5 {
                image[(0, x, y, 1)] = (x * 10 + y) as f32;
            }
        }
        label[(1, 2, 1)] = 1;
        label[(3, 4, 1)] = 2;
        let (fp, samples) = case_fingerprint("a", image.view(), label.view(), [1.0, 1.0, 2.0], 0).unwrap();
        assert_eq!(fp.shape_after_crop, [3, 3, 1]);
        assert!((fp.relative_size_after_crop - 9.0 / 120.0).abs() < 1e-15);
        assert_eq!(fp.label_voxels, BTreeMap::from([(1, 1), (2, 1)]));
        assert_eq!(samples, vec![vec![12.0, 34.0]]);
        let stats = intensity_stats("MRI", &mut [12.0, 34.0]);
        // numpy: mean 23, std 11, percentile(…, 0.5) = 12.11, percentile(…, 99.5) = 33.89.
        assert_eq!((stats.mean, stats.sd, stats.median), (23.0, 11.0, 23.0));
        assert!((stats.percentile_00_5 - 12.11).abs() < 1e-12);
        assert!((stats.percentile_99_5 - 33.89).abs() < 1e-12);
    }

    #[test]
    fn mismatched_and_undeclared_labels_are_refused() {
        let image = Array4::<f32>::ones((1, 2, 2, 2));
        let err =
            case_fingerprint("b", image.view(), Array3::zeros((2, 2, 3)).view(), [1.0; 3], 0).unwrap_err();
        assert!(err.to_string().contains("case b"), "{err}");
        let labels = BTreeMap::from([(0, "background".to_string()), (1, "x".to_string())]);
        let load = |_: usize| {
            let mut label = Array3::zeros((2, 2, 2));
            label[(0, 0, 0)] = 3;
            Ok(LoadedCase {
                id: "c".into(),
                image: Array4::ones((1, 2, 2, 2)),
                label,
                spacing: [1.0; 3],
            })
        };
        let err = fingerprint_dataset(1, load, &["MRI".into()], &labels, 0).unwrap_err();
        assert!(err.to_string().contains("label value 3"), "{err}");
    }
}
