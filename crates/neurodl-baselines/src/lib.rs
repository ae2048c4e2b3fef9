//! # neurodl-baselines
//!
//! Classical EEG decoders: CSP + LDA and Riemannian tangent space + logistic regression.

#![warn(missing_docs)]
