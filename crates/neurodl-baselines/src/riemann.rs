//! Riemannian geometry of SPD matrices as pyRiemann (0.9 through 0.12) computes it:
//! matrix functions through the eigendecomposition, the affine-invariant mean,
//! and the tangent-space map.

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2, ArrayView3};

use crate::BaselineError;
use crate::linalg::{apply_spectrum, from_na, sym_eig_na, to_na};

/// A trial covariance whose smallest eigenvalue is at most this fraction of its
/// largest counts as singular ([`check_spd`]): rounding leaves ~1e-16 relative
/// eigenvalues on an exactly singular matrix (a flat or duplicated channel, a
/// common-average reference, fewer samples than channels); genuine EEG covariances
/// are far better conditioned than 1e12.
pub const SPD_RCOND: f64 = 1e-12;

/// pyRiemann's default tolerance for [`mean_riemann`] (`tol=10e-9`).
pub const MEAN_TOL: f64 = 1e-8;
/// pyRiemann's default iteration limit for [`mean_riemann`] (`maxiter=50`).
pub const MEAN_MAX_ITER: usize = 50;

fn spectral(c: ArrayView2<f64>, what: &str, f: impl Fn(f64) -> f64) -> Result<Array2<f64>, BaselineError> {
    let (vals, vecs) = sym_eig_na(&to_na(c))?;
    if vals[0] <= 0.0 {
        return Err(BaselineError::NotSpd {
            subject: format!("matrix given to {what}"),
            min_eigenvalue: vals[0],
            max_eigenvalue: vals[vals.len() - 1],
        });
    }
    Ok(from_na(&apply_spectrum(&vals, &vecs, f)))
}

/// Square root of an SPD matrix, `V diag(sqrt(l)) V^T`. Only the lower triangle is read.
pub fn sqrtm(c: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
    spectral(c, "sqrtm", f64::sqrt)
}

/// Inverse square root of an SPD matrix, `V diag(1/sqrt(l)) V^T`.
pub fn invsqrtm(c: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
    spectral(c, "invsqrtm", |v| 1.0 / v.sqrt())
}

/// Logarithm of an SPD matrix, `V diag(ln l) V^T`.
pub fn logm(c: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
    spectral(c, "logm", f64::ln)
}

/// Exponential of a symmetric matrix, `V diag(exp l) V^T`.
pub fn expm(c: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
    let (vals, vecs) = sym_eig_na(&to_na(c))?;
    Ok(from_na(&apply_spectrum(&vals, &vecs, f64::exp)))
}

/// Check that `c` is SPD and not numerically singular (`min eig > SPD_RCOND * max eig`),
/// naming it `subject` in the error.
pub fn check_spd(c: ArrayView2<f64>, subject: impl FnOnce() -> String) -> Result<(), BaselineError> {
    let (vals, _) = sym_eig_na(&to_na(c))?;
    let (lo, hi) = (vals[0], vals[vals.len() - 1]);
    if !(hi > 0.0 && lo > SPD_RCOND * hi) {
        return Err(BaselineError::NotSpd {
            subject: subject(),
            min_eigenvalue: lo,
            max_eigenvalue: hi,
        });
    }
    Ok(())
}

/// Arithmetic mean of `[n_matrices, n, n]` (pyRiemann's `mean_euclid`, equal weights).
pub fn mean_euclid(covs: ArrayView3<f64>) -> Array2<f64> {
    covs.sum_axis(ndarray::Axis(0)) / covs.dim().0 as f64
}

/// Result of [`mean_riemann`].
#[derive(Clone, Debug, PartialEq)]
pub struct RiemannMean {
    /// The mean matrix.
    pub mean: Array2<f64>,
    /// Iterations run.
    pub n_iter: usize,
    /// Last value of the stopping criterion (Frobenius norm of the mean log-map).
    pub criterion: f64,
    /// Whether `criterion <= tol` (or the step size fell below `tol`) within `max_iter`.
    pub converged: bool,
}

/// Affine-invariant Riemannian mean of SPD matrices `[n_matrices, n, n]`, as
/// pyRiemann's `mean_riemann` with equal weights: start at the arithmetic mean,
/// then repeat
/// `J = mean_i logm(M^-1/2 C_i M^-1/2)`, `M <- M^1/2 expm(nu J) M^1/2`, with step
/// `nu = 1` shrunk by 0.95 while `nu |J|_F` decreases and halved when it does
/// not; stop when `|J|_F <= tol` or `nu <= tol`. pyRiemann warns when
/// `max_iter` passes without that; here `converged` is false instead.
pub fn mean_riemann(covs: ArrayView3<f64>, tol: f64, max_iter: usize) -> Result<RiemannMean, BaselineError> {
    let (n_mat, n, n2) = covs.dim();
    if n_mat == 0 || n == 0 || n != n2 {
        return Err(BaselineError::Shape {
            what: "covariances",
            expected: "[n_matrices >= 1, n, n]".into(),
            got: format!("{:?}", covs.shape()),
        });
    }
    let mats: Vec<DMatrix<f64>> = covs.outer_iter().map(to_na).collect();
    let w = 1.0 / n_mat as f64;
    let mut m = to_na(mean_euclid(covs).view());
    let mut nu = 1.0f64;
    let mut tau = f64::MAX;
    let mut crit = f64::MAX;
    let mut n_iter = 0;
    let mut converged = false;
    for _ in 0..max_iter {
        n_iter += 1;
        let (vals, vecs) = sym_eig_na(&m)?;
        if vals[0] <= 0.0 {
            return Err(BaselineError::NotSpd {
                subject: format!("Riemannian mean at iteration {n_iter}"),
                min_eigenvalue: vals[0],
                max_eigenvalue: vals[n - 1],
            });
        }
        let m12 = apply_spectrum(&vals, &vecs, f64::sqrt);
        let mm12 = apply_spectrum(&vals, &vecs, |v| 1.0 / v.sqrt());
        let mut j = DMatrix::zeros(n, n);
        for (i, c) in mats.iter().enumerate() {
            let inner = &mm12 * c * &mm12;
            let (iv, ivec) = sym_eig_na(&inner)?;
            if iv[0] <= 0.0 {
                return Err(BaselineError::NotSpd {
                    subject: format!("matrix {i} given to the Riemannian mean"),
                    min_eigenvalue: iv[0],
                    max_eigenvalue: iv[n - 1],
                });
            }
            j += apply_spectrum(&iv, &ivec, f64::ln) * w;
        }
        let (jv, jvec) = sym_eig_na(&(&j * nu))?;
        m = &m12 * apply_spectrum(&jv, &jvec, f64::exp) * &m12;
        crit = j.norm();
        let h = nu * crit;
        if h < tau {
            nu *= 0.95;
            tau = h;
        } else {
            nu *= 0.5;
        }
        if crit <= tol || nu <= tol {
            converged = true;
            break;
        }
    }
    Ok(RiemannMean {
        mean: from_na(&m),
        n_iter,
        criterion: crit,
        converged,
    })
}

/// Riemannian logarithmic map at `reference`: `logm(R^-1/2 C R^-1/2)` (pyRiemann's `log_map_riemann`).
pub fn log_map_riemann(c: ArrayView2<f64>, reference: ArrayView2<f64>) -> Result<Array2<f64>, BaselineError> {
    let rm12 = to_na(invsqrtm(reference)?.view());
    let inner = &rm12 * to_na(c) * &rm12;
    logm(from_na(&inner).view())
}

/// Upper triangle of a symmetric matrix, row by row (`np.triu_indices` order),
/// diagonal entries weighted 1 and off-diagonal ones `sqrt(2)` (pyRiemann's `upper`),
/// so that the Euclidean norm of the vector is the Frobenius norm of the matrix.
pub fn upper(m: ArrayView2<f64>) -> Array1<f64> {
    let n = m.nrows();
    let mut out = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            out.push(if i == j {
                m[[i, j]]
            } else {
                std::f64::consts::SQRT_2 * m[[i, j]]
            });
        }
    }
    Array1::from(out)
}

/// Tangent vectors `[n_matrices, n (n + 1) / 2]` of SPD matrices `[n_matrices, n, n]`
/// at `reference` (pyRiemann's `tangent_space(X, Cref, metric="riemann")`:
/// [`upper`] of [`log_map_riemann`]).
pub fn tangent_space(
    covs: ArrayView3<f64>,
    reference: ArrayView2<f64>,
) -> Result<Array2<f64>, BaselineError> {
    let (n_mat, n, n2) = covs.dim();
    if n != n2 || reference.dim() != (n, n) {
        return Err(BaselineError::Shape {
            what: "covariances",
            expected: format!(
                "[n_matrices, {0}, {0}] matching the {0}x{0} reference",
                reference.nrows()
            ),
            got: format!("{:?}", covs.shape()),
        });
    }
    let rm12 = to_na(invsqrtm(reference)?.view());
    let mut out = Array2::zeros((n_mat, n * (n + 1) / 2));
    for (i, (c, mut row)) in covs.outer_iter().zip(out.outer_iter_mut()).enumerate() {
        let inner = from_na(&(&rm12 * to_na(c) * &rm12));
        let log = logm(inner.view()).map_err(|e| match e {
            BaselineError::NotSpd {
                min_eigenvalue,
                max_eigenvalue,
                ..
            } => BaselineError::NotSpd {
                subject: format!("matrix {i} mapped to the tangent space"),
                min_eigenvalue,
                max_eigenvalue,
            },
            other => other,
        })?;
        row.assign(&upper(log.view()));
    }
    Ok(out)
}

/// Stack matrices into `[n, rows, cols]`.
#[cfg(test)]
pub(crate) fn stack(mats: &[Array2<f64>]) -> ndarray::Array3<f64> {
    let (r, c) = mats.first().map(|m| m.dim()).unwrap_or((0, 0));
    let mut out = ndarray::Array3::zeros((mats.len(), r, c));
    for (mut dst, m) in out.outer_iter_mut().zip(mats) {
        dst.assign(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matrix_functions_invert_each_other() {
        let c = array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let s = sqrtm(c.view()).unwrap();
        assert!((s.dot(&s) - &c).iter().all(|v| v.abs() < 1e-13));
        let is = invsqrtm(c.view()).unwrap();
        assert!(
            (is.dot(&c).dot(&is) - Array2::<f64>::eye(3))
                .iter()
                .all(|v| v.abs() < 1e-13)
        );
        let back = expm(logm(c.view()).unwrap().view()).unwrap();
        assert!((back - &c).iter().all(|v| v.abs() < 1e-13));
        assert!(matches!(
            logm(array![[1.0, 2.0], [2.0, 1.0]].view()),
            Err(BaselineError::NotSpd { .. })
        ));
    }

    #[test]
    fn mean_of_commuting_matrices_is_the_geometric_mean() {
        // diagonal matrices commute: the Riemannian mean is the entrywise geometric mean
        let covs = stack(&[
            Array2::from_diag(&array![1.0, 4.0]),
            Array2::from_diag(&array![4.0, 9.0]),
        ]);
        let m = mean_riemann(covs.view(), MEAN_TOL, MEAN_MAX_ITER).unwrap();
        assert!(m.converged);
        assert!((m.mean[[0, 0]] - 2.0).abs() < 1e-9 && (m.mean[[1, 1]] - 6.0).abs() < 1e-9);
        assert!(m.mean[[0, 1]].abs() < 1e-12);
    }

    #[test]
    fn tangent_vector_norm_is_the_riemannian_distance() {
        let r = array![[2.0, 0.3], [0.3, 1.0]];
        let c = array![[1.0, -0.2], [-0.2, 3.0]];
        let t = tangent_space(stack(std::slice::from_ref(&c)).view(), r.view()).unwrap();
        assert_eq!(t.dim(), (1, 3));
        let log = log_map_riemann(c.view(), r.view()).unwrap();
        let frob = log.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((t.row(0).dot(&t.row(0)).sqrt() - frob).abs() < 1e-13);
        assert_eq!(
            upper(array![[1.0, 2.0], [2.0, 3.0]].view()).to_vec(),
            vec![1.0, 2.0 * std::f64::consts::SQRT_2, 3.0]
        );
    }
}
