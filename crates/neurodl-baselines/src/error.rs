//! The one error type of this crate.

/// Everything that can go wrong when fitting or applying a baseline decoder.
///
/// Every variant names what was wrong and where (trial, channel, class), so a
/// failed fit on one subject of a large evaluation can be traced to its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// An input array or label list has the wrong shape or length.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which input (e.g. "trials", "labels").
        what: &'static str,
        /// What the shape should be.
        expected: String,
        /// What it is.
        got: String,
    },
    /// Fewer than two classes were asked for.
    #[error("a decoder needs at least 2 classes, got n_classes = {n_classes}")]
    TooFewClasses {
        /// The `n_classes` passed in.
        n_classes: usize,
    },
    /// A label is not one of `0..n_classes`.
    #[error("label {label} of trial {trial} is not below n_classes = {n_classes}")]
    LabelOutOfRange {
        /// Index of the trial.
        trial: usize,
        /// Its label.
        label: usize,
        /// The `n_classes` passed in.
        n_classes: usize,
    },
    /// A class has too few training trials to estimate anything from.
    #[error("class {class} has {n_trials} training trial(s); at least {min} are needed")]
    TooFewTrials {
        /// The class.
        class: usize,
        /// How many trials it has.
        n_trials: usize,
        /// How many are needed.
        min: usize,
    },
    /// The input holds a NaN or an infinity.
    #[error(
        "trial {trial}, channel {channel}, sample {sample} is {value}: inputs must be finite (check for flat-line/NaN segments in preprocessing)"
    )]
    NonFinite {
        /// Index of the trial.
        trial: usize,
        /// Index of the channel.
        channel: usize,
        /// Index of the time sample.
        sample: usize,
        /// The offending value.
        value: f64,
    },
    /// A feature matrix given to LDA or logistic regression holds a NaN or an infinity.
    #[error("feature {feature} of sample {sample} is {value}: features must be finite")]
    NonFiniteFeature {
        /// Row (sample) index.
        sample: usize,
        /// Column (feature) index.
        feature: usize,
        /// The offending value.
        value: f64,
    },
    /// A covariance matrix is singular or not positive definite.
    #[error(
        "{subject} is not symmetric positive definite (eigenvalues from {min_eigenvalue:e} to {max_eigenvalue:e}); \
         drop flat or duplicated channels, use trials with more samples than channels, or regularise the covariance (e.g. shrinkage)"
    )]
    NotSpd {
        /// Which matrix, e.g. "covariance of trial 7".
        subject: String,
        /// Its smallest eigenvalue.
        min_eigenvalue: f64,
        /// Its largest eigenvalue.
        max_eigenvalue: f64,
    },
    /// An iterative algorithm stopped before meeting its tolerance.
    #[error(
        "{algorithm} did not converge in {iterations} iterations (criterion {criterion:e}, tolerance {tolerance:e}); raise the iteration limit or check the input"
    )]
    NotConverged {
        /// Which algorithm.
        algorithm: &'static str,
        /// Iterations run.
        iterations: usize,
        /// The last value of its stopping criterion.
        criterion: f64,
        /// The tolerance it had to reach.
        tolerance: f64,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A dense linear-algebra routine failed (for example an eigensolver that did not converge).
    #[error("numerical failure: {0}")]
    Numerical(String),
}
