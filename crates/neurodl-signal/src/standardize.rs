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

/// One row in place. Per sample, the same operations as braindecode's
/// vectorised code (`lfilter` recursions `y = x + (1−α)·y₋₁`, then divisions),
/// fused into one pass so no temporary arrays are needed.
fn standardize_row(
    row: &mut [f64],
    den: &[f64],
    keep: f64,
    eps: Option<f64>,
    init_block_size: Option<usize>,
) {
    let block = init_block_size.map(|b| block_stats(&row[..b], eps));
    let (mut num, mut num_sq) = (0.0, 0.0);
    for (v, d) in row.iter_mut().zip(den) {
        num = *v + keep * num;
        let demeaned = *v - num / d;
        *v = match eps {
            Some(eps) => {
                num_sq = demeaned * demeaned + keep * num_sq;
                demeaned / (num_sq / d).sqrt().max(eps)
            }
            None => demeaned,
        };
    }
    if let (Some(b), Some((original, mean, div))) = (init_block_size, block) {
        for (y, x) in row[..b].iter_mut().zip(&original) {
            *y = (x - mean) / div;
        }
    }
}

/// The block's samples, mean and divisor (population standard deviation floored
/// at `eps`, or 1 when only demeaning).
fn block_stats(block: &[f64], eps: Option<f64>) -> (Vec<f64>, f64, f64) {
    let n = block.len() as f64;
    let mean = block.iter().sum::<f64>() / n;
    let div = match eps {
        Some(eps) => (block.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n)
            .sqrt()
            .max(eps),
        None => 1.0,
    };
    (block.to_vec(), mean, div)
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
    let keep = 1.0 - factor_new;
    let den = weights(data.ncols(), keep);
    let mut buf = Vec::new();
    for mut row in data.outer_iter_mut() {
        match row.as_slice_mut() {
            Some(slice) => standardize_row(slice, &den, keep, eps, init_block_size),
            None => {
                buf.clear();
                buf.extend(row.iter());
                standardize_row(&mut buf, &den, keep, eps, init_block_size);
                row.iter_mut().zip(&buf).for_each(|(d, s)| *d = *s);
            }
        }
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
