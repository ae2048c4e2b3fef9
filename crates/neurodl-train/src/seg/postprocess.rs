//! nnU-Net's post-processing, decided on the cross-validation predictions.
//!
//! nnU-Net v2 (`determine_postprocessing`) tries two kinds of step on the held-out predictions
//! of the folds, and keeps a step only if it raises the mean Dice:
//!
//! 1. keep only the largest connected component of the whole foreground — kept if the mean
//!    over labels of the per-label mean Dice rises;
//! 2. then, for each label, keep only that label's largest component — kept if that label's
//!    mean Dice rises.
//!
//! Removed voxels become background. neurodl does the same. A label's voxels after
//! post-processing depend only on step 1 and on that label's own step 2, so each held-out
//! case is scored once per label in the four combinations when it is predicted
//! ([`CaseVariants`], stored with the fold); the decision and the final metrics are read off
//! those scores, and no prediction has to be kept in memory or read back.
//!
//! As in nnU-Net, the steps are chosen on the same held-out cases the final metrics are
//! reported on: a mild optimistic bias (at most one yes/no choice per label plus one), which
//! the run record shows by reporting the metrics before post-processing as well.

use std::path::Path;

use ndarray::Array3;
use neurodl_eval::segmentation::{
    CaseResult, LabelMetrics, SegmentationConfig, SegmentationEvaluation, evaluate_case,
};
use neurodl_volume::{Connectivity, keep_largest_component};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// One held-out case scored under every post-processing combination.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CaseVariants {
    /// The case.
    pub case_id: String,
    /// Volume shape in voxels.
    pub shape: [usize; 3],
    /// Voxel size, mm.
    pub spacing: [f64; 3],
    /// `labels[i][v]`: the metrics of the config's label `i` for variant
    /// `v = 2·(largest foreground component kept) + (the label's largest component kept)`.
    pub labels: Vec<[LabelMetrics; 4]>,
}

fn variant(foreground: bool, label: bool) -> usize {
    2 * usize::from(foreground) + usize::from(label)
}

fn component_error(case_id: &str, e: neurodl_volume::VolumeError) -> TrainError {
    TrainError::Training(format!("case {case_id}: connected components: {e}"))
}

/// Scores `predicted` against `reference` for every label of `config` in the four
/// post-processing combinations. Errors: those of [`evaluate_case`].
pub fn case_variants(
    case_id: &str,
    predicted: &Array3<u16>,
    reference: &Array3<u16>,
    spacing: [f64; 3],
    config: &SegmentationConfig,
    connectivity: Connectivity,
) -> Result<CaseVariants> {
    let mut largest_foreground = predicted.clone();
    keep_largest_component(&mut largest_foreground, &config.labels, connectivity)
        .map_err(|e| component_error(case_id, e))?;
    let mut labels = Vec::with_capacity(config.labels.len());
    for &label in &config.labels {
        let one = SegmentationConfig {
            labels: vec![label],
            ..config.clone()
        };
        let score = |map: &Array3<u16>| -> Result<LabelMetrics> {
            let mut metrics = evaluate_case(map.view(), reference.view(), spacing, &one)
                .map_err(|e| TrainError::Training(format!("case {case_id}: {e}")))?;
            Ok(metrics.remove(0))
        };
        let mut per_variant = Vec::with_capacity(4);
        for base in [predicted, &largest_foreground] {
            per_variant.push(score(base)?);
            let mut largest = base.clone();
            keep_largest_component(&mut largest, &[label], connectivity)
                .map_err(|e| component_error(case_id, e))?;
            per_variant.push(score(&largest)?);
        }
        labels.push(per_variant.try_into().expect("four variants"));
    }
    let dim = predicted.dim();
    Ok(CaseVariants {
        case_id: case_id.to_string(),
        shape: [dim.0, dim.1, dim.2],
        spacing,
        labels,
    })
}

/// One step that was tried, and why it was kept or not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PostprocessingDecision {
    /// What the step does, e.g. `"largest foreground component"`, `"largest component of label 1"`.
    pub step: String,
    /// Whether it is applied.
    pub accepted: bool,
    /// Cases it was judged on.
    pub n_cases: usize,
    /// The mean Dice it was judged by (over labels for the foreground step), before…
    pub mean_dice_before: f64,
    /// …and after the step.
    pub mean_dice_after: f64,
}

/// The post-processing a model applies to its label maps (`postprocessing.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Postprocessing {
    /// How voxels connect into components.
    pub connectivity: Connectivity,
    /// Keep only the largest connected component of all foreground labels together.
    pub largest_foreground_component: bool,
    /// Labels of which only the largest connected component is kept.
    pub largest_component_labels: Vec<u16>,
    /// The evidence, step by step.
    pub decisions: Vec<PostprocessingDecision>,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

impl Postprocessing {
    /// nnU-Net's choice on scored held-out cases (module docs); `labels` are the config's
    /// labels in the order of [`CaseVariants::labels`]. With no cases, nothing is applied.
    pub fn decide(cases: &[CaseVariants], labels: &[u16], connectivity: Connectivity) -> Self {
        let label_dice = |i: usize, v: usize| mean(cases.iter().map(|c| c.labels[i][v].dice));
        let over_labels =
            |foreground: bool| mean((0..labels.len()).map(|i| label_dice(i, variant(foreground, false))));
        let (before, after) = (over_labels(false), over_labels(true));
        let foreground = !cases.is_empty() && after > before;
        let mut decisions = vec![PostprocessingDecision {
            step: "largest foreground component".into(),
            accepted: foreground,
            n_cases: cases.len(),
            mean_dice_before: before,
            mean_dice_after: after,
        }];
        let mut largest_component_labels = Vec::new();
        for (i, &label) in labels.iter().enumerate() {
            let before = label_dice(i, variant(foreground, false));
            let after = label_dice(i, variant(foreground, true));
            let accepted = !cases.is_empty() && after > before;
            if accepted {
                largest_component_labels.push(label);
            }
            decisions.push(PostprocessingDecision {
                step: format!("largest component of label {label}"),
                accepted,
                n_cases: cases.len(),
                mean_dice_before: before,
                mean_dice_after: after,
            });
        }
        Self {
            connectivity,
            largest_foreground_component: foreground,
            largest_component_labels,
            decisions,
        }
    }

    /// Whether any step is applied.
    pub fn changes_anything(&self) -> bool {
        self.largest_foreground_component || !self.largest_component_labels.is_empty()
    }

    /// Applies the chosen steps to a label map; `foreground` lists every foreground label.
    pub fn apply(&self, labels: &mut Array3<u16>, foreground: &[u16]) -> Result<()> {
        if self.largest_foreground_component {
            keep_largest_component(labels, foreground, self.connectivity)
                .map_err(|e| component_error("(prediction)", e))?;
        }
        for &label in &self.largest_component_labels {
            keep_largest_component(labels, &[label], self.connectivity)
                .map_err(|e| component_error("(prediction)", e))?;
        }
        Ok(())
    }

    /// The metrics of the cases as this post-processing leaves them (every label of `config`,
    /// in the order the cases were scored with).
    pub fn evaluation(
        &self,
        cases: &[CaseVariants],
        config: &SegmentationConfig,
    ) -> Result<SegmentationEvaluation> {
        let mut evaluation = SegmentationEvaluation::new(config.clone())
            .map_err(|e| TrainError::Training(format!("metric config: {e}")))?;
        for c in cases {
            let labels = config
                .labels
                .iter()
                .zip(&c.labels)
                .map(|(l, v)| {
                    let label_step = self.largest_component_labels.contains(l);
                    v[variant(self.largest_foreground_component, label_step)].clone()
                })
                .collect();
            evaluation.cases.push(CaseResult {
                case_id: c.case_id.clone(),
                shape: c.shape,
                spacing: c.spacing,
                labels,
            });
        }
        Ok(evaluation)
    }

    /// Reads `postprocessing.json` from a model folder; `None` if there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        crate::record::read_json_if_present(&dir.join("postprocessing.json"))
    }
}

/// The evaluation before post-processing (variant 0 of every label).
pub fn raw_evaluation(cases: &[CaseVariants], config: &SegmentationConfig) -> Result<SegmentationEvaluation> {
    Postprocessing {
        connectivity: Connectivity::Full,
        largest_foreground_component: false,
        largest_component_labels: Vec::new(),
        decisions: Vec::new(),
    }
    .evaluation(cases, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label 1: a 3-voxel structure matching the reference plus a spurious lone voxel; label 2
    /// matches exactly. Keeping label 1's largest component must be chosen and make it perfect,
    /// and nothing must be chosen for label 2 (no gain).
    #[test]
    fn the_step_that_removes_a_spurious_island_is_chosen_and_scored() {
        let mut reference = Array3::<u16>::zeros((1, 8, 8));
        for y in 0..3 {
            reference[[0, 1, y]] = 1;
        }
        reference[[0, 5, 1]] = 2;
        reference[[0, 5, 2]] = 2;
        let mut predicted = reference.clone();
        predicted[[0, 7, 7]] = 1;
        let config = SegmentationConfig::new(vec![1, 2]);
        let v = case_variants(
            "c",
            &predicted,
            &reference,
            [1.0; 3],
            &config,
            Connectivity::Faces,
        )
        .unwrap();
        assert!(v.labels[0][0].dice < 1.0);
        assert_eq!(v.labels[0][1].dice, 1.0);
        let post = Postprocessing::decide(std::slice::from_ref(&v), &[1, 2], Connectivity::Faces);
        // The foreground step would also delete label 2's structure (a separate component).
        assert!(!post.largest_foreground_component, "{post:?}");
        assert_eq!(post.largest_component_labels, vec![1]);
        let eval = post.evaluation(std::slice::from_ref(&v), &config).unwrap();
        assert_eq!(eval.cases[0].labels[0].dice, 1.0);
        assert_eq!(eval.cases[0].labels[0].hd95_mm, 0.0);
        let raw = raw_evaluation(&[v], &config).unwrap();
        assert!(raw.cases[0].labels[0].hausdorff_mm > 5.0);
        // Applying it to the label map gives the reference back.
        let mut map = predicted.clone();
        post.apply(&mut map, &[1, 2]).unwrap();
        assert_eq!(map, reference);
        assert!(
            Postprocessing::decide(&[], &[1, 2], Connectivity::Full)
                .largest_component_labels
                .is_empty()
        );
    }
}
