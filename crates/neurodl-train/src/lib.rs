//! # neurodl-train
//!
//! Experiments, training and evaluation of EEG decoders.

#![warn(missing_docs)]
