//! 3-D segmentation, nnU-Net style: fingerprint a labelled dataset, derive a training plan
//! from it ([`plan`]), train U-Nets under cross-validation by case, predict with sliding
//! windows, and evaluate with the segmentation metrics of `neurodl-eval`.

pub mod fingerprint;
pub mod plan;
