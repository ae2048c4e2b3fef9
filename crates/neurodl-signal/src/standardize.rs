//! braindecode's causal normalisations (`exponential_moving_standardize`,
//! `exponential_moving_demean`, braindecode 1.8 semantics).
//!
//! The moving mean at sample t is `Σᵢ (1−α)ⁱ x₍t−i₎ / Σᵢ (1−α)ⁱ` (α = `factor_new`),
//! i.e. a ratio of two one-pole recursions, so every output depends only on
//! the past: the same code works on a live stream.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

fn check_factor(factor_new: f64) -> Result<()> {
    if !(factor_new > 0.0 && factor_new <= 1.0) {
        return Err(Error::param("factor_new", factor_new, "must lie in (0, 1]"));
    }
    Ok(())
}

fn check_block(init_block_size: Option<usize>, n_times: usize) -> Result<()> {
    match init_block_size {
        Some(0) => Err(Error::param(
            "init_block_size",
            0,
            "must be at least 1 (or absent)",
        )),
        Some(b) if b > n_times => Err(Error::param(
            "init_block_size",
            b,
            format!("exceeds the signal length ({n_times} samples)"),
        )),
        _ => Ok(()),
    }
}

/// Denominator of the moving mean, shared by every row: `Σᵢ₌₀ᵗ (1−α)ⁱ` (the
/// moving mean of a sequence of ones), computed by the same recursion as the numerator.
fn weights(n_times: usize, keep: f64) -> Vec<f64> {
    let mut den = 0.0;
    (0..n_times)
        .map(|_| {
            den = 1.0 + keep * den;
            den
        })
        .collect()
}

/// How many rows advance together: the per-sample divisions and square root
/// dominate the cost, and running independent channels in lock-step lets the
/// compiler use packed SIMD instructions for them. Each row still sees exactly
/// the operations of braindecode's vectorised code, in the same order.
const LANES: usize = 4;

/// Up to `LANES` rows in place: per sample, the `lfilter` recursions
/// `y = x + (1−α)·y₋₁` of braindecode, then its divisions, fused into one pass.
fn standardize_rows(rows: &mut [&mut [f64]], den: &[f64], keep: f64, eps: Option<f64>) {
    let n_rows = rows.len();
    debug_assert!(n_rows <= LANES);
    let mut num = [0.0; LANES];
    let mut num_sq = [0.0; LANES];
    let mut x = [0.0; LANES];
    for (t, d) in den.iter().enumerate() {
        for l in 0..n_rows {
            x[l] = rows[l][t];
        }
        let mut out = [0.0; LANES];
        // Two loops rather than a branch per sample, so each vectorises.
        match eps {
            Some(eps) => {
                for l in 0..LANES {
                    num[l] = x[l] + keep * num[l];
                    let demeaned = x[l] - num[l] / d;
                    num_sq[l] = demeaned * demeaned + keep * num_sq[l];
                    out[l] = demeaned / (num_sq[l] / d).sqrt().max(eps);
                }
            }
            None => {
                for l in 0..LANES {
                    num[l] = x[l] + keep * num[l];
                    out[l] = x[l] - num[l] / d;
                }
            }
        }
        for l in 0..n_rows {
            rows[l][t] = out[l];
        }
    }
}

/// The block's mean and divisor (population standard deviation floored at
/// `eps`, or 1 when only demeaning).
fn block_stats(block: &[f64], eps: Option<f64>) -> (f64, f64) {
    let n = block.len() as f64;
    let mean = block.iter().sum::<f64>() / n;
    let div = match eps {
        Some(eps) => (block.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n)
            .sqrt()
            .max(eps),
        None => 1.0,
    };
    (mean, div)
}

fn run_rows(
    mut data: ndarray::ArrayViewMut2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
    eps: Option<f64>,
) -> Result<()> {
    check_factor(factor_new)?;
    check_block(init_block_size, data.ncols())?;
    if let Some(eps) = eps
        && !(eps.is_finite() && eps > 0.0)
    {
        return Err(Error::param("eps", eps, "must be a positive finite number"));
    }
    let n_times = data.ncols();
    if n_times == 0 || data.nrows() == 0 {
        return Ok(());
    }
    let keep = 1.0 - factor_new;
    let den = weights(n_times, keep);
    // The initial block is standardised with its own statistics, taken from the
    // original samples before the recursion overwrites them.
    let blocks: Vec<Option<(Vec<f64>, f64, f64)>> = data
        .outer_iter()
        .map(|row| {
            init_block_size.map(|b| {
                let original: Vec<f64> = row.iter().take(b).copied().collect();
                let (mean, div) = block_stats(&original, eps);
                (original, mean, div)
            })
        })
        .collect();
    let mut owned = None;
    let slice = match data.as_slice_mut() {
        Some(s) => s,
        None => owned
            .insert(data.as_standard_layout().into_owned())
            .as_slice_mut()
            .expect("standard layout"),
    };
    let mut rows: Vec<&mut [f64]> = slice.chunks_exact_mut(n_times).collect();
    for group in rows.chunks_mut(LANES) {
        standardize_rows(group, &den, keep, eps);
    }
    for (row, block) in rows.iter_mut().zip(&blocks) {
        if let Some((original, mean, div)) = block {
            for (y, x) in row.iter_mut().zip(original) {
                *y = (x - mean) / div;
            }
        }
    }
    if let Some(result) = owned {
        data.assign(&result);
    }
    Ok(())
}

/// Standardises each row (channels × times) causally: `(x − m) / max(√v, eps)`
/// with exponential moving mean `m` and variance `v`. With `init_block_size`,
/// the first samples are instead standardised with the block's own mean and
/// (population) standard deviation.
pub fn exponential_moving_standardize(
    data: ArrayView2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
    eps: f64,
) -> Result<Array2<f64>> {
    let mut out = data.to_owned();
    exponential_moving_standardize_in_place(out.view_mut(), factor_new, init_block_size, eps)?;
    Ok(out)
}

/// [`exponential_moving_standardize`] overwriting `data`.
pub fn exponential_moving_standardize_in_place(
    data: ndarray::ArrayViewMut2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
    eps: f64,
) -> Result<()> {
    run_rows(data, factor_new, init_block_size, Some(eps))
}

/// Demeans each row causally with the exponential moving mean; with
/// `init_block_size`, the first samples are demeaned with the block's mean.
pub fn exponential_moving_demean(
    data: ArrayView2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
) -> Result<Array2<f64>> {
    let mut out = data.to_owned();
    exponential_moving_demean_in_place(out.view_mut(), factor_new, init_block_size)?;
    Ok(out)
}

/// [`exponential_moving_demean`] overwriting `data`.
pub fn exponential_moving_demean_in_place(
    data: ndarray::ArrayViewMut2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
) -> Result<()> {
    run_rows(data, factor_new, init_block_size, None)
}
