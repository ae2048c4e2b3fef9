//! Dense linear algebra for small matrices (channels x channels), on top of `nalgebra`.
//!
//! Why `nalgebra` rather than `faer`: every matrix here is at most a few hundred
//! rows (channels, or tangent-space features for the logistic-regression Hessian),
//! so speed is irrelevant next to build cost and API size. `nalgebra` is pure Rust,
//! a small build with `default-features = false`, and has the two
//! decompositions this crate needs from it -- symmetric eigendecomposition
//! (implicit QR on the tridiagonal form, reading only the lower triangle as
//! LAPACK's `dsyevd` called by NumPy/SciPy does) and Cholesky. `faer` is faster
//! on large matrices but is a much larger dependency tree. The SVD is our own
//! one-sided Jacobi: nalgebra 0.35's `SVD`, asked for `U` and `V` of a
//! rank-deficient matrix (LDA's between-class centres are rank-deficient by
//! construction), returned factors that do not reconstruct the input.
//!
//! Public functions take and return `ndarray` types; conversion happens at the edge.
//! Eigenvalues are returned in ascending order, like LAPACK.

use nalgebra::{Cholesky, DMatrix, SymmetricEigen};
use ndarray::{Array1, Array2, ArrayView2};

use crate::BaselineError;

/// Eigenvalues (ascending) and eigenvectors (columns, same order).
pub(crate) type Eigen = (Vec<f64>, DMatrix<f64>);
/// Thin SVD factors `(U, s, V^T)`, `s` descending.
pub(crate) type Svd = (DMatrix<f64>, Vec<f64>, DMatrix<f64>);

/// Iteration cap for nalgebra's eigensolver (it needs a few per eigenvalue).
const MAX_SOLVER_ITER: usize = 100_000;

/// Copy an `ndarray` matrix into a column-major `nalgebra` matrix.
pub(crate) fn to_na(a: ArrayView2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// Copy a `nalgebra` matrix into an `ndarray` matrix.
pub(crate) fn from_na(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Eigendecomposition of a symmetric matrix: eigenvalues ascending and the
/// eigenvectors as the columns of the returned matrix, in the same order.
///
/// Only the lower triangle of `a` is read.
pub fn symmetric_eigen(a: ArrayView2<f64>) -> Result<(Array1<f64>, Array2<f64>), BaselineError> {
    let (vals, vecs) = sym_eig_na(&to_na(a))?;
    Ok((Array1::from(vals), from_na(&vecs)))
}

pub(crate) fn sym_eig_na(a: &DMatrix<f64>) -> Result<Eigen, BaselineError> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(BaselineError::Numerical(format!(
            "eigendecomposition of a non-square {}x{} matrix",
            n,
            a.ncols()
        )));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(BaselineError::Numerical(
            "eigendecomposition of a matrix with non-finite entries".into(),
        ));
    }
    let eig = SymmetricEigen::try_new(a.clone(), f64::EPSILON, MAX_SOLVER_ITER).ok_or_else(|| {
        BaselineError::Numerical(format!(
            "symmetric eigensolver did not converge on a {n}x{n} matrix"
        ))
    })?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
    let vals = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let vecs = DMatrix::from_fn(n, n, |r, c| eig.eigenvectors[(r, order[c])]);
    Ok((vals, vecs))
}

/// `V diag(f(lambda)) V^T` from an eigendecomposition (eigenvectors as columns).
pub(crate) fn apply_spectrum(vals: &[f64], vecs: &DMatrix<f64>, f: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let mut scaled = vecs.clone();
    for (j, &v) in vals.iter().enumerate() {
        let fv = f(v);
        scaled.column_mut(j).scale_mut(fv);
    }
    &scaled * vecs.transpose()
}

/// Generalised symmetric-definite eigenproblem `A x = lambda B x` as SciPy's
/// `scipy.linalg.eigh(A, B)` (LAPACK `sygvd`, type 1) solves it: with the
/// Cholesky factor `B = L L^T`, the eigenvectors `z` of `L^-1 A L^-T` give
/// `x = L^-T z`, so that `X^T B X = I`. Eigenvalues ascending; eigenvectors are
/// the columns. Returns `None` when `B` is not positive definite.
pub(crate) fn generalized_eigh(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Result<Option<Eigen>, BaselineError> {
    let Some(chol) = Cholesky::new(b.clone()) else {
        return Ok(None);
    };
    let l = chol.l();
    let singular = || BaselineError::Numerical("triangular solve with a singular Cholesky factor".into());
    let y = l.solve_lower_triangular(a).ok_or_else(singular)?;
    let c = l.solve_lower_triangular(&y.transpose()).ok_or_else(singular)?;
    let (vals, z) = sym_eig_na(&c)?;
    let x = l.transpose().solve_upper_triangular(&z).ok_or_else(singular)?;
    Ok(Some((vals, x)))
}

/// Sweeps allowed for the one-sided Jacobi SVD (it converges quadratically; ~10 are typical).
const MAX_JACOBI_SWEEPS: usize = 80;

/// Singular values of `a`, descending.
pub(crate) fn singular_values_na(a: &DMatrix<f64>) -> Result<Vec<f64>, BaselineError> {
    Ok(svd_na(a)?.1)
}

/// Thin SVD `a = U diag(s) V^T` with `s` descending: returns `(U [m, k], s [k], V^T [k, n])`, `k = min(m, n)`.
///
/// One-sided (Hestenes) Jacobi: plane rotations of the columns of the tall
/// orientation until all pairs are orthogonal to working precision; the column
/// norms are the singular values. It is accurate to `eps` relative to `max(s)`
/// for every singular value (as LAPACK's), which MNE's rank threshold
/// (`n * eps * max(s)`) needs. Not nalgebra's `SVD`: with `U`/`V` requested on
/// a rank-deficient input, nalgebra 0.35 returned factors that do not
/// reconstruct the matrix (see the `svd_of_rank_one_matrix` test).
///
/// Left singular vectors of zero singular values are returned as zero columns.
pub(crate) fn svd_na(a: &DMatrix<f64>) -> Result<Svd, BaselineError> {
    if a.iter().any(|v| !v.is_finite()) {
        return Err(BaselineError::Numerical(
            "SVD of a matrix with non-finite entries".into(),
        ));
    }
    if a.nrows() >= a.ncols() {
        let (u, s, v) = jacobi_tall(a.clone())?;
        Ok((u, s, v.transpose()))
    } else {
        // a^T = U' S V'^T  =>  a = V' S U'^T
        let (u, s, v) = jacobi_tall(a.transpose())?;
        Ok((v, s, u.transpose()))
    }
}

/// One-sided Jacobi on `b` (`m >= n`): returns `(U [m, n], s [n], V [n, n])` with `b = U diag(s) V^T`, sorted.
fn jacobi_tall(mut b: DMatrix<f64>) -> Result<Svd, BaselineError> {
    let n = b.ncols();
    let mut v = DMatrix::<f64>::identity(n, n);
    let mut converged = n < 2;
    for _ in 0..MAX_JACOBI_SWEEPS {
        let mut rotated = false;
        for i in 0..n {
            for j in i + 1..n {
                let (ci, cj) = (b.column(i), b.column(j));
                let alpha = ci.norm_squared();
                let beta = cj.norm_squared();
                let gamma = ci.dot(&cj);
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate_columns(&mut b, i, j, c, s);
                rotate_columns(&mut v, i, j, c, s);
            }
        }
        if !rotated {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(BaselineError::Numerical(format!(
            "Jacobi SVD did not converge in {MAX_JACOBI_SWEEPS} sweeps on a {}x{n} matrix",
            b.nrows()
        )));
    }
    let norms: Vec<f64> = b.column_iter().map(|c| c.norm()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| norms[y].total_cmp(&norms[x]));
    let s: Vec<f64> = order.iter().map(|&k| norms[k]).collect();
    let u = DMatrix::from_fn(b.nrows(), n, |r, c| {
        let k = order[c];
        if norms[k] > 0.0 { b[(r, k)] / norms[k] } else { 0.0 }
    });
    let v_sorted = DMatrix::from_fn(n, n, |r, c| v[(r, order[c])]);
    Ok((u, s, v_sorted))
}

/// Columns `(i, j) <- (c col_i - s col_j, s col_i + c col_j)`.
fn rotate_columns(m: &mut DMatrix<f64>, i: usize, j: usize, c: f64, s: f64) {
    for r in 0..m.nrows() {
        let (x, y) = (m[(r, i)], m[(r, j)]);
        m[(r, i)] = c * x - s * y;
        m[(r, j)] = s * x + c * y;
    }
}

/// Moore-Penrose pseudo-inverse with MNE's cut-off (`mne.utils.linalg.pinv`):
/// singular values above `max(s) * max(rows, cols) * eps` are inverted, the rest dropped.
pub(crate) fn pinv_na(a: &DMatrix<f64>) -> Result<DMatrix<f64>, BaselineError> {
    let (u, s, vt) = svd_na(a)?;
    let max_s = s.first().copied().unwrap_or(0.0);
    let rtol = a.nrows().max(a.ncols()) as f64 * f64::EPSILON;
    let rank = s.iter().filter(|&&v| v > max_s * rtol).count();
    // pinv = V_r diag(1/s_r) U_r^T
    let mut v_r = vt.rows(0, rank).transpose();
    for (j, &sv) in s.iter().take(rank).enumerate() {
        v_r.column_mut(j).scale_mut(1.0 / sv);
    }
    Ok(v_r * u.columns(0, rank).transpose())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> DMatrix<f64> {
        let a = DMatrix::from_fn(n, n, |i, j| {
            ((i * 7 + j * 3) % 5) as f64 + if i == j { 1.0 } else { 0.0 }
        });
        &a * a.transpose() + DMatrix::identity(n, n)
    }

    #[test]
    fn eigen_is_ascending_and_reconstructs() {
        // generic, rank-deficient (repeated zero eigenvalues) and repeated-eigenvalue matrices
        let b = DMatrix::from_fn(7, 2, |i, j| (i * 3 + j) as f64 - 4.0);
        let cases = [spd(6), &b * b.transpose(), DMatrix::identity(5, 5) * 2.0, spd(1)];
        for a in cases {
            let n = a.nrows();
            let (vals, vecs) = sym_eig_na(&a).unwrap();
            assert!(vals.windows(2).all(|w| w[0] <= w[1]));
            let back = apply_spectrum(&vals, &vecs, |v| v);
            assert!((back - &a).abs().max() < 1e-12 * a.abs().max());
            assert!((vecs.transpose() * &vecs - DMatrix::identity(n, n)).abs().max() < 1e-13);
        }
    }

    #[test]
    fn generalized_eigh_is_b_orthonormal() {
        let a = spd(5);
        let b = spd(5) + DMatrix::identity(5, 5) * 3.0;
        let (vals, x) = generalized_eigh(&a, &b).unwrap().unwrap();
        let xtbx = x.transpose() * &b * &x;
        assert!((xtbx - DMatrix::identity(5, 5)).abs().max() < 1e-12);
        let xtax = x.transpose() * &a * &x;
        for i in 0..5 {
            assert!((xtax[(i, i)] - vals[i]).abs() < 1e-10 * vals[4]);
        }
        // B not positive definite
        assert!(generalized_eigh(&a, &(-b)).unwrap().is_none());
    }

    #[test]
    fn svd_of_rank_one_matrix() {
        // LDA's between-class centres for two classes: rank 1 by construction.
        let a = DMatrix::from_row_slice(
            2,
            4,
            &[
                -2.3963085797937103,
                3.792830993634909,
                1.4559438600504084,
                -0.1779734464307854,
                2.649218813695054,
                -4.1931324330392785,
                -1.6096064998696382,
                0.1967570481524481,
            ],
        );
        let (u, s, vt) = svd_na(&a).unwrap();
        assert!(
            (s[0] - a.norm()).abs() < 1e-14 * s[0] && s[1] < 1e-14 * s[0],
            "{s:?}"
        );
        let back = u.column(0) * s[0] * vt.row(0);
        assert!((back - &a).abs().max() < 1e-14 * a.abs().max());
        let row = a.row(0) / a.row(0).norm();
        assert!((row.dot(&vt.row(0)).abs() - 1.0).abs() < 1e-14);
    }

    #[test]
    fn svd_singular_values_match_eigenvalues_of_the_gram_matrix() {
        let a = DMatrix::from_fn(40, 6, |i, j| {
            (((i * 13 + j * 7) % 17) as f64 - 8.0) * (1.0 + j as f64)
        });
        let s = singular_values_na(&a).unwrap();
        let (ev, _) = sym_eig_na(&(a.transpose() * &a)).unwrap();
        for (sv, e) in s.iter().zip(ev.iter().rev()) {
            assert!((sv * sv - e).abs() < 1e-10 * ev[5], "{sv} {e}");
        }
    }

    #[test]
    fn svd_reconstructs_and_is_sorted() {
        for (r, c) in [(20, 4), (2, 4), (5, 5), (3, 7)] {
            let a = DMatrix::from_fn(r, c, |i, j| {
                ((i * 31 + j * 17) % 11) as f64 - 5.0 + 0.1 * (i * j) as f64
            });
            let (u, s, vt) = svd_na(&a).unwrap();
            assert!(s.windows(2).all(|w| w[0] >= w[1]));
            let back = &u * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(s.clone())) * &vt;
            assert!((back - &a).abs().max() < 1e-12 * a.abs().max(), "{r}x{c}");
        }
    }

    #[test]
    fn pinv_of_tall_full_rank_matrix_is_left_inverse() {
        let a = DMatrix::from_fn(6, 4, |i, j| ((i + 2 * j) % 5) as f64 + (i == j) as u8 as f64);
        let p = pinv_na(&a).unwrap();
        assert!((p * &a - DMatrix::identity(4, 4)).abs().max() < 1e-12);
    }

    #[test]
    fn non_finite_input_is_an_error_not_a_panic() {
        let mut a = spd(3);
        a[(1, 1)] = f64::NAN;
        assert!(matches!(sym_eig_na(&a), Err(BaselineError::Numerical(_))));
    }
}
