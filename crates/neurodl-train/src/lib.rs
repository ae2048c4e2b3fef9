//! # neurodl-train
//!
//! The product's main job: point it at a dataset and get a trained decoder and a trustworthy
//! evaluation. An [`Experiment`] (one TOML file) declares the data, the event mapping, the
//! preprocessing, the windows, the decoders (deep models of `neurodl-models` and the classical
//! baselines of `neurodl-baselines`), the training and the protocol; [`run_experiment`] runs it
//! and writes a run record with metrics, plots and an HTML report ([`record`]).
//!
//! Data flows one way: files → preprocessed recordings → trials and windows ([`data`]) →
//! folds made and checked for leakage at trial level (`neurodl-eval`) → training ([`fit`]) →
//! window probabilities → trial scores → run record.
//!
//! ```no_run
//! use neurodl_train::{Experiment, RunOptions, run_experiment};
//!
//! let exp = Experiment::from_file("examples/experiments/eegmmidb_imagery_fists_feet.toml".as_ref())?;
//! let summary = run_experiment(&exp, &RunOptions {
//!     out_dir: "runs/fists-feet".into(),
//!     resume: false,
//!     interrupt_after_epochs: None,
//!     progress: &|_| {},
//! })?;
//! for f in &summary.folds {
//!     println!("{} {}: {:.3}", f.decoder, f.fold, f.scores.accuracy);
//! }
//! # Ok::<(), neurodl_train::TrainError>(())
//! ```

#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod deploy;
pub mod error;
pub mod experiment;
pub mod fit;
pub mod record;
pub mod rng;
pub mod run;
pub mod seg;

pub use error::{Result, TrainError};
pub use experiment::{Baseline, Decoder, Experiment};
pub use run::{FoldResult, Progress, RunOptions, RunSummary, run_experiment};
