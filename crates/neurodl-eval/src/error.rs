//! The one error type of this crate.

use std::fmt::Display;

/// Everything that can go wrong in metrics and splits. Each message names the
/// parameter, row, class or ids concerned, so a caller can print it as is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A parameter is outside its domain (`n_folds < 2`, a fraction outside (0, 1), …).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// Two inputs that must have one entry per sample differ in length.
    #[error("{what} has {got} entries but {reference} has {expected}")]
    LengthMismatch {
        /// The input with the unexpected length.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The input it must match.
        reference: &'static str,
        /// The length it must have.
        expected: usize,
    },
    /// An input that needs at least one entry is empty.
    #[error("{what} is empty")]
    Empty {
        /// The empty input.
        what: &'static str,
    },
    /// A label name appears twice in a label list.
    #[error("label {label:?} appears twice in labels (positions {first} and {second})")]
    DuplicateLabel {
        /// The repeated name.
        label: String,
        /// Its first position.
        first: usize,
        /// Its second position.
        second: usize,
    },
    /// A class index is not below the number of labels.
    #[error("{what}[{index}] = {value} is not a class index below the {n_labels} labels")]
    ClassOutOfRange {
        /// The input holding it (`y_true`, `y_pred`, `trials`, …).
        what: &'static str,
        /// Position in that input.
        index: usize,
        /// The offending class index.
        value: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A probability row or score that is NaN or infinite.
    #[error("{what} row {row} contains a non-finite value ({value})")]
    NonFinite {
        /// The input (`proba`, `score_pos`).
        what: &'static str,
        /// The row (sample) index.
        row: usize,
        /// The offending value.
        value: f64,
    },
    /// A probability row with the wrong number of columns.
    #[error("{what} row {row} has {got} columns, expected {expected}")]
    RowWidth {
        /// The input (`proba`).
        what: &'static str,
        /// The row index.
        row: usize,
        /// Its number of columns.
        got: usize,
        /// The expected number (the number of labels, or the first row's width).
        expected: usize,
    },
    /// A probability row that is not a distribution (entries outside [0, 1] or a sum
    /// away from 1), typically logits passed where probabilities were expected.
    #[error(
        "proba row {row} is not a probability distribution (sum {sum}, min {min}, max {max}; tolerance {tolerance}); pass softmax outputs, not logits"
    )]
    NotProbabilities {
        /// The row index.
        row: usize,
        /// Sum of the row.
        sum: f64,
        /// Smallest entry.
        min: f64,
        /// Largest entry.
        max: f64,
        /// The tolerance applied ([`crate::PROBA_TOLERANCE`]).
        tolerance: f64,
    },
    /// A binary metric got a class index other than 0 or 1.
    #[error("y_true[{index}] = {value} but a binary metric needs classes 0 and 1 only")]
    NotBinary {
        /// Position in `y_true`.
        index: usize,
        /// The offending class index.
        value: usize,
    },
    /// ROC-AUC is undefined when `y_true` holds a single class.
    #[error(
        "ROC-AUC is undefined: only class {class} is present in y_true ({n} samples); both classes 0 and 1 are needed"
    )]
    SingleClass {
        /// The only class present.
        class: usize,
        /// Number of samples.
        n: usize,
    },
    /// Windows of one trial disagree on the trial's true class.
    #[error(
        "windows {first_window} and {window} belong to the same trial but have true classes {first_class} and {class}"
    )]
    TrialClassConflict {
        /// First window of the trial.
        first_window: usize,
        /// Its class.
        first_class: usize,
        /// The disagreeing window.
        window: usize,
        /// Its class.
        class: usize,
    },
    /// A class has too few trials for the requested split.
    #[error("{group}: class {class} has only {count} trial(s), fewer than {needed} ({why})")]
    ClassTooSmall {
        /// The group being split (`sub-01/ses-01`, `all`, `validation`).
        group: String,
        /// The class index.
        class: usize,
        /// Its number of trials.
        count: usize,
        /// The minimum needed.
        needed: usize,
        /// Which parameter sets the minimum.
        why: String,
    },
    /// A protocol needs more subjects or sessions than the data have.
    #[error("{protocol} needs at least 2 {what}; {detail}")]
    NotEnoughGroups {
        /// The protocol name.
        protocol: &'static str,
        /// `subjects` or `sessions`.
        what: &'static str,
        /// Which subject(s) fall short, with their counts.
        detail: String,
    },
    /// An entry of a train/test run list matches no trial.
    #[error(
        "train-test: {side} entry {entry:?} matches no trial (entries are a run name, or subject/session/run); known runs: {known}"
    )]
    UnmatchedRun {
        /// `train` or `test`.
        side: &'static str,
        /// The entry.
        entry: String,
        /// The first few known runs.
        known: String,
    },
    /// Two entries of the trial list share one (recording, trial) id.
    #[error(
        "trials[{first}] and trials[{second}] are both (recording {recording}, trial {trial}); one entry per trial is expected, not per window"
    )]
    DuplicateTrial {
        /// Recording id.
        recording: u32,
        /// Trial id.
        trial: u32,
        /// First position.
        first: usize,
        /// Second position.
        second: usize,
    },
    /// Trials of one recording disagree on its subject, session or run.
    #[error("recording {recording} is {first} in trials[{first_index}] but {other} in trials[{index}]")]
    InconsistentRecording {
        /// Recording id.
        recording: u32,
        /// subject/session/run seen first.
        first: String,
        /// Where it was first seen.
        first_index: usize,
        /// The disagreeing subject/session/run.
        other: String,
        /// Where.
        index: usize,
    },
    /// A fold is malformed: an index out of range or listed twice, or an empty side.
    #[error("fold {fold}: {problem}")]
    BadFold {
        /// The fold's name.
        fold: String,
        /// What is wrong, naming the indices.
        problem: String,
    },
    /// A fold puts the same unit (trial, recording, run, session, subject) on both sides.
    #[error("fold {fold}: {count} {unit}(s) on both train and test sides: {ids}")]
    Leakage {
        /// The fold's name.
        fold: String,
        /// The unit that leaks (`trial`, `recording`, `run`, `session`, `subject`).
        unit: &'static str,
        /// How many leak.
        count: usize,
        /// The first few ids, with the total.
        ids: String,
    },
}

/// How many ids an error message lists before summarising the rest.
pub(crate) const IDS_SHOWN: usize = 5;

/// "a, b, c" or "a, b, c, d, e and 7 more": the first [`IDS_SHOWN`] ids, then a count.
pub(crate) fn list_ids<T: Display>(ids: &[T]) -> String {
    let shown: Vec<String> = ids.iter().take(IDS_SHOWN).map(ToString::to_string).collect();
    let mut s = shown.join(", ");
    if ids.len() > IDS_SHOWN {
        s.push_str(&format!(" and {} more", ids.len() - IDS_SHOWN));
    }
    s
}
