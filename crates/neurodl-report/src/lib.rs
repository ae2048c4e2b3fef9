//! # neurodl-report
//!
//! Plots and self-contained HTML reports.

#![warn(missing_docs)]
