//! 3-D segmentation, nnU-Net style: fingerprint a labelled dataset ([`fingerprint`]), derive a
//! training plan from it ([`plan`]), preprocess cases and map predictions back ([`data`]),
//! train U-Nets ([`train`]) under cross-validation by case, predict with sliding windows and
//! evaluate with the segmentation metrics of `neurodl-eval`, choosing nnU-Net's
//! connected-component post-processing on the held-out predictions ([`postprocess`]).

pub mod data;
pub mod experiment;
pub mod fingerprint;
pub mod plan;
pub mod postprocess;
pub mod predict;
pub mod record;
pub mod run;
pub mod train;

pub use experiment::SegExperiment;
pub use postprocess::Postprocessing;
pub use predict::Segmenter;
pub use run::{SegProgress, SegRunOptions, SegRunSummary, run_seg_experiment};
