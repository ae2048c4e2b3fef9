//! The segmentation experiment file: one TOML document declaring the dataset, the planner's
//! settings, the training schedule, the augmentation and the evaluation.
//!
//! ```toml
//! name = "msd-hippocampus"
//! seed = 2021
//!
//! [dataset]
//! root = "../../../shared/data/mri/msd_hippocampus"   # MSD/nnU-Net (dataset.json) or images/ + labels/
//! channels = ["MRI"]                                    # needed when the layout has no dataset.json
//! labels = { 0 = "background", 1 = "anterior", 2 = "posterior" }
//!
//! [plan]                 # PlanSettings: anything nnU-Net's planner decides can be bounded here
//! configuration = "3d_fullres"   # or "2d": nnU-Net's 2-D configuration (single slices)
//! base_features = 16
//! max_batch_size = 4
//!
//! [training]
//! epochs = 20
//! iterations_per_epoch = 50
//!
//! [evaluation]
//! n_folds = 5
//! folds = [1]            # run only fold 1 of 5 (numbered from 1); all when absent
//! ```
//!
//! Every table rejects unknown keys, and errors name the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurodl_volume::Pipeline;
use serde::{Deserialize, Serialize};

use super::plan::{Plan, PlanSettings};
use crate::error::{Result, TrainError};

/// A whole segmentation study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegExperiment {
    /// Name of the study.
    pub name: String,
    /// Seed of every random choice: folds, patches, augmentation, weight initialisation.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The data.
    pub dataset: SegDataset,
    /// Planner settings.
    #[serde(default)]
    pub plan: PlanSettings,
    /// Optimisation.
    #[serde(default)]
    pub training: SegTraining,
    /// Augmentation of training patches; when absent, nnU-Net's default for the plan's
    /// configuration ([`SegExperiment::augmentation_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<Pipeline>,
    /// Cross-validation and metrics.
    #[serde(default)]
    pub evaluation: SegEvaluation,
}

fn default_seed() -> u64 {
    12345
}

/// Where the cases are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegDataset {
    /// Dataset folder: MSD / nnU-Net v2 (`dataset.json`, `imagesTr/`, `labelsTr/`) or plain
    /// `images/` + `labels/` matched by file name. Relative to the experiment file.
    pub root: PathBuf,
    /// Input channel names (e.g. `["MRI"]`, `["CT"]`: a channel named CT gets nnU-Net's CT
    /// normalisation); overrides the dataset's.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Label value → name (0 = background); overrides the dataset's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Use only the first `max_cases` cases (in id order): quick looks and tests.
    #[serde(default)]
    pub max_cases: Option<usize>,
}

/// The optimiser and schedule: nnU-Net's SGD with Nesterov momentum 0.99, polynomial decay
/// `lr · (1 − epoch / epochs)^0.9`, gradient-norm clipping at 12 and weight decay 3e-5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegTraining {
    /// Epochs (nnU-Net: 1000).
    pub epochs: usize,
    /// Optimiser steps per epoch (nnU-Net: 250).
    pub iterations_per_epoch: usize,
    /// Initial learning rate (nnU-Net: 0.01).
    pub lr: f64,
    /// Nesterov momentum (nnU-Net: 0.99).
    pub momentum: f64,
    /// L2 weight decay (nnU-Net: 3e-5).
    pub weight_decay: f64,
    /// Gradient-norm clip (nnU-Net: 12).
    pub gradient_clip_norm: f64,
    /// Validation patches per epoch for the pseudo-Dice curve (nnU-Net: 50 batches).
    pub validation_patches: usize,
    /// Patch-making worker threads.
    pub workers: usize,
}

impl Default for SegTraining {
    fn default() -> Self {
        Self {
            epochs: 1000,
            iterations_per_epoch: 250,
            lr: 0.01,
            momentum: 0.99,
            weight_decay: 3e-5,
            gradient_clip_norm: 12.0,
            validation_patches: 20,
            workers: 2,
        }
    }
}

/// Cross-validation by case and how predictions are made and scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegEvaluation {
    /// Folds over cases (nnU-Net: 5).
    pub n_folds: usize,
    /// Which folds to run (numbered from 1); all when empty.
    pub folds: Vec<usize>,
    /// Sliding-window step as a fraction of the patch (nnU-Net: 0.5).
    pub tile_step_size: f64,
    /// Mirror test-time augmentation over all three axes (nnU-Net: on).
    pub mirror: bool,
    /// Tolerance of the normalised surface Dice, mm.
    pub surface_dice_tolerance_mm: f64,
    /// Write every validation prediction as NIfTI.
    pub save_predictions: bool,
    /// Choose nnU-Net's largest-connected-component post-processing on the held-out
    /// predictions (see `seg::postprocess`); off: predictions are used as the network makes them.
    pub postprocessing: bool,
    /// Which voxels touch for that post-processing: `"faces"` (6 neighbours; SciPy's and
    /// nnU-Net v1's choice, the default) or `"full"` (26; nnU-Net v2's). On MSD hippocampus
    /// fold 1, faces removed more of the spurious islands: anterior HD95 3.9 mm vs 10.3 mm.
    pub postprocessing_connectivity: neurodl_volume::Connectivity,
}

impl Default for SegEvaluation {
    fn default() -> Self {
        Self {
            n_folds: 5,
            folds: Vec::new(),
            tile_step_size: 0.5,
            mirror: true,
            surface_dice_tolerance_mm: 1.0,
            save_predictions: true,
            postprocessing: true,
            postprocessing_connectivity: neurodl_volume::Connectivity::Faces,
        }
    }
}

impl SegExperiment {
    /// Parses an experiment from TOML text; `source` names it in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Self> {
        let exp: SegExperiment = toml::from_str(text).map_err(|e| TrainError::Config {
            source_name: source.to_string(),
            message: crate::experiment::describe_toml_error(text, &e),
        })?;
        exp.validate().map_err(|message| TrainError::Config {
            source_name: source.to_string(),
            message,
        })?;
        Ok(exp)
    }

    /// Reads an experiment file; a relative dataset root is resolved against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let mut exp = Self::from_toml_str(&text, &path.display().to_string())?;
        if exp.dataset.root.is_relative() {
            exp.dataset.root = path.parent().unwrap_or(Path::new(".")).join(&exp.dataset.root);
        }
        Ok(exp)
    }

    /// The training augmentation for `plan`: the declared pipeline, else nnU-Net's default for
    /// the plan's configuration ([`Pipeline::nnunet_default`] in 3-D,
    /// [`Pipeline::nnunet_default_2d`] across a 2-D plan's slice axis).
    pub fn augmentation_for(&self, plan: &Plan) -> Result<Pipeline> {
        match (&self.augmentation, plan.slice_axis) {
            (Some(p), _) => Ok(p.clone()),
            (None, None) => Ok(Pipeline::nnunet_default()),
            (None, Some(axis)) => {
                Pipeline::nnunet_default_2d(axis, plan.patch_size).map_err(|e| TrainError::Config {
                    source_name: "plan.json".into(),
                    message: format!("augmentation for the 2-D plan: {e}"),
                })
            }
        }
    }

    /// The experiment with every default that depends on the plan or the configuration written
    /// out (the augmentation, the feature cap), as the run record stores it; two experiments
    /// that train the same way resolve to the same value (run folders written before these
    /// defaults existed spell them out and still resume).
    pub fn resolved_for(&self, plan: &Plan) -> Result<SegExperiment> {
        let mut exp = self.clone();
        exp.augmentation = Some(self.augmentation_for(plan)?);
        exp.plan.max_features = Some(self.plan.feature_cap());
        Ok(exp)
    }

    /// The experiment as TOML (the run record's `config.toml`).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("an experiment serialises to TOML")
    }

    /// The declared labels as numbers; an error names a key that is not one.
    pub fn declared_labels(&self) -> std::result::Result<BTreeMap<u16, String>, String> {
        self.dataset
            .labels
            .iter()
            .map(|(k, v)| {
                k.parse::<u16>()
                    .map(|k| (k, v.clone()))
                    .map_err(|_| format!("[dataset] labels: key {k:?} is not a label value in 0..=65535"))
            })
            .collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let labels = self.declared_labels()?;
        if !labels.is_empty() && !labels.contains_key(&0) {
            return Err("[dataset] labels: must name the background, label 0".into());
        }
        let t = &self.training;
        if t.epochs == 0 || t.iterations_per_epoch == 0 {
            return Err("[training] epochs and iterations_per_epoch must be at least 1".into());
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(format!("[training] lr = {} must be positive", t.lr));
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(format!("[training] momentum = {} must be in [0, 1)", t.momentum));
        }
        if !(t.weight_decay.is_finite()
            && t.weight_decay >= 0.0
            && t.gradient_clip_norm.is_finite()
            && t.gradient_clip_norm > 0.0)
        {
            return Err("[training] weight_decay must be >= 0 and gradient_clip_norm > 0".into());
        }
        if t.workers == 0 {
            return Err("[training] workers must be at least 1".into());
        }
        let e = &self.evaluation;
        if e.n_folds < 2 {
            return Err(format!("[evaluation] n_folds = {} must be at least 2", e.n_folds));
        }
        if let Some(f) = e.folds.iter().find(|f| **f == 0 || **f > e.n_folds) {
            return Err(format!(
                "[evaluation] folds: fold {f} does not exist (folds are 1..={})",
                e.n_folds
            ));
        }
        if !(e.tile_step_size > 0.0 && e.tile_step_size <= 1.0) {
            return Err(format!(
                "[evaluation] tile_step_size = {} must be in (0, 1]",
                e.tile_step_size
            ));
        }
        if !(e.surface_dice_tolerance_mm.is_finite() && e.surface_dice_tolerance_mm >= 0.0) {
            return Err(format!(
                "[evaluation] surface_dice_tolerance_mm = {} must be >= 0",
                e.surface_dice_tolerance_mm
            ));
        }
        if let Some(a) = &self.augmentation {
            a.validate().map_err(|e| format!("[augmentation] {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[dataset]
root = "data"
labels = { 0 = "background", 1 = "a" }
[training]
epochs = 2
iterations_per_epoch = 3
"#;

    #[test]
    fn a_minimal_file_gets_nnunet_defaults_and_round_trips() {
        let exp = SegExperiment::from_toml_str(MINIMAL, "t.toml").unwrap();
        assert_eq!(exp.training.lr, 0.01);
        assert_eq!(exp.evaluation.n_folds, 5);
        assert_eq!(exp.augmentation, None);
        assert_eq!(exp.declared_labels().unwrap()[&1], "a");
        let back = SegExperiment::from_toml_str(&exp.to_toml_string(), "back").unwrap();
        assert_eq!(back, exp);
    }

    #[test]
    fn spelt_out_defaults_resolve_to_the_same_experiment() {
        use super::super::plan::plan;
        use super::super::plan::tests::{case, fingerprint};
        let fingerprint = fingerprint((0..4).map(|i| case(i, [1.0; 3], [20, 24, 16])).collect());
        let minimal = SegExperiment::from_toml_str(MINIMAL, "t.toml").unwrap();
        let p = plan(&fingerprint, &minimal.plan).unwrap();
        // A run folder written before the plan-dependent defaults spelt them out.
        let mut spelt = minimal.clone();
        spelt.plan.max_features = Some(320);
        spelt.augmentation = Some(Pipeline::nnunet_default());
        assert_ne!(spelt, minimal);
        assert_eq!(spelt.resolved_for(&p).unwrap(), minimal.resolved_for(&p).unwrap());
        // Another cap is another experiment.
        spelt.plan.max_features = Some(256);
        assert_ne!(spelt.resolved_for(&p).unwrap(), minimal.resolved_for(&p).unwrap());
    }

    #[test]
    fn misspelt_keys_and_bad_values_are_named() {
        let err =
            SegExperiment::from_toml_str(&MINIMAL.replace("epochs = 2", "epoch = 2"), "t.toml").unwrap_err();
        assert!(err.to_string().contains("epoch"), "{err}");
        let err = SegExperiment::from_toml_str(&format!("{MINIMAL}[evaluation]\nfolds = [6]\n"), "t.toml")
            .unwrap_err();
        assert!(err.to_string().contains("fold 6"), "{err}");
        let err =
            SegExperiment::from_toml_str(&MINIMAL.replace("0 = \"background\", ", ""), "t.toml").unwrap_err();
        assert!(err.to_string().contains("label 0"), "{err}");
        let err =
            SegExperiment::from_toml_str(&MINIMAL.replace("1 = \"a\"", "x = \"a\""), "t.toml").unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
    }
}
