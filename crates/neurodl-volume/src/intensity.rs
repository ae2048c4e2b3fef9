//! Intensity transforms with explicit parameters: normalisation (z-score, nnU-Net's CT
//! rule) and the deterministic kernels behind the random intensity augmentations
//! (Gaussian blur, gamma, brightness, contrast, bias field, low resolution). The random
//! wrappers in [`crate::augment`] only draw the parameters.

use ndarray::{Array3, ArrayView3, ArrayViewMut3, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError, param};
use crate::interp::{Boundary, Interpolation, affine_transform};

/// Which voxels [`zscore`] takes its statistics from and rewrites.
#[derive(Debug, Clone, Copy)]
pub enum ZScoreRegion<'a> {
    /// Every voxel.
    All,
    /// Voxels where any channel is non-zero (nnU-Net's `use_mask_for_norm` after
    /// `crop_to_nonzero`); the others stay as they are (zero).
    NonZero,
    /// Voxels where the mask is `true`; the others stay as they are.
    Mask(ArrayView3<'a, bool>),
}

/// Standard deviations below this are treated as this (nnU-Net's `max(std, 1e-8)`).
pub const MIN_STD: f64 = 1e-8;

/// Z-scores each channel of `image` (`C × X × Y × Z`) over `region`: mean and population
/// standard deviation in `f64`, as nnU-Net's `ZScoreNormalization`.
pub fn zscore(mut image: ndarray::ArrayViewMut4<f32>, region: ZScoreRegion) -> Result<()> {
    let spatial = image.shape()[1..].to_vec();
    let mask: Option<Array3<bool>> = match region {
        ZScoreRegion::All => None,
        ZScoreRegion::NonZero => {
            let mut m = Array3::from_elem((spatial[0], spatial[1], spatial[2]), false);
            for ch in image.axis_iter(Axis(0)) {
                Zip::from(&mut m).and(&ch).for_each(|m, v| *m |= *v != 0.0);
            }
            Some(m)
        }
        ZScoreRegion::Mask(m) => {
            if m.shape() != spatial.as_slice() {
                return Err(VolumeError::ShapeMismatch {
                    what: "image (spatial) and z-score mask",
                    left: spatial,
                    right: m.shape().to_vec(),
                });
            }
            Some(m.to_owned())
        }
    };
    for mut ch in image.axis_iter_mut(Axis(0)) {
        let (mut n, mut sum) = (0usize, 0.0f64);
        visit(&ch.view(), mask.as_ref(), |v| {
            n += 1;
            sum += v as f64;
        });
        if n == 0 {
            continue;
        }
        let mean = sum / n as f64;
        let mut ss = 0.0;
        visit(&ch.view(), mask.as_ref(), |v| ss += (v as f64 - mean).powi(2));
        let sd = (ss / n as f64).sqrt().max(MIN_STD);
        match &mask {
            None => ch.mapv_inplace(|v| ((v as f64 - mean) / sd) as f32),
            Some(m) => Zip::from(&mut ch).and(m).for_each(|v, inside| {
                if *inside {
                    *v = ((*v as f64 - mean) / sd) as f32;
                }
            }),
        }
    }
    Ok(())
}

fn visit(ch: &ArrayView3<f32>, mask: Option<&Array3<bool>>, mut f: impl FnMut(f32)) {
    match mask {
        None => ch.iter().for_each(|v| f(*v)),
        Some(m) => ch
            .iter()
            .zip(m.iter())
            .filter(|(_, m)| **m)
            .for_each(|(v, _)| f(*v)),
    }
}

/// NumPy's `percentile(values, q)` (linear interpolation between order statistics) of
/// sorted values.
fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The dataset statistics nnU-Net's `CTNormalization` uses, from foreground voxels
/// (`label > 0`) pooled over the training cases: mean, standard deviation, 0.5th and
/// 99.5th percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CtStats {
    /// Mean of foreground intensities.
    pub mean: f64,
    /// Population standard deviation of foreground intensities.
    pub std: f64,
    /// 0.5th percentile (clip floor).
    pub lower: f64,
    /// 99.5th percentile (clip ceiling).
    pub upper: f64,
}

impl CtStats {
    /// Statistics of `values` (foreground intensities, e.g. from [`foreground_values`]).
    pub fn from_values(values: &[f32]) -> Result<Self> {
        if values.is_empty() {
            return Err(VolumeError::Empty {
                what: "foreground intensities",
                shape: vec![0],
            });
        }
        let mut sorted: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let std = (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        Ok(CtStats {
            mean,
            std,
            lower: percentile_sorted(&sorted, 0.5),
            upper: percentile_sorted(&sorted, 99.5),
        })
    }
}

/// Intensities of one channel where `label > 0` (what nnU-Net's fingerprint collects).
pub fn foreground_values(channel: ArrayView3<f32>, label: ArrayView3<u16>) -> Result<Vec<f32>> {
    if channel.shape() != label.shape() {
        return Err(VolumeError::ShapeMismatch {
            what: "image channel and label",
            left: channel.shape().to_vec(),
            right: label.shape().to_vec(),
        });
    }
    Ok(channel
        .iter()
        .zip(label.iter())
        .filter(|(_, l)| **l > 0)
        .map(|(v, _)| *v)
        .collect())
}

/// nnU-Net's `CTNormalization`: clip to `[lower, upper]`, then `(v − mean) / max(std, 1e-8)`.
pub fn ct_normalize(mut channel: ArrayViewMut3<f32>, stats: &CtStats) {
    let sd = stats.std.max(MIN_STD);
    channel.mapv_inplace(|v| ((v as f64).clamp(stats.lower, stats.upper) - stats.mean) as f32 / sd as f32);
}

/// SciPy's `mode="reflect"` index (half-sample symmetric: `d c b a | a b c d | d c b a`).
fn reflect(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let r = i.rem_euclid(period);
    (if r >= n as isize { period - 1 - r } else { r }) as usize
}

/// SciPy's Gaussian kernel: radius `int(truncate · σ + 0.5)` with `truncate = 4`, weights
/// normalised to sum 1.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let mut k: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// SciPy's `gaussian_filter(channel, sigma, mode="reflect", truncate=4)`, separable, with
/// `sigma` in voxels per axis (0 leaves an axis alone). Accumulates in `f64` per line.
pub fn gaussian_blur(mut channel: ArrayViewMut3<f32>, sigma: [f64; 3]) -> Result<()> {
    if sigma.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(param("sigma", sigma, "every sigma must be finite and ≥ 0 voxels"));
    }
    for (axis, s) in sigma.iter().enumerate() {
        if *s == 0.0 {
            continue;
        }
        let k = gaussian_kernel(*s);
        let r = (k.len() / 2) as isize;
        Zip::from(channel.lanes_mut(Axis(axis))).par_for_each(|mut lane| {
            let n = lane.len();
            let src: Vec<f64> = lane.iter().map(|v| *v as f64).collect();
            for (i, out) in lane.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (j, w) in k.iter().enumerate() {
                    acc += w * src[reflect(i as isize + j as isize - r, n)];
                }
                *out = acc as f32;
            }
        });
    }
    Ok(())
}

/// nnU-Net's (batchgenerators') `augment_gamma` on one channel with a drawn `gamma`:
/// optionally invert (`v → −v`), rescale to `[0, 1]`, raise to `gamma`, scale back; with
/// `retain_stats`, restore the original mean and standard deviation.
pub fn gamma(mut channel: ArrayViewMut3<f32>, gamma: f64, invert: bool, retain_stats: bool) -> Result<()> {
    if !(gamma.is_finite() && gamma > 0.0) {
        return Err(param("gamma", gamma, "must be finite and > 0"));
    }
    let sign = if invert { -1.0 } else { 1.0 };
    let vals: Vec<f64> = channel.iter().map(|v| sign * *v as f64).collect();
    let n = vals.len() as f64;
    let stats = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / n;
        (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt())
    };
    let (mean, sd) = stats(&vals);
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    let mut out: Vec<f64> = vals
        .iter()
        .map(|v| ((v - min) / (range + 1e-7)).powf(gamma) * range + min)
        .collect();
    if retain_stats {
        let (m2, s2) = stats(&out);
        out.iter_mut()
            .for_each(|v| *v = (*v - m2) / (s2 + 1e-8) * sd + mean);
    }
    for (o, v) in channel.iter_mut().zip(out) {
        *o = (sign * v) as f32;
    }
    Ok(())
}

/// nnU-Net's multiplicative brightness: `v · multiplier`.
pub fn brightness(mut channel: ArrayViewMut3<f32>, multiplier: f64) {
    let m = multiplier as f32;
    channel.mapv_inplace(|v| v * m);
}

/// nnU-Net's `augment_contrast`: `(v − mean) · factor + mean`, clipped to the original
/// `[min, max]` when `preserve_range`.
pub fn contrast(mut channel: ArrayViewMut3<f32>, factor: f64, preserve_range: bool) {
    let n = channel.len() as f64;
    let mean = channel.iter().map(|v| *v as f64).sum::<f64>() / n;
    let min = channel.iter().copied().fold(f32::INFINITY, f32::min);
    let max = channel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    channel.mapv_inplace(|v| {
        let o = ((v as f64 - mean) * factor + mean) as f32;
        if preserve_range { o.clamp(min, max) } else { o }
    });
}

/// Number of polynomial terms of total degree ≤ `order` in 3 variables.
pub fn bias_field_terms(order: usize) -> usize {
    (order + 1) * (order + 2) * (order + 3) / 6
}

/// TorchIO's `BiasField(coefficients, order)`: multiplies by `exp(Σ c · xᵃ yᵇ zᶜ)` over
/// monomials of total degree ≤ `order` (TorchIO's term order: x degree outermost), on
/// TorchIO's coordinates (`arange(-n/2, n/2) + 0.5` divided by its maximum, per axis);
/// the field is rounded to `f32` before the product, as TorchIO does.
pub fn bias_field(mut channel: ArrayViewMut3<f32>, coefficients: &[f64], order: usize) -> Result<()> {
    if coefficients.len() != bias_field_terms(order) {
        return Err(param(
            "coefficients",
            coefficients.len(),
            "need (order+1)(order+2)(order+3)/6 coefficients",
        ));
    }
    let shape = [channel.shape()[0], channel.shape()[1], channel.shape()[2]];
    let coords: Vec<Vec<f64>> = shape
        .iter()
        .map(|n| {
            let h = *n as f64 / 2.0;
            let c: Vec<f64> = (0..*n).map(|i| -h + i as f64 + 0.5).collect();
            let m = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m > 0.0 {
                c.iter().map(|v| v / m).collect()
            } else {
                c
            }
        })
        .collect();
    let mut terms = Vec::new();
    for a in 0..=order {
        for b in 0..=(order - a) {
            for c in 0..=(order - a - b) {
                terms.push((a as i32, b as i32, c as i32));
            }
        }
    }
    Zip::indexed(&mut channel).par_for_each(|(x, y, z), v| {
        let (cx, cy, cz) = (coords[0][x], coords[1][y], coords[2][z]);
        let mut f = 0.0;
        for (coef, (a, b, c)) in coefficients.iter().zip(&terms) {
            f += coef * cx.powi(*a) * cy.powi(*b) * cz.powi(*c);
        }
        *v *= f.exp() as f32;
    });
    Ok(())
}

/// scikit-image `resize` coordinates (pixel-centred: `(o + 0.5) · n_in / n_out − 0.5`) as a
/// matrix, edge-clamped, which batchgenerators' low-resolution simulation uses.
fn resize_matrix(from: [usize; 3], to: [usize; 3]) -> [[f64; 4]; 3] {
    let mut m = [[0.0; 4]; 3];
    for a in 0..3 {
        let r = from[a] as f64 / to[a] as f64;
        m[a][a] = r;
        m[a][3] = 0.5 * r - 0.5;
    }
    m
}

/// nnU-Net's simulated low resolution on one channel: resize to `round(n · zoom)` with
/// `down` interpolation, then back to the original shape with `up` (batchgenerators:
/// nearest down, cubic up, edge mode).
pub fn simulate_low_resolution(
    channel: ArrayView3<f32>,
    zoom: [f64; 3],
    down: Interpolation,
    up: Interpolation,
) -> Result<Array3<f32>> {
    if zoom.iter().any(|z| !(z.is_finite() && *z > 0.0 && *z <= 1.0)) {
        return Err(param("zoom", zoom, "every factor must be in (0, 1]"));
    }
    let shape = [channel.shape()[0], channel.shape()[1], channel.shape()[2]];
    let small = [0, 1, 2].map(|a| ((shape[a] as f64 * zoom[a]).round() as usize).max(1));
    let low = affine_transform(
        channel,
        resize_matrix(shape, small),
        small,
        down,
        Boundary::Nearest,
    )?;
    affine_transform(
        low.view(),
        resize_matrix(small, shape),
        shape,
        up,
        Boundary::Nearest,
    )
}
