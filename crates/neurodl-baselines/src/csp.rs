//! Common spatial patterns, as `mne.decoding.CSP` of MNE 1.13 with its defaults.
//!
//! What MNE 1.13 does for `CSP(n_components=4, reg=None, log=None/True,
//! cov_est="concat", transform_into="average_power", norm_trace=False,
//! rank=None, component_order="mutual_info", restr_type="restricting")`, and so
//! what [`Csp::fit`] does:
//!
//! 1. **Rank**: estimated once from all training trials concatenated
//!    ([`crate::covariance::mne_rank`]).
//! 2. **Class covariances**: per class, trials concatenated in time, not
//!    centred, divided by `N - 1`, restricted to the data rank, optionally shrunk
//!    ([`crate::covariance::mne_concat_covariance`]).
//! 3. **Restriction**: when the rank is below the channel count, every
//!    covariance is mapped into the span of the leading `rank` eigenvectors of
//!    the mean class covariance (MNE's `restr_type="restricting"`); with full
//!    rank this is the identity.
//! 4. **Decomposition**:
//!    - two classes: the generalised eigenproblem `C0 w = lambda (C0 + C1) w`
//!      (`scipy.linalg.eigh(S, S + R)`), eigenvectors normalised to
//!      `w^T (C0 + C1) w = 1`, eigenvalues in `[0, 1]`; components ordered by
//!      decreasing `|lambda - 0.5|`;
//!    - more classes: Pham's approximate joint diagonalisation of all class
//!      covariances ([`ajd_pham`], MNE's `_ajd_pham`, 15 sweeps at most,
//!      `eps = 1e-6`), each filter scaled to unit variance under the mean class
//!      covariance, components ordered by decreasing mutual-information
//!      approximation (Grosse-Wentrup & Buss 2008) with equal class weights
//!      (MNE weights every class by its channel count for `cov_est="concat"`).
//! 5. **Patterns**: the pseudo-inverse of the filter matrix.
//! 6. **Features**: `log(mean_t((w_k^T x_t)^2))` for the first `n_components` filters.
//!
//! Filters are defined up to sign (the eigen-solver's choice); features are not affected.

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::BaselineError;
use crate::covariance::{mne_concat_covariance, mne_rank, restriction};
use crate::linalg::{from_na, generalized_eigh, pinv_na, sym_eig_na, to_na};
use crate::validate::{check_labels, check_trials};

/// CSP settings; the defaults are `mne.decoding.CSP()`'s.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CspConfig {
    /// Number of spatial filters whose log-power becomes a feature (MNE: 4).
    /// When the data rank is lower, only `rank` filters exist and that many are used.
    pub n_components: usize,
    /// Covariance shrinkage, MNE's float `reg` (`None`: plain empirical covariance).
    /// `Some(a)` with `0 <= a <= 1` replaces each class covariance `S` by
    /// `(1 - a) S + a * (trace(S) / rank) * I` (`sklearn.covariance.shrunk_covariance`
    /// inside MNE's rank-restricted estimate).
    pub reg: Option<f64>,
}

impl Default for CspConfig {
    fn default() -> Self {
        Self {
            n_components: 4,
            reg: None,
        }
    }
}

impl CspConfig {
    fn validate(&self, n_chans: usize) -> Result<(), BaselineError> {
        if self.n_components == 0 || self.n_components > n_chans {
            return Err(BaselineError::Config(format!(
                "CSP n_components = {} must be in 1..={n_chans} (the channel count)",
                self.n_components
            )));
        }
        if let Some(a) = self.reg
            && !(a.is_finite() && (0.0..=1.0).contains(&a))
        {
            return Err(BaselineError::Config(format!("CSP reg = {a} must be in [0, 1]")));
        }
        Ok(())
    }
}

/// A fitted CSP decomposition.
#[derive(Clone, Debug)]
pub struct Csp {
    filters: Array2<f64>,
    patterns: Array2<f64>,
    eigenvalues: Option<Array1<f64>>,
    class_covariances: Array3<f64>,
    rank: usize,
    n_components: usize,
}

impl Csp {
    /// Fit on trials `[n_trials, n_chans, n_times]` with labels `0..n_classes`.
    pub fn fit(
        x: ArrayView3<f64>,
        y: &[usize],
        n_classes: usize,
        cfg: &CspConfig,
    ) -> Result<Self, BaselineError> {
        check_trials(x, None)?;
        let n_chans = x.dim().1;
        cfg.validate(n_chans)?;
        check_labels(y, x.dim().0, n_classes)?;
        let rank = mne_rank(x)?;
        let mut covs = Vec::with_capacity(n_classes);
        for class in 0..n_classes {
            let idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
            let xc = x.select(Axis(0), &idx);
            covs.push(to_na(mne_concat_covariance(xc.view(), rank, cfg.reg)?.view()));
        }
        let c_ref = covs
            .iter()
            .fold(DMatrix::zeros(n_chans, n_chans), |acc, c| acc + c)
            / n_classes as f64;
        let q = restriction(&c_ref, rank)?;
        let restrict = |c: &DMatrix<f64>| match &q {
            Some(q) => q * c * q.transpose(),
            None => c.clone(),
        };
        let unrestrict = |v: DMatrix<f64>| match &q {
            Some(q) => q.transpose() * v,
            None => v,
        };

        let (evecs, eigenvalues) = if n_classes == 2 {
            let s = restrict(&covs[0]);
            let r = restrict(&covs[1]);
            let sum = &s + &r;
            let Some((vals, v)) = generalized_eigh(&s, &sum)? else {
                let (ev, _) = sym_eig_na(&sum)?;
                return Err(BaselineError::NotSpd {
                    subject: "sum of the two CSP class covariances".into(),
                    min_eigenvalue: ev[0],
                    max_eigenvalue: ev[ev.len() - 1],
                });
            };
            let evecs = unrestrict(v);
            let mut order: Vec<usize> = (0..vals.len()).collect();
            order.sort_by(|&i, &j| (vals[j] - 0.5).abs().total_cmp(&(vals[i] - 0.5).abs()));
            let sorted = DMatrix::from_fn(evecs.nrows(), order.len(), |r, c| evecs[(r, order[c])]);
            (sorted, Some(Array1::from_iter(order.iter().map(|&i| vals[i]))))
        } else {
            for (class, c) in covs.iter().enumerate() {
                let (ev, _) = sym_eig_na(c)?;
                let max_abs = ev.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if ev[0] < -1e-7 * max_abs {
                    return Err(BaselineError::NotSpd {
                        subject: format!("CSP covariance of class {class}"),
                        min_eigenvalue: ev[0],
                        max_eigenvalue: ev[ev.len() - 1],
                    });
                }
            }
            let covs_r: Vec<DMatrix<f64>> = covs.iter().map(restrict).collect();
            let (v, _) = ajd_pham_na(&covs_r, AJD_EPS, AJD_MAX_ITER);
            let mean_r = covs_r
                .iter()
                .fold(DMatrix::zeros(v.nrows(), v.nrows()), |acc, c| acc + c)
                / n_classes as f64;
            let mut w = v.transpose();
            for mut col in w.column_iter_mut() {
                let var = (col.transpose() * &mean_r * &col)[(0, 0)];
                col /= var.sqrt();
            }
            let evecs = unrestrict(w);
            let mi = mutual_information(&covs, &evecs);
            let mut order: Vec<usize> = (0..mi.len()).collect();
            order.sort_by(|&i, &j| mi[j].total_cmp(&mi[i]));
            (
                DMatrix::from_fn(evecs.nrows(), order.len(), |r, c| evecs[(r, order[c])]),
                None,
            )
        };
        if evecs.iter().any(|v| !v.is_finite()) {
            return Err(BaselineError::Numerical(
                "CSP decomposition produced non-finite filters".into(),
            ));
        }
        let patterns = pinv_na(&evecs)?;
        let n_filters = evecs.ncols();
        let mut class_covariances = Array3::zeros((n_classes, n_chans, n_chans));
        for (mut dst, c) in class_covariances.outer_iter_mut().zip(&covs) {
            dst.assign(&from_na(c));
        }
        Ok(Self {
            filters: from_na(&evecs.transpose()),
            patterns: from_na(&patterns),
            eigenvalues,
            class_covariances,
            rank,
            n_components: cfg.n_components.min(n_filters),
        })
    }

    /// Log-power features `[n_trials, n_components]` (MNE's `transform` with `log=True`).
    pub fn transform(&self, x: ArrayView3<f64>) -> Result<Array2<f64>, BaselineError> {
        check_trials(x, Some(self.filters.ncols()))?;
        let w = self.filters.slice(ndarray::s![..self.n_components, ..]);
        let mut out = Array2::zeros((x.dim().0, self.n_components));
        for (trial, mut row) in x.outer_iter().zip(out.outer_iter_mut()) {
            let sources = w.dot(&trial);
            for (dst, src) in row.iter_mut().zip(sources.outer_iter()) {
                *dst = (src.iter().map(|v| v * v).sum::<f64>() / src.len() as f64).ln();
            }
        }
        Ok(out)
    }

    /// All spatial filters `[n_filters, n_chans]`, rows in component order (MNE's `filters_`).
    /// `n_filters` is the data rank (the channel count for full-rank data).
    pub fn filters(&self) -> ArrayView2<'_, f64> {
        self.filters.view()
    }

    /// Spatial patterns `[n_filters, n_chans]` (MNE's `patterns_`: the pseudo-inverse of the filters).
    pub fn patterns(&self) -> ArrayView2<'_, f64> {
        self.patterns.view()
    }

    /// Generalised eigenvalues in component order (two classes only; MNE's `evals_`).
    pub fn eigenvalues(&self) -> Option<&Array1<f64>> {
        self.eigenvalues.as_ref()
    }

    /// Class covariances `[n_classes, n_chans, n_chans]` the decomposition was computed from.
    pub fn class_covariances(&self) -> &Array3<f64> {
        &self.class_covariances
    }

    /// Data rank used (channel count for full-rank data).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of features [`Csp::transform`] returns.
    pub fn n_components(&self) -> usize {
        self.n_components
    }
}

/// MNE's tolerance for Pham's joint diagonalisation (`_ajd_pham(eps=1e-6)`).
pub const AJD_EPS: f64 = 1e-6;
/// MNE's sweep limit for Pham's joint diagonalisation (`_ajd_pham(max_iter=15)`).
pub const AJD_MAX_ITER: usize = 15;

/// Pham's approximate joint diagonalisation of symmetric positive definite matrices
/// (Pham 2001), as MNE's `mne.decoding.csp._ajd_pham`: Jacobi-like sweeps over all
/// channel pairs, stopping when a sweep's decrease of the criterion is below
/// `n (n - 1) eps`, or after `max_iter` sweeps (as MNE, without an error: the result
/// after the last sweep is what MNE uses).
///
/// Returns the diagonaliser `V` (`[n, n]`, rows are filters: `V C_k V^T` are nearly
/// diagonal) and the number of sweeps run.
pub fn ajd_pham(
    covs: &[ArrayView2<f64>],
    eps: f64,
    max_iter: usize,
) -> Result<(Array2<f64>, usize), BaselineError> {
    let Some(first) = covs.first() else {
        return Err(BaselineError::Shape {
            what: "covariances",
            expected: "at least one matrix".into(),
            got: "none".into(),
        });
    };
    let n = first.nrows();
    for c in covs {
        if c.dim() != (n, n) {
            return Err(BaselineError::Shape {
                what: "covariances",
                expected: format!("[{n}, {n}] matrices"),
                got: format!("{:?}", c.shape()),
            });
        }
    }
    let m: Vec<DMatrix<f64>> = covs.iter().map(|c| to_na(*c)).collect();
    let (v, it) = ajd_pham_na(&m, eps, max_iter);
    Ok((from_na(&v), it))
}

pub(crate) fn ajd_pham_na(covs: &[DMatrix<f64>], eps: f64, max_iter: usize) -> (DMatrix<f64>, usize) {
    let n = covs[0].nrows();
    let k = covs.len() as f64;
    // MNE works on A = concatenate(X).T, whose k-th n x n block is X_k^T.
    let mut a: Vec<DMatrix<f64>> = covs.iter().map(|c| c.transpose()).collect();
    let mut v = DMatrix::<f64>::identity(n, n);
    let epsilon = (n * n.saturating_sub(1)) as f64 * eps;
    let mean = |f: &dyn Fn(&DMatrix<f64>) -> f64, a: &[DMatrix<f64>]| a.iter().map(f).sum::<f64>() / k;
    let mut sweeps = 0;
    for _ in 0..max_iter {
        sweeps += 1;
        let mut decr = 0.0;
        for ii in 1..n {
            for jj in 0..ii {
                let g12 = mean(&|b| b[(ii, jj)] / b[(ii, ii)], &a);
                let g21 = mean(&|b| b[(ii, jj)] / b[(jj, jj)], &a);
                let omega21 = mean(&|b| b[(ii, ii)] / b[(jj, jj)], &a);
                let omega12 = mean(&|b| b[(jj, jj)] / b[(ii, ii)], &a);
                let omega = (omega12 * omega21).sqrt();
                let tmp = (omega21 / omega12).sqrt();
                let tmp1 = (tmp * g12 + g21) / (omega + 1.0);
                let tmp2 = (tmp * g12 - g21) / (omega - 1.0).max(1e-9);
                let h12 = tmp1 + tmp2;
                let h21 = (tmp1 - tmp2) / tmp;
                decr += k * (g12 * h12 + g21 * h21) / 2.0;
                // MNE takes the real part of 1 + sqrt(1 - h12 h21) in complex arithmetic.
                let disc = 1.0 - h12 * h21;
                let tmp = 1.0 + if disc > 0.0 { disc.sqrt() } else { 0.0 };
                let (t01, t10) = (-h12 / tmp, -h21 / tmp);
                for b in a.iter_mut() {
                    rotate_rows(b, ii, jj, t01, t10);
                    rotate_cols(b, ii, jj, t01, t10);
                }
                rotate_rows(&mut v, ii, jj, t01, t10);
            }
        }
        if decr < epsilon {
            break;
        }
    }
    (v, sweeps)
}

/// Rows `(i, j) <- [[1, t01], [t10, 1]] @ (row_i, row_j)`.
fn rotate_rows(b: &mut DMatrix<f64>, i: usize, j: usize, t01: f64, t10: f64) {
    for c in 0..b.ncols() {
        let (x, y) = (b[(i, c)], b[(j, c)]);
        b[(i, c)] = x + t01 * y;
        b[(j, c)] = t10 * x + y;
    }
}

/// Columns `(i, j) <- (col_i, col_j) @ [[1, t01], [t10, 1]]^T`.
fn rotate_cols(b: &mut DMatrix<f64>, i: usize, j: usize, t01: f64, t10: f64) {
    for r in 0..b.nrows() {
        let (x, y) = (b[(r, i)], b[(r, j)]);
        b[(r, i)] = x + y * t01;
        b[(r, j)] = x * t10 + y;
    }
}

/// MNE's `_compute_mutual_info` with equal class probabilities: for each filter `w`,
/// `-(sum_k p log sqrt(w^T C_k w) + 3/16 (sum_k p ((w^T C_k w)^2 - 1))^2)`.
fn mutual_information(covs: &[DMatrix<f64>], evecs: &DMatrix<f64>) -> Vec<f64> {
    let p = 1.0 / covs.len() as f64;
    evecs
        .column_iter()
        .map(|w| {
            let (mut aa, mut bb) = (0.0, 0.0);
            for c in covs {
                let t = (w.transpose() * c * w)[(0, 0)];
                aa += p * t.sqrt().ln();
                bb += p * (t * t - 1.0);
            }
            -(aa + (3.0 / 16.0) * bb * bb)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ajd_diagonalises_jointly_diagonalisable_matrices() {
        // C_k = A D_k A^T with a common mixing A: V must undo A up to scale and order.
        let a = DMatrix::from_row_slice(3, 3, &[1.0, 0.3, -0.2, 0.1, 1.0, 0.4, -0.3, 0.2, 1.0]);
        let ds = [[1.0, 2.0, 3.0], [3.0, 1.0, 0.5], [2.0, 2.5, 1.0]];
        let covs: Vec<DMatrix<f64>> = ds
            .iter()
            .map(|d| &a * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(d)) * a.transpose())
            .collect();
        let (v, sweeps) = ajd_pham_na(&covs, 1e-12, 100);
        assert!(sweeps < 100);
        for c in &covs {
            let d = &v * c * v.transpose();
            let off = (0..3).flat_map(|i| (0..3).filter(move |&j| j != i).map(move |j| (i, j)));
            for (i, j) in off {
                assert!(d[(i, j)].abs() < 1e-8 * (d[(i, i)] * d[(j, j)]).sqrt(), "{d}");
            }
        }
    }

    #[test]
    fn config_is_checked() {
        let x = Array3::from_shape_fn((4, 3, 20), |(t, c, s)| {
            ((t * 20 + s) as f64 * (0.5 + c as f64)).sin()
        });
        let y = [0, 1, 0, 1];
        let bad = CspConfig {
            n_components: 4,
            reg: None,
        };
        assert!(matches!(
            Csp::fit(x.view(), &y, 2, &bad),
            Err(BaselineError::Config(_))
        ));
        let bad = CspConfig {
            n_components: 2,
            reg: Some(1.5),
        };
        assert!(matches!(
            Csp::fit(x.view(), &y, 2, &bad),
            Err(BaselineError::Config(_))
        ));
        let ok = CspConfig {
            n_components: 2,
            reg: Some(0.1),
        };
        let csp = Csp::fit(x.view(), &y, 2, &ok).unwrap();
        assert_eq!(csp.transform(x.view()).unwrap().dim(), (4, 2));
    }
}
