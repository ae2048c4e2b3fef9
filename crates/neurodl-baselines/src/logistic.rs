//! L2-penalised logistic regression, the objective of scikit-learn's
//! `LogisticRegression()` (`l1_ratio=0`, `C=1`, `fit_intercept=True`), solved
//! by Newton's method to the optimum.
//!
//! Objective, over coefficients `W` and intercepts `b` (unpenalised):
//!
//! - two classes (one coefficient vector, labels `y in {0, 1}`, `z = x.w + b`):
//!   `C * sum_i [log(1 + exp(z_i)) - y_i z_i] + |w|^2 / 2`;
//! - `K > 2` classes (multinomial, one row of `W` per class, `z_ik = x_i.w_k + b_k`):
//!   `C * sum_i [logsumexp_k(z_ik) - z_{i,y_i}] + |W|_F^2 / 2`.
//!
//! The objective is strictly convex in `w` (the penalty) and, for two classes, in
//! `b`; the multinomial intercepts are only defined up to a common shift, and
//! the solver returns the ones that sum to zero -- the same as scikit-learn,
//! whose solvers start at zero and move only along gradients, which sum to
//! zero over the classes.
//!
//! Why Newton rather than L-BFGS like scikit-learn's default: the problem is small
//! (a few hundred parameters), Newton converges quadratically, and it reaches the
//! optimum to rounding, so the result does not depend on a solver's stopping rule.
//! scikit-learn's L-BFGS also stops on a relative change of the objective of
//! `64 eps`; on the parity data that leaves a gradient of about 1e-8 (two classes)
//! and 4e-7 (three), i.e. coefficients off the optimum by up to ~4e-8.

use nalgebra::{Cholesky, DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::BaselineError;
use crate::lda::{expit, proba_from_decision};
use crate::validate::{check_features, check_labels};

/// Logistic-regression settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticConfig {
    /// Inverse regularisation strength (sklearn's `C`, default 1.0).
    pub c: f64,
    /// Stop when the largest gradient entry, on scikit-learn's scale (the
    /// gradient of `mean loss + |W|^2 / (2 C n)`), is at most this (default 1e-10).
    pub tol: f64,
    /// Newton iterations allowed (default 100; a few are usually enough).
    pub max_iter: usize,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            tol: 1e-10,
            max_iter: 100,
        }
    }
}

impl LogisticConfig {
    fn validate(&self) -> Result<(), BaselineError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(BaselineError::Config(format!(
                "logistic regression C = {} must be finite and > 0",
                self.c
            )));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(BaselineError::Config(format!(
                "logistic regression tol = {} must be finite and > 0",
                self.tol
            )));
        }
        if self.max_iter == 0 {
            return Err(BaselineError::Config(
                "logistic regression max_iter must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A fitted logistic-regression classifier.
#[derive(Clone, Debug)]
pub struct LogisticRegression {
    coef: Array2<f64>,
    intercept: Array1<f64>,
    n_classes: usize,
    n_iter: usize,
    gradient_max_abs: f64,
}

/// Objective value and gradient at one parameter vector.
struct Eval {
    f: f64,
    g: DVector<f64>,
}

struct Problem<'a> {
    /// features with a trailing column of ones, `[n, d + 1]`
    xt: Array2<f64>,
    y: &'a [usize],
    /// number of weight vectors: 1 for two classes, K otherwise
    k: usize,
    c: f64,
}

impl Problem<'_> {
    fn p(&self) -> usize {
        self.xt.ncols()
    }

    /// Parameters as `[k, d + 1]` (last column the intercepts).
    fn unpack(&self, theta: &DVector<f64>) -> Array2<f64> {
        Array2::from_shape_fn((self.k, self.p()), |(k, j)| theta[k * self.p() + j])
    }

    fn scores(&self, theta: &DVector<f64>) -> Array2<f64> {
        self.xt.dot(&self.unpack(theta).t())
    }

    fn penalty(&self, theta: &DVector<f64>) -> f64 {
        let p = self.p();
        (0..self.k)
            .map(|k| (0..p - 1).map(|j| theta[k * p + j].powi(2)).sum::<f64>())
            .sum::<f64>()
            / 2.0
    }

    /// Residuals `dLoss/dz` `[n, k]` and the loss sum.
    fn residuals(&self, z: &Array2<f64>) -> (Array2<f64>, f64) {
        let n = z.nrows();
        let mut r = Array2::zeros((n, self.k));
        let mut loss = 0.0;
        for i in 0..n {
            if self.k == 1 {
                let zi = z[[i, 0]];
                let yi = (self.y[i] == 1) as u8 as f64;
                // softplus(z) = max(z, 0) + log1p(exp(-|z|))
                loss += zi.max(0.0) + (-zi.abs()).exp().ln_1p() - yi * zi;
                r[[i, 0]] = expit(zi) - yi;
            } else {
                let max = z.row(i).iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.row(i).iter().map(|v| (v - max).exp()).sum();
                loss += max + sum.ln() - z[[i, self.y[i]]];
                for k in 0..self.k {
                    r[[i, k]] = (z[[i, k]] - max).exp() / sum - (self.y[i] == k) as u8 as f64;
                }
            }
        }
        (r, loss)
    }

    fn eval(&self, theta: &DVector<f64>) -> Eval {
        let z = self.scores(theta);
        let (r, loss) = self.residuals(&z);
        let p = self.p();
        let grad = r.t().dot(&self.xt) * self.c; // [k, p]
        let g = DVector::from_fn(self.k * p, |idx, _| {
            let (k, j) = (idx / p, idx % p);
            grad[[k, j]] + if j + 1 < p { theta[idx] } else { 0.0 }
        });
        Eval {
            f: self.c * loss + self.penalty(theta),
            g,
        }
    }

    fn objective(&self, theta: &DVector<f64>) -> f64 {
        let (_, loss) = self.residuals(&self.scores(theta));
        self.c * loss + self.penalty(theta)
    }

    fn hessian(&self, theta: &DVector<f64>) -> DMatrix<f64> {
        let z = self.scores(theta);
        let n = z.nrows();
        let p = self.p();
        let probs = if self.k == 1 {
            Array2::from_shape_fn((n, 1), |(i, _)| expit(z[[i, 0]]))
        } else {
            let mut pr = z.clone();
            for mut row in pr.outer_iter_mut() {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                row.mapv_inplace(|v| (v - max).exp());
                let s = row.sum();
                row /= s;
            }
            pr
        };
        let mut h = DMatrix::zeros(self.k * p, self.k * p);
        for a in 0..self.k {
            for b in a..self.k {
                // per-sample weight of the (a, b) block: p_a (delta_ab - p_b)
                let w = Array1::from_shape_fn(n, |i| {
                    if self.k == 1 {
                        probs[[i, 0]] * (1.0 - probs[[i, 0]])
                    } else {
                        probs[[i, a]] * ((a == b) as u8 as f64 - probs[[i, b]])
                    }
                });
                let weighted = &self.xt * &w.insert_axis(ndarray::Axis(1));
                let block = weighted.t().dot(&self.xt) * self.c;
                for r in 0..p {
                    for c in 0..p {
                        h[(a * p + r, b * p + c)] = block[[r, c]];
                        h[(b * p + c, a * p + r)] = block[[r, c]];
                    }
                }
            }
            for j in 0..p - 1 {
                h[(a * p + j, a * p + j)] += 1.0;
            }
        }
        if self.k > 1 {
            // A common shift of all intercepts changes nothing: the Hessian is singular
            // along e = (intercepts all 1/sqrt(K)). The gradient is orthogonal to e, so
            // adding e e^T makes H invertible without changing the Newton step.
            let e = 1.0 / self.k as f64;
            for a in 0..self.k {
                for b in 0..self.k {
                    h[(a * p + p - 1, b * p + p - 1)] += e;
                }
            }
        }
        h
    }
}

impl LogisticRegression {
    /// Fit on features `[n_samples, n_features]` with labels `0..n_classes`.
    pub fn fit(
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        cfg: &LogisticConfig,
    ) -> Result<Self, BaselineError> {
        cfg.validate()?;
        check_features(x, None)?;
        check_labels(y, x.nrows(), n_classes)?;
        let (n, d) = x.dim();
        let mut xt = Array2::ones((n, d + 1));
        xt.slice_mut(ndarray::s![.., ..d]).assign(&x);
        let k = if n_classes == 2 { 1 } else { n_classes };
        let prob = Problem { xt, y, k, c: cfg.c };
        let scale = 1.0 / (cfg.c * n as f64);
        let mut theta = DVector::zeros(k * (d + 1));
        let mut cur = prob.eval(&theta);
        let mut n_iter = 0;
        let mut converged = false;
        let mut polished = false;
        loop {
            let small = cur.g.amax() * scale <= cfg.tol;
            if (small && polished) || n_iter >= cfg.max_iter {
                converged = small;
                break;
            }
            n_iter += 1;
            let h = prob.hessian(&theta);
            let chol = Cholesky::new(h).ok_or_else(|| {
                BaselineError::Numerical("logistic regression: Hessian is not positive definite".into())
            })?;
            let step = -chol.solve(&cur.g);
            if small {
                // One more full Newton step once within tolerance: convergence is
                // quadratic there, so it takes the gradient to rounding level and
                // the result no longer depends on `tol`.
                let cand = &theta + &step;
                let next = prob.eval(&cand);
                if next.g.amax() < cur.g.amax() {
                    theta = cand;
                    cur = next;
                }
                polished = true;
                continue;
            }
            let slope = cur.g.dot(&step);
            if -slope <= 1e-12 * cur.f.abs().max(1.0) {
                // Quadratic regime: the objective cannot resolve the decrease any more,
                // and the full Newton step is the right one.
                theta += &step;
                cur = prob.eval(&theta);
                if step.amax() <= f64::EPSILON * theta.amax().max(1.0) {
                    // no change in the parameters: the gradient is rounding noise
                    converged = true;
                    break;
                }
                continue;
            }
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..60 {
                let cand = &theta + &step * t;
                if prob.objective(&cand) <= cur.f + 1e-4 * t * slope {
                    theta = cand;
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                break;
            }
            cur = prob.eval(&theta);
        }
        let gradient_max_abs = cur.g.amax();
        if !converged {
            return Err(BaselineError::NotConverged {
                algorithm: "logistic regression (Newton)",
                iterations: n_iter,
                criterion: gradient_max_abs * scale,
                tolerance: cfg.tol,
            });
        }
        let w = prob.unpack(&theta);
        let coef = w.slice(ndarray::s![.., ..d]).to_owned();
        let intercept = w.column(d).to_owned();
        Ok(Self {
            coef,
            intercept,
            n_classes,
            n_iter,
            gradient_max_abs,
        })
    }

    /// Decision values `x @ coef^T + intercept`: `[n_samples, 1]` for two classes
    /// (the log-odds of class 1), `[n_samples, n_classes]` otherwise.
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
        check_features(x, Some(self.coef.ncols()))?;
        Ok(x.dot(&self.coef.t()) + &self.intercept)
    }

    /// Class probabilities `[n_samples, n_classes]`: sigmoid (two classes) or softmax, as sklearn.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
        Ok(proba_from_decision(self.decision_function(x)?, self.n_classes))
    }

    /// Coefficients `[1, n_features]` (two classes) or `[n_classes, n_features]`.
    pub fn coef(&self) -> ArrayView2<'_, f64> {
        self.coef.view()
    }

    /// Intercepts, one per decision column (multinomial intercepts sum to zero).
    pub fn intercept(&self) -> &Array1<f64> {
        &self.intercept
    }

    /// Newton iterations used.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Largest entry of the gradient of `C * sum(loss) + |W|^2 / 2` at the solution.
    pub fn gradient_max_abs(&self) -> f64 {
        self.gradient_max_abs
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn one_feature_optimum_satisfies_the_stationarity_condition() {
        let x = array![[-2.0], [-1.0], [0.5], [1.0], [2.0], [-0.5]];
        let y = [0, 0, 1, 1, 1, 0];
        let lr = LogisticRegression::fit(x.view(), &y, 2, &LogisticConfig::default()).unwrap();
        let (w, b) = (lr.coef()[[0, 0]], lr.intercept()[0]);
        // d/dw: sum (p - y) x + w = 0 ; d/db: sum (p - y) = 0
        let (mut gw, mut gb) = (w, 0.0);
        for (xi, &yi) in x.column(0).iter().zip(&y) {
            let r = expit(w * xi + b) - yi as f64;
            gw += r * xi;
            gb += r;
        }
        assert!(gw.abs() < 1e-12 && gb.abs() < 1e-12, "{gw} {gb}");
        assert!(lr.gradient_max_abs() < 1e-12);
    }

    #[test]
    fn multinomial_intercepts_sum_to_zero_and_probabilities_normalise() {
        let x = array![
            [0.0, 1.0],
            [0.2, 0.9],
            [1.0, 0.0],
            [0.9, 0.1],
            [-1.0, -1.0],
            [-0.8, -1.1]
        ];
        let y = [0, 0, 1, 1, 2, 2];
        let lr = LogisticRegression::fit(x.view(), &y, 3, &LogisticConfig::default()).unwrap();
        assert!(lr.intercept().sum().abs() < 1e-12);
        let p = lr.predict_proba(x.view()).unwrap();
        for (row, &yi) in p.outer_iter().zip(&y) {
            assert!((row.sum() - 1.0).abs() < 1e-12);
            assert_eq!(
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .unwrap()
                    .0,
                yi
            );
        }
    }

    #[test]
    fn iteration_limit_is_a_clear_error() {
        let x = array![[-2.0], [-1.0], [1.0], [2.0]];
        let cfg = LogisticConfig {
            max_iter: 1,
            tol: 1e-300,
            ..Default::default()
        };
        let err = LogisticRegression::fit(x.view(), &[0, 0, 1, 1], 2, &cfg).unwrap_err();
        assert!(
            matches!(err, BaselineError::NotConverged { iterations: 1, .. }),
            "{err}"
        );
        let bad = LogisticConfig {
            c: -1.0,
            ..Default::default()
        };
        assert!(matches!(
            LogisticRegression::fit(x.view(), &[0, 0, 1, 1], 2, &bad),
            Err(BaselineError::Config(_))
        ));
    }
}
