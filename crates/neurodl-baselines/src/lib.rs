//! # neurodl-baselines
//!
//! Classical EEG decoders that need no deep learning, numerically matching their
//! Python references:
//!
//! - [`CspLda`]: `make_pipeline(mne.decoding.CSP(), LinearDiscriminantAnalysis())`
//!   with MNE 1.13 and scikit-learn 1.9 defaults ([`csp`], [`lda`]), for two or more classes;
//! - [`TangentSpaceLr`]: `make_pipeline(pyriemann.estimation.Covariances("scm"),
//!   TangentSpace(metric="riemann"), LogisticRegression())` ([`covariance`],
//!   [`riemann`], [`logistic`]).
//!
//! Both implement [`Decoder`]. Trials are `[n_trials, n_chans, n_times]` arrays of
//! `f64`, labels are `0..n_classes`. Parity with the Python references is tested
//! on real EEG (PhysioNet eegmmidb) in `tests/parity.rs`, with goldens from
//! `tests/reference/generate_baseline_goldens.py`.
//!
//! ```
//! use ndarray::Array3;
//! use neurodl_baselines::{CspConfig, CspLda, Decoder};
//!
//! // two classes whose power differs between channels 0 and 1
//! let x = Array3::from_shape_fn((8, 3, 100), |(t, c, s)| {
//!     let gain = if (t % 2 == 0) == (c == 0) { 3.0 } else { 1.0 };
//!     gain * ((s * (c + 2) + t) as f64 * 0.37).sin() + 0.1 * ((s * 7 + c * 13 + t) as f64).cos()
//! });
//! let y: Vec<usize> = (0..8).map(|t| t % 2).collect();
//! let model = CspLda::fit(x.view(), &y, 2, &CspConfig { n_components: 2, reg: None })?;
//! let p = model.predict_proba(x.view())?;
//! assert_eq!(p.dim(), (8, 2));
//! assert_eq!(model.predict(x.view())?, y);
//! # Ok::<(), neurodl_baselines::BaselineError>(())
//! ```

#![warn(missing_docs)]

pub mod covariance;
pub mod csp;
mod error;
pub mod lda;
pub mod linalg;
pub mod logistic;
mod pipeline;
pub mod riemann;
mod validate;

pub use csp::{Csp, CspConfig};
pub use error::BaselineError;
pub use lda::Lda;
pub use logistic::{LogisticConfig, LogisticRegression};
pub use pipeline::{CspLda, TangentSpaceConfig, TangentSpaceLr};
pub use validate::MIN_TRIALS_PER_CLASS;

use ndarray::{Array2, ArrayView3};

/// A fitted decoder of trials `[n_trials, n_chans, n_times]` into class probabilities.
pub trait Decoder: Send + Sync {
    /// Short identifier (`"csp_lda"`, `"tangent_space_lr"`).
    fn name(&self) -> &'static str;

    /// Class probabilities `[n_trials, n_classes]`; rows sum to 1.
    fn predict_proba(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError>;

    /// Most probable class of each trial (the first one on ties).
    fn predict(&self, x: ArrayView3<f64>) -> Result<Vec<usize>, BaselineError> {
        let p = self.predict_proba(x)?;
        Ok(p.outer_iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |best, (k, &v)| if v > best.1 { (k, v) } else { best },
                    )
                    .0
            })
            .collect())
    }
}
