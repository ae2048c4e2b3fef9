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

/// Reciprocal of the moving mean's denominator, shared by every row: `1 / Σᵢ₌₀ᵗ (1−α)ⁱ`
/// (the denominator being the moving mean of a sequence of ones, computed by the
/// same recursion as the numerator).
///
/// braindecode divides each channel's recursions by the denominator; multiplying by
/// its reciprocal instead takes one division per sample for all channels rather
/// than two per channel and sample (the divider is what bounds this loop), and
/// moves results by a few units in the last place.
fn inverse_weights(n_times: usize, keep: f64) -> Vec<f64> {
    let mut den = 0.0;
    (0..n_times)
        .map(|_| {
            den = 1.0 + keep * den;
            1.0 / den
        })
        .collect()
}

/// How many rows advance together: the per-sample division and square root
/// dominate the cost, and running independent channels in lock-step lets the
/// compiler use packed SIMD instructions for them. Each row sees the operations
/// of braindecode's vectorised code in the same order, the divisions by the
/// shared denominator aside (see [`inverse_weights`]).
const LANES: usize = 4;

/// `LANES` rows of equal length in place: per sample, the `lfilter` recursions
/// `y = x + (1−α)·y₋₁` of braindecode, then its divisions, fused into one pass.
///
/// The default x86-64 target has only SSE2, where the square root is scalar;
/// with AVX2 (checked at run time, as `rustfft` does) the four lanes are one
/// packed register. Rust never contracts `a·b + c` into a fused multiply-add, so
/// both paths round identically.
fn standardize_rows(rows: [&mut [f64]; LANES], inv_den: &[f64], keep: f64, eps: Option<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, as checked just above.
        return unsafe { standardize_rows_avx2(rows, inv_den, keep, eps) };
    }
    standardize_rows_portable(rows, inv_den, keep, eps)
}

/// [`standardize_rows_portable`] with the four lanes in one AVX register, written
/// with intrinsics because LLVM keeps the loop scalar (the four rows are separate
/// slices). The operations and their order are the portable code's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn standardize_rows_avx2(rows: [&mut [f64]; LANES], inv_den: &[f64], keep: f64, eps: Option<f64>) {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_div_pd, _mm256_max_pd, _mm256_mul_pd, _mm256_set_pd, _mm256_set1_pd,
        _mm256_setzero_pd, _mm256_sqrt_pd, _mm256_storeu_pd, _mm256_sub_pd,
    };
    let n = inv_den.len();
    let [r0, r1, r2, r3] = rows;
    let (r0, r1, r2, r3) = (&mut r0[..n], &mut r1[..n], &mut r2[..n], &mut r3[..n]);
    let keep = _mm256_set1_pd(keep);
    let mut num = _mm256_setzero_pd();
    let mut num_sq = _mm256_setzero_pd();
    let mut out = [0.0; LANES];
    for t in 0..n {
        let r = _mm256_set1_pd(inv_den[t]);
        let x = _mm256_set_pd(r3[t], r2[t], r1[t], r0[t]);
        num = _mm256_add_pd(x, _mm256_mul_pd(keep, num));
        let demeaned = _mm256_sub_pd(x, _mm256_mul_pd(num, r));
        let y = match eps {
            Some(eps) => {
                num_sq = _mm256_add_pd(_mm256_mul_pd(demeaned, demeaned), _mm256_mul_pd(keep, num_sq));
                // max(√v, eps): v ≥ 0 is never NaN, so `maxpd`'s NaN rule never applies.
                let sd = _mm256_max_pd(_mm256_sqrt_pd(_mm256_mul_pd(num_sq, r)), _mm256_set1_pd(eps));
                _mm256_div_pd(demeaned, sd)
            }
            None => demeaned,
        };
        // SAFETY: `out` holds exactly four f64s.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), y) };
        [r0[t], r1[t], r2[t], r3[t]] = out;
    }
}

fn standardize_rows_portable(rows: [&mut [f64]; LANES], inv_den: &[f64], keep: f64, eps: Option<f64>) {
    let n = inv_den.len();
    let [r0, r1, r2, r3] = rows;
    let (r0, r1, r2, r3) = (&mut r0[..n], &mut r1[..n], &mut r2[..n], &mut r3[..n]);
    let mut num = [0.0; LANES];
    let mut num_sq = [0.0; LANES];
    for t in 0..n {
        let r = inv_den[t];
        let x = [r0[t], r1[t], r2[t], r3[t]];
        let mut out = [0.0; LANES];
        for l in 0..LANES {
            num[l] = x[l] + keep * num[l];
            let demeaned = x[l] - num[l] * r;
            out[l] = match eps {
                Some(eps) => {
                    num_sq[l] = demeaned * demeaned + keep * num_sq[l];
                    demeaned / (num_sq[l] * r).sqrt().max(eps)
                }
                None => demeaned,
            };
        }
        [r0[t], r1[t], r2[t], r3[t]] = out;
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
    let inv_den = inverse_weights(n_times, keep);
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
    // The last group is filled up with rows of zeros (harmless: their standard
    // deviation is floored at eps) so every group runs the same four-lane code.
    let n_spare = rows.len().next_multiple_of(LANES) - rows.len();
    let mut spare = vec![vec![0.0; n_times]; n_spare];
    for group in rows
        .iter_mut()
        .map(|r| &mut **r)
        .chain(spare.iter_mut().map(Vec::as_mut_slice))
        .collect::<Vec<&mut [f64]>>()
        .chunks_exact_mut(LANES)
    {
        let [a, b, c, d] = group else {
            unreachable!("chunks of LANES")
        };
        standardize_rows([a, b, c, d], &inv_den, keep, eps);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 path must give the portable path's bits (same operations, same order), for
    /// standardising and for demeaning.
    #[test]
    fn avx2_and_portable_lanes_agree_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let n = 3000;
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 * 40.0 - 20.0
            };
            let original: Vec<Vec<f64>> = (0..LANES).map(|_| (0..n).map(|_| next()).collect()).collect();
            let keep = 1.0 - 1e-3;
            let inv_den = inverse_weights(n, keep);
            for eps in [Some(1e-4), None] {
                let mut a = original.clone();
                let mut b = original.clone();
                let [a0, a1, a2, a3] = &mut a[..] else {
                    unreachable!()
                };
                standardize_rows_portable([a0, a1, a2, a3], &inv_den, keep, eps);
                let [b0, b1, b2, b3] = &mut b[..] else {
                    unreachable!()
                };
                // SAFETY: AVX2 is present (checked above).
                unsafe { standardize_rows_avx2([b0, b1, b2, b3], &inv_den, keep, eps) };
                for (ra, rb) in a.iter().zip(&b) {
                    for (x, y) in ra.iter().zip(rb) {
                        assert_eq!(x.to_bits(), y.to_bits(), "eps {eps:?}");
                    }
                }
                assert_ne!(a, original, "the data were standardised");
            }
        }
    }
}
