//! Segmentation metrics for 3-D label maps: overlap (Dice, Jaccard, sensitivity,
//! specificity, precision, volume similarity) and surface distances (Hausdorff, HD95,
//! average symmetric surface distance, normalised surface Dice), spacing-aware, per
//! label and per case, with explicit empty-case rules and statistics that count every
//! case.
//!
//! Inputs are label maps as [`ndarray::ArrayView3<u16>`] (prediction and reference of
//! one shape) and the voxel size `[f64; 3]` in mm along the array's axes, in the same
//! axis order. A label `l` selects the binary masks `map == l`.
//!
//! ## Definitions
//!
//! Overlap metrics come from [`VoxelCounts`] (TP/FP/FN/TN voxels of one label):
//!
//! | metric | formula | pymia 0.3.4 |
//! |---|---|---|
//! | Dice | 2TP / (2TP + FP + FN) | `DiceCoefficient` |
//! | Jaccard | TP / (TP + FP + FN) | `JaccardCoefficient` |
//! | sensitivity (recall) | TP / (TP + FN) | `Sensitivity` |
//! | specificity | TN / (TN + FP) | `Specificity` |
//! | precision | TP / (TP + FP) | `Precision` |
//! | volume similarity | 1 − \|FN − FP\| / (2TP + FP + FN) | `VolumeSimilarity` |
//!
//! Surface metrics follow MONAI 1.5.1 (`monai.metrics`, default `use_subvoxels=False`):
//!
//! - **border voxels**: `binary_erosion(mask) ^ mask` with scipy's default 6-connected
//!   (cross) structuring element and `border_value=0` — mask voxels with a face
//!   neighbour outside the mask or outside the image ([`border_voxels`]);
//! - **directed distances**: for each border voxel of one mask, the Euclidean distance
//!   in mm to the nearest border voxel of the other, from an exact distance transform
//!   ([`distance_transform_edt`] = `scipy.ndimage.distance_transform_edt(sampling=)`),
//!   computed in `f64` (MONAI rounds to `f32`; that is the only difference);
//! - **Hausdorff**: the largest directed distance either way;
//! - **HD95**: MONAI's `compute_hausdorff_distance(percentile=95)`: the 95th percentile
//!   of each direction separately (`torch.quantile`'s linear interpolation, position
//!   0.95·(n − 1) in the sorted list), then the larger of the two. pymia's HD95 differs:
//!   it weights DeepMind surface elements by area and takes the first element at or
//!   past 95 % without interpolation, so its values are not comparable at the voxel level;
//! - **ASSD**: MONAI's `compute_average_surface_distance(symmetric=True)`: the mean
//!   of both directed lists pooled, (Σd_pr + Σd_rp) / (n_p + n_r);
//! - **surface Dice** at a tolerance τ mm: MONAI's `compute_surface_dice`: the fraction
//!   of border voxels of both masks whose directed distance is ≤ τ (border voxels are
//!   counted, not weighted by surfel area as DeepMind's `surface-distance` and MONAI's
//!   `use_subvoxels=True` do).
//!
//! ## Empty masks ([`CaseStatus`])
//!
//! The references disagree on a label absent from the prediction and/or the
//! reference: MONAI returns NaN for Dice (`ignore_empty=True`, its default) whenever
//! the reference is empty, NaN for HD/ASSD/NSD when both are empty, `inf` for HD/ASSD
//! when one is (HD95 can become NaN), and its aggregation then drops the NaNs; pymia
//! returns Dice/Jaccard 1 when both are empty but sensitivity and volume similarity
//! `-inf`, precision 0, HD `inf` (and specificity NaN when the reference fills the
//! volume); nnU-Net reports Dice NaN when both are empty and averages with `nanmean`,
//! which excludes the case. Here every
//! value is defined and every case counts in [`MetricSummary`], which reports how many
//! cases were both-empty, missed or spurious:
//!
//! | status | Dice, Jaccard, VS | sensitivity | precision | specificity | HD, HD95, ASSD | NSD |
//! |---|---|---|---|---|---|---|
//! | `both-present` | formula | formula | formula | formula | formula | formula |
//! | `both-empty` | 1 | 1 | 1 | formula (1) | 0 | 1 |
//! | `missed` (prediction empty) | 0 | 0 | 0 | formula | penalty | 0 |
//! | `spurious` (reference empty) | 0 | 0 | 0 | formula | penalty | 0 |
//!
//! The rule behind the ratios: a ratio 0/0 is 1 when prediction and reference agree
//! exactly on the label (FP = FN = 0) and 0 otherwise — a label on one side only scores
//! worst, never "not applicable". The distance penalty is [`EmptyDistance`]:
//! by default the image diagonal √Σ(nᵢ·sᵢ)² mm (larger than any distance in the
//! image; BraTS's 373.13 mm for 240×240×155 at 1 mm), or `+inf`, or a fixed value.
//!
//! ## Output
//!
//! [`SegmentationEvaluation`] collects cases ([`SegmentationEvaluation::add_case`]),
//! writes a per-case CSV ([`SegmentationEvaluation::to_csv`]) and summarises each
//! label and metric ([`SegmentationEvaluation::statistics`]: mean, sd (ddof = 1, as
//! [`crate::mean_sd`]), median, min, max, n and the empty-case counts). Everything is
//! serde-serialisable; non-finite numbers are written as the strings `"inf"`,
//! `"-inf"` and `"NaN"` (JSON has no literal for them).

mod distance_transform;
mod surface;

use std::collections::HashSet;
use std::fmt::Write as _;

use ndarray::ArrayView3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use distance_transform::distance_transform_edt;
pub use surface::{SurfaceDistances, border_voxels, surface_distances};

use crate::error::EvalError;
use crate::metrics::mean_sd;
use distance_transform::check_spacing;
use surface::{BoundingBox, check_same_shape, check_tolerance, cropped_distances};

/// The percentile of [`LabelMetrics::hd95_mm`].
pub const HD_PERCENTILE: f64 = 95.0;

/// Voxel counts of one label: prediction `== label` against reference `== label`.
/// Every overlap metric is read from these.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VoxelCounts {
    /// Voxels of the label in both.
    pub true_positive: u64,
    /// Voxels of the label in the prediction only.
    pub false_positive: u64,
    /// Voxels of the label in the reference only.
    pub false_negative: u64,
    /// Voxels of the label in neither.
    pub true_negative: u64,
}

/// Whether a label is present in the prediction and the reference of one case.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    /// In both: every metric is its formula.
    BothPresent,
    /// In neither: perfect scores (overlap 1, distances 0).
    BothEmpty,
    /// In the reference only (a miss): overlap 0, distances the penalty.
    Missed,
    /// In the prediction only (a false detection): overlap 0, distances the penalty.
    Spurious,
}

impl CaseStatus {
    /// The name used in CSV and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BothPresent => "both-present",
            Self::BothEmpty => "both-empty",
            Self::Missed => "missed",
            Self::Spurious => "spurious",
        }
    }
}

impl VoxelCounts {
    /// Counts one label over two label maps of one shape. Errors: shapes differ.
    pub fn from_label_maps(
        prediction: ArrayView3<u16>,
        reference: ArrayView3<u16>,
        label: u16,
    ) -> Result<Self, EvalError> {
        check_same_shape(prediction.shape(), reference.shape())?;
        let mut c = Self::default();
        for (&p, &r) in prediction.iter().zip(reference.iter()) {
            match (p == label, r == label) {
                (true, true) => c.true_positive += 1,
                (true, false) => c.false_positive += 1,
                (false, true) => c.false_negative += 1,
                (false, false) => c.true_negative += 1,
            }
        }
        Ok(c)
    }

    /// Voxels of the label in the prediction (TP + FP).
    pub fn predicted(&self) -> u64 {
        self.true_positive + self.false_positive
    }

    /// Voxels of the label in the reference (TP + FN).
    pub fn reference(&self) -> u64 {
        self.true_positive + self.false_negative
    }

    /// All voxels.
    pub fn total(&self) -> u64 {
        self.true_positive + self.false_positive + self.false_negative + self.true_negative
    }

    /// Which of the two masks are empty.
    pub fn status(&self) -> CaseStatus {
        match (self.predicted() > 0, self.reference() > 0) {
            (true, true) => CaseStatus::BothPresent,
            (false, false) => CaseStatus::BothEmpty,
            (false, true) => CaseStatus::Missed,
            (true, false) => CaseStatus::Spurious,
        }
    }

    /// `num / den`; 0/0 is 1 when the masks are identical and 0 otherwise.
    fn ratio(&self, num: u64, den: u64) -> f64 {
        if den > 0 {
            num as f64 / den as f64
        } else if self.false_positive == 0 && self.false_negative == 0 {
            1.0
        } else {
            0.0
        }
    }

    /// 2TP / (2TP + FP + FN); 1 when both masks are empty.
    pub fn dice(&self) -> f64 {
        let (tp, fp, fn_) = (self.true_positive, self.false_positive, self.false_negative);
        self.ratio(2 * tp, 2 * tp + fp + fn_)
    }

    /// TP / (TP + FP + FN); 1 when both masks are empty.
    pub fn jaccard(&self) -> f64 {
        let (tp, fp, fn_) = (self.true_positive, self.false_positive, self.false_negative);
        self.ratio(tp, tp + fp + fn_)
    }

    /// Sensitivity (recall, true-positive rate) TP / (TP + FN); with an empty
    /// reference 1 if the prediction is empty too, else 0.
    pub fn sensitivity(&self) -> f64 {
        self.ratio(self.true_positive, self.reference())
    }

    /// Specificity TN / (TN + FP); with a reference filling the volume 1 if the
    /// prediction fills it too, else 0.
    pub fn specificity(&self) -> f64 {
        self.ratio(self.true_negative, self.true_negative + self.false_positive)
    }

    /// Precision TP / (TP + FP); with an empty prediction 1 if the reference is empty
    /// too, else 0.
    pub fn precision(&self) -> f64 {
        self.ratio(self.true_positive, self.predicted())
    }

    /// pymia's volume similarity 1 − |FN − FP| / (2TP + FP + FN); 1 when both masks
    /// are empty. Note that one empty mask gives 0 here by the formula itself.
    pub fn volume_similarity(&self) -> f64 {
        let (tp, fp, fn_) = (self.true_positive, self.false_positive, self.false_negative);
        let den = 2 * tp + fp + fn_;
        if den == 0 {
            return 1.0;
        }
        1.0 - fn_.abs_diff(fp) as f64 / den as f64
    }
}

/// The distance reported by HD, HD95 and ASSD when exactly one mask is empty.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EmptyDistance {
    /// The diagonal of the image, √Σ(nᵢ·sᵢ)² mm: larger than any distance between two
    /// of its voxels, so a miss always scores worse than any hit (BraTS's convention).
    #[default]
    ImageDiagonal,
    /// `+inf`: means become `inf`; medians stay informative.
    Infinity,
    /// A fixed distance in mm (finite, ≥ 0).
    Fixed {
        /// The distance in mm.
        mm: f64,
    },
}

impl EmptyDistance {
    /// The penalty for an image of `shape` voxels of `spacing` mm.
    pub fn value(&self, shape: [usize; 3], spacing: [f64; 3]) -> f64 {
        match *self {
            Self::ImageDiagonal => shape
                .iter()
                .zip(spacing)
                .map(|(&n, s)| (n as f64 * s).powi(2))
                .sum::<f64>()
                .sqrt(),
            Self::Infinity => f64::INFINITY,
            Self::Fixed { mm } => mm,
        }
    }
}

/// What to evaluate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SegmentationConfig {
    /// The labels to evaluate, in report order (0 is allowed but is usually background).
    pub labels: Vec<u16>,
    /// Tolerance τ of the normalised surface Dice, in mm (the same for every label).
    pub surface_dice_tolerance_mm: f64,
    /// HD/HD95/ASSD when exactly one mask is empty.
    pub empty_distance: EmptyDistance,
}

impl SegmentationConfig {
    /// `labels` with a 1 mm surface-Dice tolerance and the image-diagonal penalty.
    pub fn new(labels: Vec<u16>) -> Self {
        Self {
            labels,
            surface_dice_tolerance_mm: 1.0,
            empty_distance: EmptyDistance::ImageDiagonal,
        }
    }

    /// Refuses no labels, a repeated label, a bad tolerance or a bad fixed penalty.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.labels.is_empty() {
            return Err(EvalError::Empty { what: "labels" });
        }
        let mut seen = HashSet::new();
        for (i, l) in self.labels.iter().enumerate() {
            if !seen.insert(*l) {
                let first = self.labels.iter().position(|x| x == l).unwrap_or(0);
                return Err(EvalError::DuplicateLabel {
                    label: l.to_string(),
                    first,
                    second: i,
                });
            }
        }
        check_tolerance(self.surface_dice_tolerance_mm)?;
        if let EmptyDistance::Fixed { mm } = self.empty_distance
            && !(mm.is_finite() && mm >= 0.0)
        {
            return Err(EvalError::InvalidParameter {
                name: "empty_distance",
                reason: format!("fixed penalty {mm} mm must be finite and >= 0"),
            });
        }
        Ok(())
    }
}

/// Every metric of one label in one case.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LabelMetrics {
    /// The label.
    pub label: u16,
    /// Which masks are empty; decides the empty-case values (module docs).
    pub status: CaseStatus,
    /// The voxel counts the overlap metrics are read from.
    pub counts: VoxelCounts,
    /// Border voxels of the prediction mask.
    pub prediction_border_voxels: usize,
    /// Border voxels of the reference mask.
    pub reference_border_voxels: usize,
    /// [`VoxelCounts::dice`].
    pub dice: f64,
    /// [`VoxelCounts::jaccard`].
    pub jaccard: f64,
    /// [`VoxelCounts::sensitivity`].
    pub sensitivity: f64,
    /// [`VoxelCounts::specificity`].
    pub specificity: f64,
    /// [`VoxelCounts::precision`].
    pub precision: f64,
    /// [`VoxelCounts::volume_similarity`].
    pub volume_similarity: f64,
    /// Hausdorff distance, mm.
    #[serde(with = "nonfinite")]
    pub hausdorff_mm: f64,
    /// 95th-percentile Hausdorff distance (MONAI's convention), mm.
    #[serde(with = "nonfinite")]
    pub hd95_mm: f64,
    /// Average symmetric surface distance (pooled, MONAI's convention), mm.
    #[serde(with = "nonfinite")]
    pub assd_mm: f64,
    /// Normalised surface Dice at [`SegmentationConfig::surface_dice_tolerance_mm`].
    pub surface_dice: f64,
}

/// The metrics of [`LabelMetrics`], in report order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SegMetric {
    /// Dice.
    Dice,
    /// Jaccard.
    Jaccard,
    /// Sensitivity.
    Sensitivity,
    /// Specificity.
    Specificity,
    /// Precision.
    Precision,
    /// Volume similarity.
    VolumeSimilarity,
    /// Hausdorff distance (mm).
    HausdorffMm,
    /// HD95 (mm).
    Hd95Mm,
    /// ASSD (mm).
    AssdMm,
    /// Normalised surface Dice.
    SurfaceDice,
}

impl SegMetric {
    /// All metrics, in report (and CSV column) order.
    pub const ALL: [SegMetric; 10] = [
        Self::Dice,
        Self::Jaccard,
        Self::Sensitivity,
        Self::Specificity,
        Self::Precision,
        Self::VolumeSimilarity,
        Self::HausdorffMm,
        Self::Hd95Mm,
        Self::AssdMm,
        Self::SurfaceDice,
    ];

    /// The CSV column / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dice => "dice",
            Self::Jaccard => "jaccard",
            Self::Sensitivity => "sensitivity",
            Self::Specificity => "specificity",
            Self::Precision => "precision",
            Self::VolumeSimilarity => "volume_similarity",
            Self::HausdorffMm => "hausdorff_mm",
            Self::Hd95Mm => "hd95_mm",
            Self::AssdMm => "assd_mm",
            Self::SurfaceDice => "surface_dice",
        }
    }

    /// Whether larger values are better (overlap metrics) or worse (distances).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::HausdorffMm | Self::Hd95Mm | Self::AssdMm)
    }
}

impl LabelMetrics {
    /// The value of one metric.
    pub fn value(&self, metric: SegMetric) -> f64 {
        match metric {
            SegMetric::Dice => self.dice,
            SegMetric::Jaccard => self.jaccard,
            SegMetric::Sensitivity => self.sensitivity,
            SegMetric::Specificity => self.specificity,
            SegMetric::Precision => self.precision,
            SegMetric::VolumeSimilarity => self.volume_similarity,
            SegMetric::HausdorffMm => self.hausdorff_mm,
            SegMetric::Hd95Mm => self.hd95_mm,
            SegMetric::AssdMm => self.assd_mm,
            SegMetric::SurfaceDice => self.surface_dice,
        }
    }
}

/// Per-label counts and bounding box of the union, gathered in one pass.
#[derive(Clone)]
struct LabelPass {
    counts: Vec<VoxelCounts>,
    bbox: Vec<BoundingBox>,
}

impl LabelPass {
    fn new(k: usize) -> Self {
        Self {
            counts: vec![VoxelCounts::default(); k],
            bbox: vec![BoundingBox::empty(); k],
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            a.true_positive += b.true_positive;
            a.false_positive += b.false_positive;
            a.false_negative += b.false_negative;
        }
        for (a, b) in self.bbox.iter_mut().zip(&other.bbox) {
            a.merge(b);
        }
        self
    }
}

/// Evaluates every label of `config` on one case: prediction and reference label maps
/// of one shape, voxel size `spacing` (mm per axis, in the arrays' axis order).
///
/// One parallel pass counts voxels for all labels; surface metrics then work on each
/// label's bounding box (grown by one voxel) with two exact distance transforms.
///
/// Errors: invalid config ([`SegmentationConfig::validate`]), shapes differ, an empty
/// volume, spacing not finite and positive.
pub fn evaluate_case(
    prediction: ArrayView3<u16>,
    reference: ArrayView3<u16>,
    spacing: [f64; 3],
    config: &SegmentationConfig,
) -> Result<Vec<LabelMetrics>, EvalError> {
    config.validate()?;
    check_spacing(spacing)?;
    check_same_shape(prediction.shape(), reference.shape())?;
    if prediction.is_empty() {
        return Err(EvalError::Empty { what: "prediction" });
    }
    let dim = prediction.dim();
    let shape = [dim.0, dim.1, dim.2];
    let p = prediction.as_standard_layout();
    let r = reference.as_standard_layout();
    let (p, r) = (
        p.as_slice().expect("contiguous"),
        r.as_slice().expect("contiguous"),
    );

    // slot[label] = position in config.labels, or NONE.
    const NONE: u16 = u16::MAX;
    let k = config.labels.len();
    let mut slot = vec![NONE; 1 << 16];
    for (i, &l) in config.labels.iter().enumerate() {
        slot[l as usize] = i as u16;
    }
    let n12 = shape[1] * shape[2];
    let pass = p
        .par_chunks(n12)
        .zip(r.par_chunks(n12))
        .enumerate()
        .fold(
            || LabelPass::new(k),
            |mut acc, (i0, (pp, rr))| {
                for (j, (&a, &b)) in pp.iter().zip(rr).enumerate() {
                    let (sa, sb) = (slot[a as usize], slot[b as usize]);
                    if sa == NONE && sb == NONE {
                        continue;
                    }
                    let at = [i0, j / shape[2], j % shape[2]];
                    if a == b {
                        acc.counts[sa as usize].true_positive += 1;
                        acc.bbox[sa as usize].add(at);
                        continue;
                    }
                    if sa != NONE {
                        acc.counts[sa as usize].false_positive += 1;
                        acc.bbox[sa as usize].add(at);
                    }
                    if sb != NONE {
                        acc.counts[sb as usize].false_negative += 1;
                        acc.bbox[sb as usize].add(at);
                    }
                }
                acc
            },
        )
        .reduce(|| LabelPass::new(k), LabelPass::merge);

    let total = p.len() as u64;
    let penalty = config.empty_distance.value(shape, spacing);
    let mut out = Vec::with_capacity(k);
    for (i, &label) in config.labels.iter().enumerate() {
        let mut counts = pass.counts[i];
        counts.true_negative = total - counts.true_positive - counts.false_positive - counts.false_negative;
        let status = counts.status();
        let (np, nr, d) =
            cropped_distances(shape, pass.bbox[i], |j| p[j] == label, |j| r[j] == label, spacing);
        let (hausdorff_mm, hd95_mm, assd_mm, surface_dice) = match status {
            CaseStatus::BothPresent => (
                d.hausdorff().expect("both borders are non-empty"),
                d.hausdorff_percentile(HD_PERCENTILE)?
                    .expect("both borders are non-empty"),
                d.average_symmetric().expect("both borders are non-empty"),
                d.surface_dice(config.surface_dice_tolerance_mm)?
                    .expect("both borders are non-empty"),
            ),
            CaseStatus::BothEmpty => (0.0, 0.0, 0.0, 1.0),
            CaseStatus::Missed | CaseStatus::Spurious => (penalty, penalty, penalty, 0.0),
        };
        out.push(LabelMetrics {
            label,
            status,
            counts,
            prediction_border_voxels: np,
            reference_border_voxels: nr,
            dice: counts.dice(),
            jaccard: counts.jaccard(),
            sensitivity: counts.sensitivity(),
            specificity: counts.specificity(),
            precision: counts.precision(),
            volume_similarity: counts.volume_similarity(),
            hausdorff_mm,
            hd95_mm,
            assd_mm,
            surface_dice,
        });
    }
    Ok(out)
}

/// The metrics of one case.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CaseResult {
    /// The caller's case id (unique within an evaluation).
    pub case_id: String,
    /// Volume shape in voxels.
    pub shape: [usize; 3],
    /// Voxel size in mm.
    pub spacing: [f64; 3],
    /// One entry per label of the config, in its order.
    pub labels: Vec<LabelMetrics>,
}

/// Summary of one metric of one label over all cases; no case is left out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricSummary {
    /// The label.
    pub label: u16,
    /// The metric.
    pub metric: SegMetric,
    /// Number of cases (all of them, empty ones included).
    pub n: usize,
    /// Cases with the label in both prediction and reference.
    pub n_both_present: usize,
    /// Cases with the label in neither (scored as perfect).
    pub n_both_empty: usize,
    /// Cases where the reference has the label and the prediction does not.
    pub n_missed: usize,
    /// Cases where the prediction has the label and the reference does not.
    pub n_spurious: usize,
    /// Mean over all `n` cases; NaN for none, `inf` if a value is `inf`.
    #[serde(with = "nonfinite")]
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); `None` for fewer than 2 cases or when a
    /// value is infinite.
    pub sd: Option<f64>,
    /// Median (mean of the two middle values for even `n`, as pandas).
    #[serde(with = "nonfinite")]
    pub median: f64,
    /// Smallest value.
    #[serde(with = "nonfinite")]
    pub min: f64,
    /// Largest value.
    #[serde(with = "nonfinite")]
    pub max: f64,
}

/// Per-case metrics of a set of cases under one config.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SegmentationEvaluation {
    /// What is evaluated.
    pub config: SegmentationConfig,
    /// The cases, in the order they were added.
    pub cases: Vec<CaseResult>,
}

impl SegmentationEvaluation {
    /// An evaluation with no cases yet. Errors: invalid config.
    pub fn new(config: SegmentationConfig) -> Result<Self, EvalError> {
        config.validate()?;
        Ok(Self {
            config,
            cases: Vec::new(),
        })
    }

    /// Evaluates one case ([`evaluate_case`]) and appends it. Errors: those of
    /// [`evaluate_case`], or a case id already present.
    pub fn add_case(
        &mut self,
        case_id: impl Into<String>,
        prediction: ArrayView3<u16>,
        reference: ArrayView3<u16>,
        spacing: [f64; 3],
    ) -> Result<&CaseResult, EvalError> {
        let case_id = case_id.into();
        if let Some(first) = self.cases.iter().position(|c| c.case_id == case_id) {
            return Err(EvalError::InvalidParameter {
                name: "case_id",
                reason: format!("{case_id:?} was already added (case {first})"),
            });
        }
        let labels = evaluate_case(prediction, reference, spacing, &self.config)?;
        let dim = prediction.dim();
        self.cases.push(CaseResult {
            case_id,
            shape: [dim.0, dim.1, dim.2],
            spacing,
            labels,
        });
        Ok(self.cases.last().expect("just pushed"))
    }

    /// One row per case and label: `case_id,label,status,tp,fp,fn,tn`, then every
    /// metric of [`SegMetric::ALL`] by its name. Numbers use Rust's shortest
    /// round-trip form; `inf` and `NaN` as such (pandas reads both). Case ids are
    /// quoted when they hold a comma, quote or line break (RFC 4180).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("case_id,label,status,tp,fp,fn,tn");
        for m in SegMetric::ALL {
            s.push(',');
            s.push_str(m.name());
        }
        s.push('\n');
        for case in &self.cases {
            for lm in &case.labels {
                let c = &lm.counts;
                let _ = write!(
                    s,
                    "{},{},{},{},{},{},{}",
                    csv_field(&case.case_id),
                    lm.label,
                    lm.status.as_str(),
                    c.true_positive,
                    c.false_positive,
                    c.false_negative,
                    c.true_negative
                );
                for m in SegMetric::ALL {
                    let _ = write!(s, ",{}", lm.value(m));
                }
                s.push('\n');
            }
        }
        s
    }

    /// Statistics of every label (config order) and metric ([`SegMetric::ALL`]) over
    /// all cases, empty ones included and counted.
    pub fn statistics(&self) -> Vec<MetricSummary> {
        let mut out = Vec::new();
        for (li, &label) in self.config.labels.iter().enumerate() {
            let rows: Vec<&LabelMetrics> = self.cases.iter().filter_map(|c| c.labels.get(li)).collect();
            let count = |s: CaseStatus| rows.iter().filter(|r| r.status == s).count();
            for metric in SegMetric::ALL {
                let xs: Vec<f64> = rows.iter().map(|r| r.value(metric)).collect();
                let ms = mean_sd(&xs);
                out.push(MetricSummary {
                    label,
                    metric,
                    n: xs.len(),
                    n_both_present: count(CaseStatus::BothPresent),
                    n_both_empty: count(CaseStatus::BothEmpty),
                    n_missed: count(CaseStatus::Missed),
                    n_spurious: count(CaseStatus::Spurious),
                    mean: ms.mean,
                    sd: ms.sd.filter(|v| v.is_finite()),
                    median: median(&xs),
                    min: xs.iter().copied().fold(f64::NAN, f64::min),
                    max: xs.iter().copied().fold(f64::NAN, f64::max),
                });
            }
        }
        out
    }
}

/// Median as pandas computes it (NaN for no values).
fn median(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Serialises an `f64` as a JSON number when finite and as `"inf"`, `"-inf"` or
/// `"NaN"` otherwise (serde_json would write `null` for all three, losing which one),
/// and reads those back (also `null` as NaN).
mod nonfinite {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                other => Err(D::Error::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"NaN\", got {other:?}"
                ))),
            },
        }
    }
}
