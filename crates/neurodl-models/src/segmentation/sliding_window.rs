//! Sliding-window inference over a whole volume, following nnU-Net v2's
//! `nnUNetPredictor.predict_sliding_window_return_logits`.

use burn::tensor::{Tensor, TensorData};

use super::{SegmentationError, invalid, shape_err};

/// How the predictions of overlapping windows are weighted.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    /// nnU-Net's `compute_gaussian`: a Gaussian centred on voxel `patch / 2` with
    /// `sigma = patch · sigma_scale` (nnU-Net: 1/8), sampled as scipy's `gaussian_filter`
    /// (truncated at `int(4·sigma + 0.5)` voxels), normalised to a maximum of 1, zeros replaced
    /// by the smallest non-zero value.
    Gaussian {
        /// Sigma as a fraction of the patch size along each axis.
        sigma_scale: f64,
    },
    /// Every window voxel weighs 1 (plain averaging, MONAI's `mode="constant"`).
    Constant,
}

/// Settings of [`sliding_window_inference`]. `new` gives nnU-Net's defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindowConfig {
    /// Window size `[X, Y, Z]` (a 2-D network: `Z = 1`).
    pub patch_size: [usize; 3],
    /// Target step between windows as a fraction of the patch (nnU-Net's `tile_step_size`,
    /// 0.5); the actual steps spread the windows evenly, see [`compute_steps`].
    pub tile_step_size: f64,
    /// Window weighting.
    pub importance: Importance,
    /// Spatial axes (0 = X, 1 = Y, 2 = Z) to mirror for test-time augmentation: the prediction
    /// of each window is the mean over all `2^n` flip combinations. Empty: no mirroring.
    pub mirror_axes: Vec<usize>,
    /// Windows per predictor call.
    pub batch_size: usize,
}

impl SlidingWindowConfig {
    /// nnU-Net's settings for `patch_size`: step 0.5, Gaussian weighting with sigma 1/8 of the
    /// patch, no mirroring (nnU-Net mirrors over its plan's axes; set
    /// [`mirror_axes`](Self::mirror_axes)), one window per call.
    pub fn new(patch_size: [usize; 3]) -> Self {
        Self {
            patch_size,
            tile_step_size: 0.5,
            importance: Importance::Gaussian { sigma_scale: 0.125 },
            mirror_axes: Vec::new(),
            batch_size: 1,
        }
    }

    fn validate(&self) -> Result<(), SegmentationError> {
        if self.patch_size.contains(&0) {
            return Err(invalid(format!(
                "sliding window: patch size {:?} has a zero axis",
                self.patch_size
            )));
        }
        if !(self.tile_step_size > 0.0 && self.tile_step_size <= 1.0) {
            return Err(invalid(format!(
                "sliding window: tile_step_size must be in (0, 1], got {}",
                self.tile_step_size
            )));
        }
        if self.batch_size == 0 {
            return Err(invalid("sliding window: batch_size must be >= 1"));
        }
        for (i, &a) in self.mirror_axes.iter().enumerate() {
            if a > 2 || self.mirror_axes[..i].contains(&a) {
                return Err(invalid(format!(
                    "sliding window: mirror axes must be distinct spatial axes 0..=2, got {:?}",
                    self.mirror_axes
                )));
            }
        }
        if let Importance::Gaussian { sigma_scale } = self.importance
            && !(sigma_scale > 0.0 && sigma_scale.is_finite())
        {
            return Err(invalid(format!(
                "sliding window: sigma_scale must be > 0, got {sigma_scale}"
            )));
        }
        Ok(())
    }
}

/// Window start positions along each axis, as nnU-Net's `compute_steps_for_sliding_window`:
/// `n = ceil((image − tile) / (tile · step)) + 1` windows per axis, spread evenly from 0 to
/// `image − tile` (`round(i · (image − tile) / (n − 1))`), so the last window ends at the border.
/// Fails when the image is smaller than the tile along an axis (pad first) or the step is not
/// in (0, 1].
pub fn compute_steps(
    image: [usize; 3],
    tile: [usize; 3],
    tile_step_size: f64,
) -> Result<[Vec<usize>; 3], SegmentationError> {
    if !(tile_step_size > 0.0 && tile_step_size <= 1.0) {
        return Err(invalid(format!(
            "tile_step_size must be in (0, 1], got {tile_step_size}"
        )));
    }
    let mut out: [Vec<usize>; 3] = Default::default();
    for a in 0..3 {
        if tile[a] == 0 || image[a] < tile[a] {
            return Err(invalid(format!(
                "compute_steps: image {image:?} must be at least the tile {tile:?} (non-zero) on every axis"
            )));
        }
        let target = tile[a] as f64 * tile_step_size;
        let span = image[a] - tile[a];
        let n = (span as f64 / target).ceil() as usize + 1;
        out[a] = if n > 1 {
            let actual = span as f64 / (n - 1) as f64;
            // numpy's round is round-half-to-even.
            (0..n)
                .map(|i| (actual * i as f64).round_ties_even() as usize)
                .collect()
        } else {
            vec![0]
        };
    }
    Ok(out)
}

/// nnU-Net's `compute_gaussian` for `patch` with `sigma = patch · sigma_scale`, as a row-major
/// `[X, Y, Z]` buffer (see [`Importance::Gaussian`]). nnU-Net stores it in float16; this is
/// float32 (computed in float64).
pub fn gaussian_importance_map(patch: [usize; 3], sigma_scale: f64) -> Vec<f32> {
    // The map is a filtered centred delta: the product of three truncated 1-D Gaussians.
    // Dividing by the maximum (the centre) cancels scipy's kernel normalisation.
    let axis = |n: usize| -> Vec<f64> {
        let sigma = n as f64 * sigma_scale;
        let radius = (4.0 * sigma + 0.5) as i64;
        let c = (n / 2) as i64;
        (0..n as i64)
            .map(|i| {
                let d = i - c;
                if d.abs() <= radius {
                    (-0.5 * (d * d) as f64 / (sigma * sigma)).exp()
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (gx, gy, gz) = (axis(patch[0]), axis(patch[1]), axis(patch[2]));
    let mut map = Vec::with_capacity(patch.iter().product());
    for &x in &gx {
        for &y in &gy {
            for &z in &gz {
                map.push(x * y * z);
            }
        }
    }
    let max = map.iter().copied().fold(0.0, f64::max);
    let min_nz = map
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    map.iter()
        .map(|&v| if v > 0.0 { v / max } else { min_nz / max } as f32)
        .collect()
}

/// Applies a predictor to every window of `volume = [C, X, Y, Z]` and returns the aggregated
/// per-class logits `[n_classes, X, Y, Z]`, as nnU-Net's sliding-window prediction:
///
/// 1. along every axis where the volume is smaller than the patch it is padded with zeros,
///    half before and half after (the extra voxel after), and the result is cropped back;
/// 2. windows start at [`compute_steps`] positions (all combinations, X slowest);
/// 3. `predictor` receives batches of up to `batch_size` windows `[n, C, px, py, pz]` and must
///    return logits `[n, n_classes, px, py, pz]`; with mirroring, it is also called on each
///    flipped batch and the flipped-back predictions are averaged;
/// 4. the window logits are multiplied by the importance map and summed into the volume, and
///    the sum divided by the summed importance of each voxel.
///
/// What is aggregated are the **logits** (as nnU-Net does; it accumulates in float16, this in
/// float32); nnU-Net applies the softmax only afterwards — [`burn::tensor::activation::softmax`]
/// over axis 0 of the result gives the class probabilities, `argmax(0)` the segmentation.
/// `progress(done, total)` is called after every batch with the number of windows done.
///
/// Accumulation runs on the host (windows are read back per batch), so it works the same on
/// any backend; the result is put on the volume's device.
pub fn sliding_window_inference<F, P>(
    volume: Tensor<4>,
    config: &SlidingWindowConfig,
    mut predictor: F,
    mut progress: P,
) -> Result<Tensor<4>, SegmentationError>
where
    F: FnMut(Tensor<5>) -> Result<Tensor<5>, SegmentationError>,
    P: FnMut(usize, usize),
{
    config.validate()?;
    let device = volume.device();
    let [c, sx, sy, sz] = volume.dims();
    if c == 0 || sx == 0 || sy == 0 || sz == 0 {
        return Err(shape_err(
            "sliding window: volume must be a non-empty [C, X, Y, Z]",
            &volume.dims(),
        ));
    }
    let patch = config.patch_size;
    let size = [sx, sy, sz];
    let padded: [usize; 3] = std::array::from_fn(|a| size[a].max(patch[a]));
    let before: [usize; 3] = std::array::from_fn(|a| (padded[a] - size[a]) / 2);
    let volume = if padded != size {
        Tensor::zeros([c, padded[0], padded[1], padded[2]], &device).slice_assign(
            [
                0..c,
                before[0]..before[0] + sx,
                before[1]..before[1] + sy,
                before[2]..before[2] + sz,
            ],
            volume,
        )
    } else {
        volume
    };
    let steps = compute_steps(padded, patch, config.tile_step_size)?;
    let mut starts = Vec::new();
    for &x in &steps[0] {
        for &y in &steps[1] {
            for &z in &steps[2] {
                starts.push([x, y, z]);
            }
        }
    }
    let n_patch: usize = patch.iter().product();
    let importance = match config.importance {
        Importance::Gaussian { sigma_scale } => gaussian_importance_map(patch, sigma_scale),
        Importance::Constant => vec![1.0; n_patch],
    };
    let flips = mirror_combinations(&config.mirror_axes);
    let n_vox: usize = padded.iter().product();
    let mut weight = vec![0f32; n_vox];
    let mut acc: Vec<f32> = Vec::new();
    let mut n_classes = 0;
    let total = starts.len();
    let mut done = 0;
    for chunk in starts.chunks(config.batch_size) {
        let windows: Vec<Tensor<5>> = chunk
            .iter()
            .map(|s| {
                volume
                    .clone()
                    .slice([
                        0..c,
                        s[0]..s[0] + patch[0],
                        s[1]..s[1] + patch[1],
                        s[2]..s[2] + patch[2],
                    ])
                    .unsqueeze_dim(0)
            })
            .collect();
        let batch = Tensor::cat(windows, 0);
        let mut pred: Option<Tensor<5>> = None;
        for axes in &flips {
            let input = flip_all(batch.clone(), axes);
            let out = predictor(input)?;
            let [n, k, ox, oy, oz] = out.dims();
            if n != chunk.len() || [ox, oy, oz] != patch || k == 0 {
                return Err(shape_err(
                    format!(
                        "sliding window: the predictor must return [{}, n_classes, {}, {}, {}]",
                        chunk.len(),
                        patch[0],
                        patch[1],
                        patch[2]
                    ),
                    &out.dims(),
                ));
            }
            let out = flip_all(out, axes);
            pred = Some(match pred {
                Some(p) => p + out,
                None => out,
            });
        }
        let pred = pred
            .expect("at least the unflipped prediction")
            .div_scalar(flips.len() as f64);
        let k = pred.dims()[1];
        if n_classes == 0 {
            n_classes = k;
            acc = vec![0f32; k * n_vox];
        } else if k != n_classes {
            return Err(shape_err(
                format!("sliding window: the predictor returned {n_classes} classes before"),
                &pred.dims(),
            ));
        }
        let values = pred
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| invalid(format!("sliding window: reading predictions: {e:?}")))?;
        let plane = padded[1] * padded[2];
        for (w, s) in chunk.iter().enumerate() {
            for (i, g) in importance.iter().enumerate() {
                let (px, rest) = (i / (patch[1] * patch[2]), i % (patch[1] * patch[2]));
                let (py, pz) = (rest / patch[2], rest % patch[2]);
                let v = (s[0] + px) * plane + (s[1] + py) * padded[2] + s[2] + pz;
                weight[v] += g;
                for class in 0..k {
                    acc[class * n_vox + v] += values[(w * k + class) * n_patch + i] * g;
                }
            }
        }
        done += chunk.len();
        progress(done, total);
    }
    let mut out = Vec::with_capacity(n_classes * sx * sy * sz);
    for class in 0..n_classes {
        for x in 0..sx {
            for y in 0..sy {
                let row =
                    class * n_vox + (x + before[0]) * padded[1] * padded[2] + (y + before[1]) * padded[2];
                let wrow = row - class * n_vox;
                for z in 0..sz {
                    let zz = z + before[2];
                    out.push(acc[row + zz] / weight[wrow + zz]);
                }
            }
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(out, [n_classes, sx, sy, sz]),
        &device,
    ))
}

/// Every subset of `axes` (the empty one first), as tensor axes of `[n, C, X, Y, Z]`.
fn mirror_combinations(axes: &[usize]) -> Vec<Vec<usize>> {
    (0..1usize << axes.len())
        .map(|mask| {
            axes.iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, &a)| a + 2)
                .collect()
        })
        .collect()
}

fn flip_all(mut t: Tensor<5>, axes: &[usize]) -> Tensor<5> {
    for &a in axes {
        t = t.flip([a]);
    }
    t
}
