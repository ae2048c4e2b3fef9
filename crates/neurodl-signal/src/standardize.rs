//! braindecode's causal normalisations (`exponential_moving_standardize`,
//! `exponential_moving_demean`, braindecode 1.8 semantics).
//!
//! The moving mean at sample t is `Σᵢ (1−α)ⁱ x₍t−i₎ / Σᵢ (1−α)ⁱ` (α = `factor_new`),
//! i.e. a ratio of two one-pole recursions, so every output depends only on
//! the past: the same code works on a live stream.

use ndarray::{Array2, ArrayView2, s};

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

/// Exponential moving mean of each row (braindecode's `lfilter([1], [1, α−1])` ratio).
fn moving_mean(x: ArrayView2<'_, f64>, keep: f64) -> Array2<f64> {
    let mut out = Array2::zeros(x.raw_dim());
    for (row, mut o) in x.outer_iter().zip(out.outer_iter_mut()) {
        let (mut num, mut den) = (0.0, 0.0);
        for (v, y) in row.iter().zip(o.iter_mut()) {
            num = v + keep * num;
            den = 1.0 + keep * den;
            *y = num / den;
        }
    }
    out
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
    check_factor(factor_new)?;
    check_block(init_block_size, data.ncols())?;
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::param("eps", eps, "must be a positive finite number"));
    }
    let keep = 1.0 - factor_new;
    let mean = moving_mean(data, keep);
    let demeaned = &data - &mean;
    let var = moving_mean((&demeaned * &demeaned).view(), keep);
    let mut out = &demeaned / &var.mapv(|v| v.sqrt().max(eps));
    if let Some(b) = init_block_size {
        standardize_block(data, out.view_mut(), b, Some(eps));
    }
    Ok(out)
}

/// Demeans each row causally with the exponential moving mean; with
/// `init_block_size`, the first samples are demeaned with the block's mean.
pub fn exponential_moving_demean(
    data: ArrayView2<'_, f64>,
    factor_new: f64,
    init_block_size: Option<usize>,
) -> Result<Array2<f64>> {
    check_factor(factor_new)?;
    check_block(init_block_size, data.ncols())?;
    let mean = moving_mean(data, 1.0 - factor_new);
    let mut out = &data - &mean;
    if let Some(b) = init_block_size {
        standardize_block(data, out.view_mut(), b, None);
    }
    Ok(out)
}

fn standardize_block(
    data: ArrayView2<'_, f64>,
    mut out: ndarray::ArrayViewMut2<'_, f64>,
    b: usize,
    eps: Option<f64>,
) {
    for (row, mut o) in data.outer_iter().zip(out.outer_iter_mut()) {
        let block = row.slice(s![..b]);
        let mean = block.sum() / b as f64;
        let div = match eps {
            Some(eps) => (block.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / b as f64)
                .sqrt()
                .max(eps),
            None => 1.0,
        };
        for (y, v) in o.slice_mut(s![..b]).iter_mut().zip(block.iter()) {
            *y = (v - mean) / div;
        }
    }
}
