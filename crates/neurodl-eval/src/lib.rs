//! # neurodl-eval
//!
//! Classification metrics with scikit-learn semantics and leakage-safe
//! evaluation splits with MOABB's protocol names. No deep-learning dependency;
//! inputs are plain slices.
//!
//! ## The leakage rule
//!
//! **Splitting happens at the level of trials and recordings, never windows.**
//! A [`TrialMeta`] is one trial, identified by `(recording, trial)`; the caller
//! maps its windows to trials, so the overlapping windows cut from one trial can
//! never be on both sides of a split. Coarser protocols keep coarser units whole.
//! [`make_folds`] builds folds that obey this, and [`check_no_leakage`] verifies
//! any fold (also ones built elsewhere) and names what leaks.
//!
//! ## Protocols ([`Protocol`])
//!
//! | `kind` | MOABB | folds | never on both sides |
//! |---|---|---|---|
//! | `within-session` (`n_folds` = 5, `shuffle` = true) | `WithinSessionEvaluation` | per (subject, session): stratified k-fold over its trials ([`stratified_kfold`], scikit-learn's allocation) | a trial |
//! | `cross-session` | `CrossSessionEvaluation` | per subject: leave one session out (≥ 2 sessions each) | a session |
//! | `cross-subject` | `CrossSubjectEvaluation` | leave one subject out (≥ 2 subjects) | a subject |
//! | `train-test` (`train`, `test` run lists) | — (fixed splits such as BCI IV 2a's sessions) | one fold; entries are `run` or `subject/session/run` | a run |
//!
//! [`split_validation`] carves a stratified, trial-level validation set out of a
//! fold's training side for early stopping. All randomness comes from a seeded
//! [`rng::SplitMix64`], so the same seed gives the same folds on every platform.
//!
//! ## Metrics
//!
//! [`ConfusionMatrix`] counts over a fixed label list, and every metric reads it,
//! matching scikit-learn 1.9 called with `labels=range(n_labels)`:
//!
//! - accuracy: `accuracy_score`;
//! - balanced accuracy: mean recall over classes present in `y_true`
//!   (`balanced_accuracy_score`; classes only predicted are left out, as
//!   scikit-learn does after warning);
//! - Cohen's kappa: `cohen_kappa_score`; NaN when undefined (truth and
//!   predictions all one class), scikit-learn's default;
//! - macro F1: `f1_score(average="macro", labels=range(n_labels),
//!   zero_division=0)` — labels absent everywhere count as 0
//!   ([`ConfusionMatrix::f1_macro_present`] gives the `labels=None` variant);
//! - ROC-AUC: `roc_auc_score` for two classes, ties as in `roc_curve`; an error
//!   when `y_true` has one class (scikit-learn returns NaN with a warning).
//!
//! [`score`] turns probability rows into [`Scores`] (argmax predictions);
//! [`aggregate_trials`] first averages window probabilities per trial, as
//! braindecode's trial-wise evaluation does; [`mean_sd`] summarises folds or
//! subjects with pandas' sample standard deviation.
//!
//! ## Segmentation
//!
//! [`segmentation`] scores 3-D label maps (overlap and MONAI-convention surface
//! metrics, spacing-aware, with explicit empty-case values that are counted in the
//! statistics); see its module docs for the definitions and how MONAI, pymia and
//! nnU-Net differ on empty masks.

#![warn(missing_docs)]

pub mod error;
pub mod metrics;
pub mod rng;
pub mod segmentation;
pub mod split;

pub use error::EvalError;
pub use metrics::{
    ClassScores, ConfusionMatrix, MeanSd, PROBA_TOLERANCE, Scores, aggregate_trials, mean_sd, roc_auc_binary,
    score,
};
pub use segmentation::{
    CaseResult, CaseStatus, EmptyDistance, LabelMetrics, MetricSummary, SegMetric, SegmentationConfig,
    SegmentationEvaluation, SurfaceDistances, VoxelCounts, border_voxels, distance_transform_edt,
    evaluate_case, surface_distances,
};
pub use split::{
    Fold, Protocol, TrialMeta, check_no_leakage, make_folds, split_validation, stratified_kfold,
};
