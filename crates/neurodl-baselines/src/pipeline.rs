//! The two fitted decoders: CSP + LDA and Riemannian tangent space + logistic regression.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

use crate::covariance::scm;
use crate::csp::{Csp, CspConfig};
use crate::lda::Lda;
use crate::logistic::{LogisticConfig, LogisticRegression};
use crate::riemann::{MEAN_MAX_ITER, MEAN_TOL, check_spd, mean_riemann, tangent_space};
use crate::validate::{check_labels, check_trials};
use crate::{BaselineError, Decoder};

/// `make_pipeline(mne.decoding.CSP(...), LinearDiscriminantAnalysis())`, fitted.
#[derive(Clone, Debug)]
pub struct CspLda {
    csp: Csp,
    lda: Lda,
}

impl CspLda {
    /// Fit CSP on the trials, then LDA on their log-power features.
    pub fn fit(
        x: ArrayView3<f64>,
        y: &[usize],
        n_classes: usize,
        cfg: &CspConfig,
    ) -> Result<Self, BaselineError> {
        let csp = Csp::fit(x, y, n_classes, cfg)?;
        let f = csp.transform(x)?;
        let lda = Lda::fit(f.view(), y, n_classes)?;
        Ok(Self { csp, lda })
    }

    /// CSP log-power features `[n_trials, n_components]`.
    pub fn features(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        self.csp.transform(x)
    }

    /// LDA decision values: `[n_trials, 1]` for two classes (log-odds of class 1,
    /// sklearn's 1-D `decision_function` as a column), `[n_trials, n_classes]` otherwise.
    pub fn decision_function(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        self.lda.decision_function(self.features(x)?.view())
    }

    /// CSP spatial filters `[n_filters, n_chans]` in component order (MNE's `filters_`).
    pub fn filters(&self) -> ArrayView2<'_, f64> {
        self.csp.filters()
    }

    /// CSP spatial patterns `[n_filters, n_chans]` (MNE's `patterns_`).
    pub fn patterns(&self) -> ArrayView2<'_, f64> {
        self.csp.patterns()
    }

    /// The fitted CSP stage.
    pub fn csp(&self) -> &Csp {
        &self.csp
    }

    /// The fitted LDA stage.
    pub fn lda(&self) -> &Lda {
        &self.lda
    }
}

impl Decoder for CspLda {
    fn name(&self) -> &'static str {
        "csp_lda"
    }

    fn predict_proba(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        self.lda.predict_proba(self.features(x)?.view())
    }
}

/// Settings of [`TangentSpaceLr`]; the defaults are pyRiemann's and scikit-learn's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TangentSpaceConfig {
    /// Logistic regression's inverse regularisation strength (sklearn's `C`, 1.0).
    pub c: f64,
    /// Tolerance of the Riemannian mean (pyRiemann's `tol=10e-9`).
    pub mean_tol: f64,
    /// Iteration limit of the Riemannian mean (pyRiemann's `maxiter=50`).
    /// Reaching it is an error here (pyRiemann only warns).
    pub mean_max_iter: usize,
    /// Gradient tolerance of the logistic-regression solver, on scikit-learn's scale (1e-10).
    pub lr_tol: f64,
    /// Newton iterations allowed for the logistic regression (100).
    pub lr_max_iter: usize,
}

impl Default for TangentSpaceConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            mean_tol: MEAN_TOL,
            mean_max_iter: MEAN_MAX_ITER,
            lr_tol: 1e-10,
            lr_max_iter: 100,
        }
    }
}

/// `make_pipeline(Covariances("scm"), TangentSpace(metric="riemann"), LogisticRegression())`, fitted.
#[derive(Clone, Debug)]
pub struct TangentSpaceLr {
    reference: Array2<f64>,
    lr: LogisticRegression,
    n_chans: usize,
    mean_iterations: usize,
}

impl TangentSpaceLr {
    /// Fit: per-trial sample covariances, their Riemannian mean as the reference,
    /// tangent vectors at it, then logistic regression on those.
    pub fn fit(
        x: ArrayView3<f64>,
        y: &[usize],
        n_classes: usize,
        cfg: &TangentSpaceConfig,
    ) -> Result<Self, BaselineError> {
        if !(cfg.mean_tol.is_finite() && cfg.mean_tol > 0.0) || cfg.mean_max_iter == 0 {
            return Err(BaselineError::Config(format!(
                "Riemannian mean tol = {} must be > 0 and mean_max_iter = {} at least 1",
                cfg.mean_tol, cfg.mean_max_iter
            )));
        }
        let lr_cfg = LogisticConfig {
            c: cfg.c,
            tol: cfg.lr_tol,
            max_iter: cfg.lr_max_iter,
        };
        check_trials(x, None)?;
        check_labels(y, x.dim().0, n_classes)?;
        let covs = covariances(x)?;
        let mean = mean_riemann(covs.view(), cfg.mean_tol, cfg.mean_max_iter)?;
        if !mean.converged {
            return Err(BaselineError::NotConverged {
                algorithm: "Riemannian mean",
                iterations: mean.n_iter,
                criterion: mean.criterion,
                tolerance: cfg.mean_tol,
            });
        }
        let t = tangent_space(covs.view(), mean.mean.view())?;
        let lr = LogisticRegression::fit(t.view(), y, n_classes, &lr_cfg)?;
        Ok(Self {
            reference: mean.mean,
            lr,
            n_chans: x.dim().1,
            mean_iterations: mean.n_iter,
        })
    }

    /// Tangent vectors `[n_trials, n_chans (n_chans + 1) / 2]` at the fitted reference.
    pub fn tangent_vectors(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        check_trials(x, Some(self.n_chans))?;
        tangent_space(covariances(x)?.view(), self.reference.view())
    }

    /// Logistic-regression decision values: `[n_trials, 1]` for two classes, `[n_trials, n_classes]` otherwise.
    pub fn decision_function(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        self.lr.decision_function(self.tangent_vectors(x)?.view())
    }

    /// The reference point: the Riemannian mean of the training covariances.
    pub fn reference(&self) -> ArrayView2<'_, f64> {
        self.reference.view()
    }

    /// Iterations the Riemannian mean took.
    pub fn mean_iterations(&self) -> usize {
        self.mean_iterations
    }

    /// The fitted logistic regression.
    pub fn logistic(&self) -> &LogisticRegression {
        &self.lr
    }
}

impl Decoder for TangentSpaceLr {
    fn name(&self) -> &'static str {
        "tangent_space_lr"
    }

    fn predict_proba(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        self.lr.predict_proba(self.tangent_vectors(x)?.view())
    }
}

/// Sample covariances of every trial, each checked to be SPD (the error names the trial).
fn covariances(x: ArrayView3<f64>) -> Result<Array3<f64>, BaselineError> {
    let (n, c, _) = x.dim();
    let mut out = Array3::zeros((n, c, c));
    for (i, (trial, mut dst)) in x.outer_iter().zip(out.outer_iter_mut()).enumerate() {
        let cov = scm(trial);
        check_spd(cov.view(), || format!("sample covariance of trial {i}"))?;
        dst.assign(&cov);
    }
    Ok(out)
}
