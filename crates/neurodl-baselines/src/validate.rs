//! Input checks shared by the decoders: shapes, finiteness, labels.

use ndarray::{ArrayView2, ArrayView3};

use crate::BaselineError;

/// Fewest training trials per class the decoders accept: with one trial a class
/// has no within-class spread, and LDA's pooled covariance and CSP's class
/// covariance rest on a single example.
pub const MIN_TRIALS_PER_CLASS: usize = 2;

/// Check a trial array: non-empty in every dimension, `n_chans` channels if given, all finite.
pub(crate) fn check_trials(x: ArrayView3<f64>, n_chans: Option<usize>) -> Result<(), BaselineError> {
    let (n_trials, c, t) = x.dim();
    if n_trials == 0 || c == 0 || t < 2 {
        return Err(BaselineError::Shape {
            what: "trials",
            expected: "[n_trials >= 1, n_chans >= 1, n_times >= 2]".into(),
            got: format!("{:?}", x.shape()),
        });
    }
    if let Some(expected) = n_chans
        && c != expected
    {
        return Err(BaselineError::Shape {
            what: "trials",
            expected: format!("{expected} channels (as fitted)"),
            got: format!("{c} channels"),
        });
    }
    for ((trial, channel, sample), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(BaselineError::NonFinite {
                trial,
                channel,
                sample,
                value,
            });
        }
    }
    Ok(())
}

/// Check a feature matrix `[n_samples, n_features]`: non-empty, `n_features` if given, all finite.
pub(crate) fn check_features(x: ArrayView2<f64>, n_features: Option<usize>) -> Result<(), BaselineError> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(BaselineError::Shape {
            what: "features",
            expected: "[n_samples >= 1, n_features >= 1]".into(),
            got: format!("{:?}", x.shape()),
        });
    }
    if let Some(expected) = n_features
        && d != expected
    {
        return Err(BaselineError::Shape {
            what: "features",
            expected: format!("{expected} features (as fitted)"),
            got: format!("{d} features"),
        });
    }
    for ((sample, feature), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(BaselineError::NonFiniteFeature {
                sample,
                feature,
                value,
            });
        }
    }
    Ok(())
}

/// Check labels against the number of samples and classes; returns the class counts.
pub(crate) fn check_labels(
    y: &[usize],
    n_samples: usize,
    n_classes: usize,
) -> Result<Vec<usize>, BaselineError> {
    if n_classes < 2 {
        return Err(BaselineError::TooFewClasses { n_classes });
    }
    if y.len() != n_samples {
        return Err(BaselineError::Shape {
            what: "labels",
            expected: format!("one label per trial ({n_samples})"),
            got: format!("{} labels", y.len()),
        });
    }
    let mut counts = vec![0usize; n_classes];
    for (trial, &label) in y.iter().enumerate() {
        if label >= n_classes {
            return Err(BaselineError::LabelOutOfRange {
                trial,
                label,
                n_classes,
            });
        }
        counts[label] += 1;
    }
    for (class, &n) in counts.iter().enumerate() {
        if n < MIN_TRIALS_PER_CLASS {
            return Err(BaselineError::TooFewTrials {
                class,
                n_trials: n,
                min: MIN_TRIALS_PER_CLASS,
            });
        }
    }
    Ok(counts)
}
