//! Covariance estimators: pyRiemann's sample covariance and MNE's CSP class covariance.

use nalgebra::DMatrix;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};

use crate::BaselineError;
use crate::linalg::{from_na, singular_values_na, sym_eig_na};

/// Sample covariance matrix of one trial `[n_chans, n_times]`, as pyRiemann's
/// `covariance_scm` (`Covariances(estimator="scm")`): the data are centred
/// per channel and the divisor is `n_times` (not `n_times - 1`), i.e.
/// `C = (X - mean) (X - mean)^T / n_times`.
///
/// The caller guarantees `n_times >= 1`.
pub fn scm(trial: ArrayView2<f64>) -> Array2<f64> {
    let n_times = trial.ncols();
    // pyRiemann weights every sample by 1/n and sums, rather than dividing a sum.
    let w = 1.0 / n_times as f64;
    let mean = trial.map_axis(Axis(1), |row| row.iter().map(|&v| v * w).sum::<f64>());
    let centred = &trial - &mean.insert_axis(Axis(1));
    let weighted = &centred * w;
    weighted.dot(&centred.t())
}

/// [`scm`] of every trial of `[n_trials, n_chans, n_times]`: `[n_trials, n_chans, n_chans]`.
pub fn scm_trials(x: ArrayView3<f64>) -> Array3<f64> {
    let (n, c, _) = x.dim();
    let mut out = Array3::zeros((n, c, c));
    for (trial, mut dst) in x.outer_iter().zip(out.outer_iter_mut()) {
        dst.assign(&scm(trial));
    }
    out
}

/// The trials of `x` side by side in time: `[n_chans, n_trials * n_times]`, as `np.hstack(x)`.
fn concat_trials(x: ArrayView3<f64>) -> DMatrix<f64> {
    let (n, c, t) = x.dim();
    DMatrix::from_fn(c, n * t, |ch, col| x[[col / t, ch, col % t]])
}

/// Rank of the data as MNE estimates it for `rank=None` (`mne.rank` with
/// `tol="auto"`, absolute): the number of singular values of the concatenated
/// trials above `min(n_chans, n_samples) * max(s) * eps`.
///
/// (MNE scales the data by a per-channel-type constant first; a single
/// constant does not change this relative threshold.)
pub fn mne_rank(x: ArrayView3<f64>) -> Result<usize, BaselineError> {
    let s = singular_values_na(&concat_trials(x))?;
    let max_s = s.iter().copied().fold(0.0, f64::max);
    let tol = s.len() as f64 * max_s * f64::EPSILON;
    Ok(s.iter().filter(|&&v| v > tol).count())
}

/// Covariance of one class's trials as `mne.decoding.CSP(cov_est="concat")`
/// estimates it (`mne.cov._regularized_covariance` with `rank` given).
///
/// - The trials are concatenated in time and **not centred**
///   (`EmpiricalCovariance(assume_centered=True)`), and the divisor is
///   `n_samples - 1` (MNE "undoes the bias" of sklearn's `1/n`):
///   `C = X X^T / (N - 1)`.
/// - When `rank < n_chans` the estimate is restricted to the span of the `rank`
///   leading eigenvectors of `X X^T` (MNE's rank reduction): `C = P S P^T` with
///   `P` the projector onto that span.
/// - `reg = Some(a)` is MNE's float `reg`: shrinkage towards a scaled identity
///   in that subspace, `(1 - a) S + a * (trace(S) / rank) * I`
///   (`sklearn.covariance.shrunk_covariance`), with the same `N / (N - 1)` factor.
pub fn mne_concat_covariance(
    x: ArrayView3<f64>,
    rank: usize,
    reg: Option<f64>,
) -> Result<Array2<f64>, BaselineError> {
    let (n_trials, c, t) = x.dim();
    if rank == 0 || rank > c {
        return Err(BaselineError::Config(format!(
            "covariance rank {rank} must be in 1..={c}"
        )));
    }
    let n_samples = (n_trials * t) as f64;
    let data = concat_trials(x);
    let gram = &data * data.transpose();
    let debias = n_samples / (n_samples - 1.0).max(1.0);
    // sklearn's empirical covariance (1/n), before MNE's n/(n-1)
    let emp = |m: DMatrix<f64>| m / n_samples;
    let cov = if rank == c {
        let mut s = emp(gram);
        if let Some(a) = reg {
            shrink(&mut s, a);
        }
        s
    } else {
        let (_, vecs) = sym_eig_na(&gram)?;
        // rows of `e` span the leading `rank` eigenvectors (ascending order: the last ones)
        let e = vecs.columns(c - rank, rank).transpose();
        let mut s = emp(&e * &gram * e.transpose());
        if let Some(a) = reg {
            shrink(&mut s, a);
        }
        e.transpose() * s * e
    };
    Ok(from_na(&(cov * debias)))
}

/// `(1 - a) S + a * mean(diag(S)) * I`, in place.
fn shrink(s: &mut DMatrix<f64>, a: f64) {
    let n = s.nrows();
    let mu = s.trace() / n as f64;
    *s *= 1.0 - a;
    for i in 0..n {
        s[(i, i)] += a * mu;
    }
}

/// Rows of the returned `[rank, n_chans]` matrix are an orthonormal basis of the
/// span of the `rank` leading eigenvectors of `c` (MNE's "restricting" matrix);
/// `None` when `rank == n_chans` (MNE then uses the identity).
pub(crate) fn restriction(c: &DMatrix<f64>, rank: usize) -> Result<Option<DMatrix<f64>>, BaselineError> {
    let n = c.nrows();
    if rank >= n {
        return Ok(None);
    }
    let (_, vecs) = sym_eig_na(c)?;
    Ok(Some(vecs.columns(n - rank, rank).transpose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn scm_centres_and_divides_by_n() {
        let x = array![[1.0, 2.0, 3.0, 6.0], [0.0, 1.0, 0.0, 3.0]];
        let c = scm(x.view());
        // channel 0: mean 3, deviations -2 -1 0 3 -> var 14/4
        assert!((c[[0, 0]] - 3.5).abs() < 1e-15);
        // channel 1: mean 1, deviations -1 0 -1 2 -> cross (2 + 0 + 0 + 6)/4
        assert!((c[[0, 1]] - 2.0).abs() < 1e-15 && (c[[1, 0]] - 2.0).abs() < 1e-15);
    }

    #[test]
    fn mne_covariance_is_uncentred_with_n_minus_1() {
        let x = array![[[1.0, 2.0], [0.0, 1.0]], [[3.0, 6.0], [0.0, 3.0]]];
        let c = mne_concat_covariance(x.view(), 2, None).unwrap();
        // channel 0 samples 1 2 3 6: sum of squares 50, N - 1 = 3
        assert!((c[[0, 0]] - 50.0 / 3.0).abs() < 1e-13);
        assert!((c[[0, 1]] - (2.0 + 18.0) / 3.0).abs() < 1e-13);
        let r = mne_concat_covariance(x.view(), 2, Some(0.5)).unwrap();
        let mu = (50.0 + 10.0) / 3.0 / 2.0;
        assert!((r[[0, 0]] - (0.5 * 50.0 / 3.0 + 0.5 * mu)).abs() < 1e-12);
        assert!((r[[0, 1]] - 0.5 * 20.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn rank_of_duplicated_channel_is_reduced() {
        let x = Array3::from_shape_fn((3, 3, 50), |(t, c, s)| {
            let c = c.min(1); // channel 2 duplicates channel 1
            ((t * 50 + s) as f64 * (0.3 + c as f64)).sin()
        });
        assert_eq!(mne_rank(x.view()).unwrap(), 2);
        let full = Array3::from_shape_fn((3, 3, 50), |(t, c, s)| {
            ((t * 50 + s) as f64 * (0.3 + c as f64)).sin()
        });
        assert_eq!(mne_rank(full.view()).unwrap(), 3);
    }
}
