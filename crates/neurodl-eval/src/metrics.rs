//! Classification metrics with scikit-learn 1.9 semantics.
//!
//! Everything is computed from a [`ConfusionMatrix`] over a fixed, known label
//! list. Class indices are positions in that list, so the matrix always has one
//! row and column per label, also for labels that never occur — exactly as
//! scikit-learn's functions behave when called with `labels=range(n_labels)`.
//! The counts are integers, and the metrics are formed from exact integer
//! numerators and denominators wherever the formula allows, so results agree
//! with scikit-learn's to floating-point summation order (tested at 1e-12).

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;

/// How far a probability row may stray from a distribution before [`score`] and
/// [`aggregate_trials`] refuse it: each entry in `[-tol, 1 + tol]` and the row sum
/// within `tol` of 1. 1e-4 accepts `f32` softmax outputs (sum error ~1e-7 per
/// row) and refuses logits.
pub const PROBA_TOLERANCE: f64 = 1e-4;

/// A confusion matrix over a fixed label list: `counts[true][pred]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Class names; class index `i` is `labels[i]`.
    pub labels: Vec<String>,
    /// `counts[t][p]`: samples of true class `t` predicted as `p`
    /// (scikit-learn's `confusion_matrix(y_true, y_pred, labels=range(n))`).
    pub counts: Vec<Vec<u64>>,
}

/// Precision, recall and F1 of one class, `zero_division = 0`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassScores {
    /// Class name.
    pub label: String,
    /// True samples of this class (row sum).
    pub support: u64,
    /// Samples predicted as this class (column sum).
    pub predicted: u64,
    /// tp / predicted, 0 when nothing was predicted as this class.
    pub precision: f64,
    /// tp / support, 0 when the class is absent from `y_true`.
    pub recall: f64,
    /// 2·tp / (support + predicted), 0 when the class is absent from both.
    pub f1: f64,
}

impl ConfusionMatrix {
    /// Counts `(y_true[i], y_pred[i])` pairs. Errors on an empty or duplicate label
    /// list, inputs of different lengths, no samples, or a class index
    /// `>= labels.len()` (naming the position and value).
    pub fn new(labels: Vec<String>, y_true: &[usize], y_pred: &[usize]) -> Result<Self, EvalError> {
        check_labels(&labels)?;
        if y_pred.len() != y_true.len() {
            return Err(EvalError::LengthMismatch {
                what: "y_pred",
                got: y_pred.len(),
                reference: "y_true",
                expected: y_true.len(),
            });
        }
        if y_true.is_empty() {
            return Err(EvalError::Empty { what: "y_true" });
        }
        let k = labels.len();
        check_classes("y_true", y_true, k)?;
        check_classes("y_pred", y_pred, k)?;
        let mut counts = vec![vec![0u64; k]; k];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            counts[t][p] += 1;
        }
        Ok(Self { labels, counts })
    }

    /// Number of samples counted.
    pub fn n(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn k(&self) -> usize {
        self.counts.len()
    }

    fn tp(&self, c: usize) -> u64 {
        self.counts[c][c]
    }

    fn support(&self, c: usize) -> u64 {
        self.counts[c].iter().sum()
    }

    fn predicted(&self, c: usize) -> u64 {
        self.counts.iter().map(|row| row[c]).sum()
    }

    fn trace(&self) -> u64 {
        (0..self.k()).map(|c| self.tp(c)).sum()
    }

    /// Fraction of correct predictions (`sklearn.metrics.accuracy_score`).
    /// NaN for a matrix with no samples (only reachable by building one by hand).
    pub fn accuracy(&self) -> f64 {
        self.trace() as f64 / self.n() as f64
    }

    /// Mean recall over the classes **present in `y_true`**
    /// (`sklearn.metrics.balanced_accuracy_score`, `adjusted=False`). A class that
    /// is only predicted, never true, has undefined recall; scikit-learn warns
    /// ("y_pred contains classes not in y_true") and leaves it out of the mean, and
    /// so does this. Labels absent from both sides do not count either.
    pub fn balanced_accuracy(&self) -> f64 {
        let mut sum = 0.0;
        let mut present = 0usize;
        for c in 0..self.k() {
            let s = self.support(c);
            if s > 0 {
                sum += self.tp(c) as f64 / s as f64;
                present += 1;
            }
        }
        sum / present as f64
    }

    /// Cohen's kappa of predictions against truth, unweighted
    /// (`sklearn.metrics.cohen_kappa_score`): `1 - Σ_{i≠j} C_ij / Σ_{i≠j} E_ij` with
    /// `E = outer(pred totals, true totals) / n`.
    ///
    /// Undefined (0/0) exactly when truth and predictions are all one and the same
    /// class (chance agreement is then 1); scikit-learn 1.9 warns and returns its
    /// `replace_undefined_by` default, NaN, and so does this. (`Scores` serialises a
    /// NaN kappa as JSON `null`.) Predicting a single class while the truth has
    /// several gives 0, not NaN.
    pub fn cohen_kappa(&self) -> f64 {
        let n = u128::from(self.n());
        let disagree = n - u128::from(self.trace());
        // n · Σ_{i≠j} E_ij = n² − Σ_i pred_i · true_i, exactly in integers.
        let agree_by_chance: u128 = (0..self.k())
            .map(|c| u128::from(self.predicted(c)) * u128::from(self.support(c)))
            .sum();
        let expected_disagree_n = n * n - agree_by_chance;
        if expected_disagree_n == 0 {
            return f64::NAN;
        }
        1.0 - (disagree * n) as f64 / expected_disagree_n as f64
    }

    /// Precision, recall and F1 of every label, in label order, with
    /// `zero_division = 0` (`sklearn.metrics.precision_recall_fscore_support(...,
    /// labels=range(n), zero_division=0)`).
    pub fn per_class(&self) -> Vec<ClassScores> {
        (0..self.k())
            .map(|c| {
                let tp = self.tp(c);
                let support = self.support(c);
                let predicted = self.predicted(c);
                ClassScores {
                    label: self.labels.get(c).cloned().unwrap_or_default(),
                    support,
                    predicted,
                    precision: ratio_or_zero(tp, predicted),
                    recall: ratio_or_zero(tp, support),
                    f1: ratio_or_zero(2 * tp, support + predicted),
                }
            })
            .collect()
    }

    /// Macro F1 over **all** labels of the matrix:
    /// `sklearn.metrics.f1_score(y_true, y_pred, labels=range(n_labels),
    /// average="macro", zero_division=0)`. A label absent from both `y_true` and
    /// `y_pred` has F1 0/0 → 0 and still counts in the mean, which lowers the
    /// score; call [`Self::f1_macro_present`] for scikit-learn's `labels=None`
    /// behaviour (mean over labels that occur). A label that occurs on one side
    /// only has F1 0 under both.
    pub fn f1_macro(&self) -> f64 {
        let f1 = self.per_class();
        f1.iter().map(|c| c.f1).sum::<f64>() / f1.len() as f64
    }

    /// Macro F1 over the labels present in `y_true` or `y_pred`, as
    /// `sklearn.metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)`
    /// with `labels=None` computes it.
    pub fn f1_macro_present(&self) -> f64 {
        let present: Vec<f64> = self
            .per_class()
            .into_iter()
            .filter(|c| c.support + c.predicted > 0)
            .map(|c| c.f1)
            .collect();
        present.iter().sum::<f64>() / present.len() as f64
    }
}

fn ratio_or_zero(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

fn check_labels(labels: &[String]) -> Result<(), EvalError> {
    if labels.is_empty() {
        return Err(EvalError::Empty { what: "labels" });
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        if let Some(&first) = seen.get(l.as_str()) {
            return Err(EvalError::DuplicateLabel {
                label: l.clone(),
                first,
                second: i,
            });
        }
        seen.insert(l, i);
    }
    Ok(())
}

fn check_classes(what: &'static str, y: &[usize], n_labels: usize) -> Result<(), EvalError> {
    match y.iter().position(|&v| v >= n_labels) {
        Some(index) => Err(EvalError::ClassOutOfRange {
            what,
            index,
            value: y[index],
            n_labels,
        }),
        None => Ok(()),
    }
}

/// Area under the ROC curve of a binary problem (`sklearn.metrics.roc_auc_score`
/// with 1-D scores): `y_true` holds classes 0/1, `score_pos` the score of class 1
/// (higher = more likely positive).
///
/// Tied scores are handled as scikit-learn's `roc_curve` does: one ROC point per
/// distinct threshold, so a tie between a positive and a negative contributes a
/// diagonal segment (half credit), and the area is the trapezoid rule over those
/// points. The sum is accumulated exactly in integers (twice the area times
/// positives × negatives) and divided once.
///
/// Errors: lengths differ, no samples, a class other than 0/1 (naming the
/// position), a NaN or infinite score (naming the row; scikit-learn refuses those
/// too), or only one class present in `y_true` — scikit-learn 1.9 warns and
/// returns NaN there; an error is harder to miss.
pub fn roc_auc_binary(y_true: &[usize], score_pos: &[f64]) -> Result<f64, EvalError> {
    if score_pos.len() != y_true.len() {
        return Err(EvalError::LengthMismatch {
            what: "score_pos",
            got: score_pos.len(),
            reference: "y_true",
            expected: y_true.len(),
        });
    }
    if y_true.is_empty() {
        return Err(EvalError::Empty { what: "y_true" });
    }
    if let Some(index) = y_true.iter().position(|&v| v > 1) {
        return Err(EvalError::NotBinary {
            index,
            value: y_true[index],
        });
    }
    if let Some(row) = score_pos.iter().position(|s| !s.is_finite()) {
        return Err(EvalError::NonFinite {
            what: "score_pos",
            row,
            value: score_pos[row],
        });
    }
    let n_pos = y_true.iter().filter(|&&v| v == 1).count() as u128;
    let n_neg = y_true.len() as u128 - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(EvalError::SingleClass {
            class: y_true[0],
            n: y_true.len(),
        });
    }
    let mut order: Vec<usize> = (0..y_true.len()).collect();
    order.sort_by(|&a, &b| score_pos[b].total_cmp(&score_pos[a]));
    let (mut tp, mut fp) = (0u128, 0u128);
    let mut twice_area = 0u128;
    let mut i = 0;
    while i < order.len() {
        let (tp0, fp0) = (tp, fp);
        let s = score_pos[order[i]];
        // One ROC point per distinct threshold; -0.0 and 0.0 are one threshold,
        // as in NumPy's comparison.
        while i < order.len() && score_pos[order[i]] == s {
            if y_true[order[i]] == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        twice_area += (fp - fp0) * (tp + tp0);
    }
    Ok(twice_area as f64 / (2 * n_pos * n_neg) as f64)
}

/// The summary metrics of one evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Scores {
    /// Number of samples (trials or windows) scored.
    pub n: usize,
    /// [`ConfusionMatrix::accuracy`].
    #[serde(with = "nan_as_null")]
    pub accuracy: f64,
    /// [`ConfusionMatrix::balanced_accuracy`].
    #[serde(with = "nan_as_null")]
    pub balanced_accuracy: f64,
    /// [`ConfusionMatrix::cohen_kappa`]; NaN (JSON `null`) when undefined.
    #[serde(with = "nan_as_null")]
    pub cohen_kappa: f64,
    /// [`ConfusionMatrix::f1_macro`] (all labels, zero_division = 0).
    #[serde(with = "nan_as_null")]
    pub f1_macro: f64,
    /// [`roc_auc_binary`] on probability column 1 for two-class problems; `None`
    /// for more classes, or when `y_true` holds one class only (undefined).
    pub roc_auc: Option<f64>,
}

/// Scores class probabilities `proba[n][n_classes]` against the true classes.
///
/// Predictions are the argmax of each row; a tie goes to the lowest class index,
/// as `numpy.argmax` breaks it. With two labels, `roc_auc` is the ROC-AUC of
/// column 1 (or `None` when `y_true` has only one class). Errors: label list
/// empty or duplicated, lengths differ, no samples, a row whose width is not
/// `labels.len()`, a non-finite entry (naming the row), a row that is not a
/// probability distribution within [`PROBA_TOLERANCE`], a class index out of range.
pub fn score(
    labels: &[String],
    y_true: &[usize],
    proba: &[Vec<f64>],
) -> Result<(Scores, ConfusionMatrix), EvalError> {
    check_labels(labels)?;
    if proba.len() != y_true.len() {
        return Err(EvalError::LengthMismatch {
            what: "proba",
            got: proba.len(),
            reference: "y_true",
            expected: y_true.len(),
        });
    }
    check_proba(proba, labels.len())?;
    let y_pred: Vec<usize> = proba.iter().map(|row| argmax(row)).collect();
    let cm = ConfusionMatrix::new(labels.to_vec(), y_true, &y_pred)?;
    let roc_auc = if labels.len() == 2 {
        let pos: Vec<f64> = proba.iter().map(|row| row[1]).collect();
        match roc_auc_binary(y_true, &pos) {
            Ok(a) => Some(a),
            Err(EvalError::SingleClass { .. }) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let scores = Scores {
        n: y_true.len(),
        accuracy: cm.accuracy(),
        balanced_accuracy: cm.balanced_accuracy(),
        cohen_kappa: cm.cohen_kappa(),
        f1_macro: cm.f1_macro(),
        roc_auc,
    };
    Ok((scores, cm))
}

/// Index of the first largest entry (`numpy.argmax`); rows are finite here.
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn check_proba(proba: &[Vec<f64>], width: usize) -> Result<(), EvalError> {
    for (row, p) in proba.iter().enumerate() {
        if p.len() != width {
            return Err(EvalError::RowWidth {
                what: "proba",
                row,
                got: p.len(),
                expected: width,
            });
        }
        if let Some(&value) = p.iter().find(|v| !v.is_finite()) {
            return Err(EvalError::NonFinite {
                what: "proba",
                row,
                value,
            });
        }
        let sum: f64 = p.iter().sum();
        let min = p.iter().copied().fold(f64::INFINITY, f64::min);
        let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tol = PROBA_TOLERANCE;
        if (sum - 1.0).abs() > tol || min < -tol || max > 1.0 + tol {
            return Err(EvalError::NotProbabilities {
                row,
                sum,
                min,
                max,
                tolerance: tol,
            });
        }
    }
    Ok(())
}

/// Trial-wise aggregation of window predictions, as braindecode's trial-wise
/// evaluation averages the predictions of a trial's windows: each trial's
/// probability row is the arithmetic mean of its windows' rows.
///
/// `trial_of_window[i]` identifies the trial of window `i` (any hashable id, e.g.
/// `(recording, trial)`). Returns the trial ids in order of first appearance, the
/// true class of each trial, and the mean probabilities, ready for [`score`].
/// Errors: lengths differ, rows of different widths, a non-finite or
/// non-probability row (naming the window), or two windows of one trial with
/// different true classes (naming both windows). No windows → three empty vectors.
#[allow(clippy::type_complexity)]
pub fn aggregate_trials<K: Eq + Hash + Clone>(
    trial_of_window: &[K],
    y_true: &[usize],
    proba: &[Vec<f64>],
) -> Result<(Vec<K>, Vec<usize>, Vec<Vec<f64>>), EvalError> {
    if y_true.len() != trial_of_window.len() {
        return Err(EvalError::LengthMismatch {
            what: "y_true",
            got: y_true.len(),
            reference: "trial_of_window",
            expected: trial_of_window.len(),
        });
    }
    if proba.len() != trial_of_window.len() {
        return Err(EvalError::LengthMismatch {
            what: "proba",
            got: proba.len(),
            reference: "trial_of_window",
            expected: trial_of_window.len(),
        });
    }
    let Some(first) = proba.first() else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    check_proba(proba, first.len())?;
    let mut slot: HashMap<&K, usize> = HashMap::new();
    let mut ids: Vec<K> = Vec::new();
    let mut first_window: Vec<usize> = Vec::new();
    let mut classes: Vec<usize> = Vec::new();
    let mut sums: Vec<Vec<f64>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for (w, key) in trial_of_window.iter().enumerate() {
        let s = *slot.entry(key).or_insert_with(|| {
            ids.push(key.clone());
            first_window.push(w);
            classes.push(y_true[w]);
            sums.push(vec![0.0; first.len()]);
            counts.push(0);
            ids.len() - 1
        });
        if classes[s] != y_true[w] {
            return Err(EvalError::TrialClassConflict {
                first_window: first_window[s],
                first_class: classes[s],
                window: w,
                class: y_true[w],
            });
        }
        for (acc, &p) in sums[s].iter_mut().zip(&proba[w]) {
            *acc += p;
        }
        counts[s] += 1;
    }
    for (row, &c) in sums.iter_mut().zip(&counts) {
        for v in row.iter_mut() {
            *v /= c as f64;
        }
    }
    Ok((ids, classes, sums))
}

/// Mean and sample standard deviation of a set of scores.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MeanSd {
    /// Arithmetic mean; NaN (JSON `null`) for no values.
    #[serde(with = "nan_as_null")]
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); `None` for fewer than 2 values.
    pub sd: Option<f64>,
    /// Number of values.
    pub n: usize,
}

/// Mean and sample standard deviation with `ddof = 1`, as `pandas.Series.std`
/// (and so MOABB's result tables) compute it, in two passes (mean, then squared
/// deviations). `sd` is `None` where pandas gives NaN (n < 2); the mean of no
/// values is NaN. Unlike pandas' `skipna=True`, a NaN input is not skipped: it
/// makes the mean and sd NaN, so a missing score cannot silently shrink `n`.
pub fn mean_sd(xs: &[f64]) -> MeanSd {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let sd =
        (n >= 2).then(|| (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt());
    MeanSd { mean, sd, n }
}

/// Serialises a NaN `f64` as JSON `null` and reads `null` back as NaN, so score
/// records with an undefined metric round-trip (serde_json would write `null`
/// and then refuse to read it into an `f64`).
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(k: usize) -> Vec<String> {
        (0..k).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
    }

    #[test]
    fn kappa_single_predicted_class_is_zero_not_nan() {
        let cm = ConfusionMatrix::new(labels(2), &[0, 0, 1, 1], &[0, 0, 0, 0]).unwrap();
        assert_eq!(cm.cohen_kappa(), 0.0);
        let cm = ConfusionMatrix::new(labels(2), &[1, 1], &[1, 1]).unwrap();
        assert!(cm.cohen_kappa().is_nan());
    }
}
