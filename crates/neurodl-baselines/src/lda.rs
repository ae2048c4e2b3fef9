//! Linear discriminant analysis, as scikit-learn's `LinearDiscriminantAnalysis()`
//! (`solver="svd"`, priors from the class frequencies, no shrinkage, `tol=1e-4`).

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2};

use crate::BaselineError;
use crate::linalg::{from_na, svd_na, to_na};
use crate::validate::{check_features, check_labels};

/// scikit-learn's default `tol`: singular values of the within-class-scaled data below it are dropped.
pub const LDA_TOL: f64 = 1e-4;

/// A fitted LDA classifier.
///
/// The decision function is `x @ coef^T + intercept`; with two classes there is a
/// single column (class 1 minus class 0), as scikit-learn's.
#[derive(Clone, Debug)]
pub struct Lda {
    coef: Array2<f64>,
    intercept: Array1<f64>,
    priors: Array1<f64>,
    means: Array2<f64>,
    n_classes: usize,
}

impl Lda {
    /// Fit on features `[n_samples, n_features]` with labels `0..n_classes`.
    ///
    /// Follows `LinearDiscriminantAnalysis._solve_svd` step by step: centre each
    /// class, scale features by the pooled within-class standard deviation, SVD
    /// (rank: singular values above [`LDA_TOL`]), whiten; project the
    /// prior-weighted class centres, SVD again (rank: above `tol * s_max`); then
    /// `coef_k = (mu_k - xbar) W W^T`, `intercept_k = -|(mu_k - xbar) W|^2 / 2 + ln(prior_k) - xbar . coef_k`.
    pub fn fit(x: ArrayView2<f64>, y: &[usize], n_classes: usize) -> Result<Self, BaselineError> {
        check_features(x, None)?;
        let counts = check_labels(y, x.nrows(), n_classes)?;
        // (check_labels guarantees at least 2 samples per class, so n > n_classes as sklearn requires)
        let (n, d) = x.dim();
        let priors = Array1::from_iter(counts.iter().map(|&c| c as f64 / n as f64));
        // class means as np.add.at(...) / count: a running sum in sample order
        let mut means = Array2::<f64>::zeros((n_classes, d));
        for (row, &label) in x.outer_iter().zip(y) {
            let mut m = means.row_mut(label);
            m += &row;
        }
        for (mut m, &c) in means.outer_iter_mut().zip(&counts) {
            m /= c as f64;
        }
        // within-class centred data, grouped by class in class order
        let mut xc = Array2::<f64>::zeros((n, d));
        let mut r = 0;
        for class in 0..n_classes {
            for (row, &label) in x.outer_iter().zip(y) {
                if label == class {
                    let mut dst = xc.row_mut(r);
                    dst.assign(&(&row - &means.row(class)));
                    r += 1;
                }
            }
        }
        let std = xc
            .std_axis(ndarray::Axis(0), 0.0)
            .mapv(|s| if s == 0.0 { 1.0 } else { s });
        let fac = (1.0 / n as f64).sqrt();
        let scaled = DMatrix::from_fn(n, d, |i, j| fac * (xc[[i, j]] / std[j]));
        let (_, s, vt) = svd_na(&scaled)?;
        let rank = s.iter().filter(|&&v| v > LDA_TOL).count();
        if rank == 0 {
            return Err(BaselineError::Numerical(
                "LDA: the within-class scatter is zero".into(),
            ));
        }
        // scalings = (Vt[:rank] / std).T / S[:rank]   -> [d, rank]
        let scalings = DMatrix::from_fn(d, rank, |i, j| vt[(j, i)] / std[i] / s[j]);
        let xbar = priors.dot(&means);
        let between_fac = 1.0 / (n_classes as f64 - 1.0);
        let centres = DMatrix::from_fn(n_classes, d, |k, j| {
            (n as f64 * priors[k] * between_fac).sqrt() * (means[[k, j]] - xbar[j])
        });
        let projected = centres * &scalings;
        let (_, s2, vt2) = svd_na(&projected)?;
        let rank2 = s2.iter().filter(|&&v| v > LDA_TOL * s2[0]).count();
        let w = &scalings * vt2.rows(0, rank2).transpose();
        let centred_means = DMatrix::from_fn(n_classes, d, |k, j| means[[k, j]] - xbar[j]);
        let coef_w = &centred_means * &w;
        let coef = &coef_w * w.transpose();
        let xbar_na = to_na(xbar.view().insert_axis(ndarray::Axis(0)));
        let offset = &xbar_na * coef.transpose();
        let mut intercept = Array1::from_iter((0..n_classes).map(|k| {
            -0.5 * coef_w.row(k).iter().map(|v| v * v).sum::<f64>() + priors[k].ln() - offset[(0, k)]
        }));
        let mut coef = from_na(&coef);
        if n_classes == 2 {
            coef = (&coef.row(1) - &coef.row(0)).insert_axis(ndarray::Axis(0));
            intercept = Array1::from_elem(1, intercept[1] - intercept[0]);
        }
        Ok(Self {
            coef,
            intercept,
            priors,
            means,
            n_classes,
        })
    }

    /// Decision values `[n_samples, 1]` (two classes) or `[n_samples, n_classes]`.
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
        check_features(x, Some(self.coef.ncols()))?;
        Ok(x.dot(&self.coef.t()) + &self.intercept)
    }

    /// Class probabilities `[n_samples, n_classes]`: the logistic sigmoid of the
    /// decision value for two classes (`[1 - p, p]`), the softmax of the decision
    /// values otherwise -- scikit-learn's `predict_proba`.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
        Ok(proba_from_decision(self.decision_function(x)?, self.n_classes))
    }

    /// Coefficients `[1, n_features]` (two classes) or `[n_classes, n_features]` (sklearn's `coef_`).
    pub fn coef(&self) -> ArrayView2<'_, f64> {
        self.coef.view()
    }

    /// Intercepts, one per decision column (sklearn's `intercept_`).
    pub fn intercept(&self) -> &Array1<f64> {
        &self.intercept
    }

    /// Class priors (class frequencies in the training data).
    pub fn priors(&self) -> &Array1<f64> {
        &self.priors
    }

    /// Class means `[n_classes, n_features]`.
    pub fn means(&self) -> ArrayView2<'_, f64> {
        self.means.view()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
}

/// scikit-learn's mapping from decision values to probabilities for linear
/// classifiers: `expit` for a single column, softmax (max-shifted) otherwise.
pub(crate) fn proba_from_decision(dec: Array2<f64>, n_classes: usize) -> Array2<f64> {
    let n = dec.nrows();
    if n_classes == 2 {
        let mut out = Array2::zeros((n, 2));
        for i in 0..n {
            let p = expit(dec[[i, 0]]);
            out[[i, 0]] = 1.0 - p;
            out[[i, 1]] = p;
        }
        out
    } else {
        let mut out = dec;
        for mut row in out.outer_iter_mut() {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        out
    }
}

/// The logistic sigmoid `1 / (1 + exp(-z))`, without overflow for large `|z|`.
pub(crate) fn expit(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn two_gaussians_with_shared_covariance() {
        // Class means (0, 0) and (2, 0), identical within-class scatter:
        // coef must point along the first axis, decision 0 at x = 1 (equal priors).
        let x = array![
            [-1.0, -1.0],
            [1.0, 1.0],
            [-1.0, 1.0],
            [1.0, -1.0],
            [1.0, -1.0],
            [3.0, 1.0],
            [1.0, 1.0],
            [3.0, -1.0]
        ];
        let y = [0, 0, 0, 0, 1, 1, 1, 1];
        let lda = Lda::fit(x.view(), &y, 2).unwrap();
        assert!(lda.coef()[[0, 1]].abs() < 1e-12 && lda.coef()[[0, 0]] > 0.0);
        let d = lda.decision_function(array![[1.0, 5.0]].view()).unwrap();
        assert!(d[[0, 0]].abs() < 1e-12);
        let p = lda.predict_proba(array![[1.0, 0.0], [10.0, 0.0]].view()).unwrap();
        assert!((p[[0, 0]] - 0.5).abs() < 1e-12 && p[[1, 1]] > 0.99);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = array![[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]];
        assert!(matches!(
            Lda::fit(x.view(), &[0, 1, 1], 2),
            Err(BaselineError::TooFewTrials { class: 0, .. })
        ));
        assert!(matches!(
            Lda::fit(x.view(), &[0, 1], 2),
            Err(BaselineError::Shape { .. })
        ));
        let mut xn = x.clone();
        xn[[2, 1]] = f64::NAN;
        assert!(matches!(
            Lda::fit(xn.view(), &[0, 0, 1], 2),
            Err(BaselineError::NonFiniteFeature {
                sample: 2,
                feature: 1,
                ..
            })
        ));
    }
}
