//! # neurodl-eval
//!
//! Classification metrics and leakage-safe evaluation protocols.

#![warn(missing_docs)]
