//! nnU-Net's training loss: soft Dice + cross-entropy (`DC_and_CE_loss` with
//! `MemoryEfficientSoftDiceLoss`) and the deep-supervision wrapper.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};

use super::{SegmentationError, invalid, shape_err};

/// Settings of [`DiceCeLoss`]; `Default` is nnU-Net's (`batch_dice` false, as in its 2-D and
/// most 3-D plans; the plan's `batch_dice` overrides it).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiceCeLossConfig {
    /// Pool the Dice statistics over the whole batch (one Dice per class) instead of per sample.
    pub batch_dice: bool,
    /// Added to numerator and denominator of every Dice (1e-5).
    pub smooth: f64,
    /// Include the background class (index 0) in the Dice (false).
    pub do_bg: bool,
    /// Weight of the cross-entropy term (1).
    pub weight_ce: f64,
    /// Weight of the Dice term (1).
    pub weight_dice: f64,
}

impl Default for DiceCeLossConfig {
    fn default() -> Self {
        Self {
            batch_dice: false,
            smooth: 1e-5,
            do_bg: false,
            weight_ce: 1.0,
            weight_dice: 1.0,
        }
    }
}

/// nnU-Net's `DC_and_CE_loss` (Isensee et al. 2021): `weight_ce · CE + weight_dice · (−Dice)`,
/// where CE is the mean voxel-wise cross-entropy of the logits and Dice the mean over classes
/// (and samples, unless `batch_dice`) of the soft Dice of the softmax probabilities,
/// `(2·Σ p·y + smooth) / max(Σ p + Σ y + smooth, 1e-8)`. The loss is therefore negative for good
/// predictions (its minimum is `−1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiceCeLoss {
    config: DiceCeLossConfig,
}

impl DiceCeLoss {
    /// A loss with `config`; fails on a negative smooth or weight.
    pub fn new(config: DiceCeLossConfig) -> Result<Self, SegmentationError> {
        let c = &config;
        if !(c.smooth >= 0.0 && c.weight_ce >= 0.0 && c.weight_dice >= 0.0) {
            return Err(invalid(format!(
                "DiceCeLoss: smooth and weights must be >= 0, got {c:?}"
            )));
        }
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &DiceCeLossConfig {
        &self.config
    }

    /// The loss (a one-element tensor) of `logits = [batch, n_classes, X, Y, Z]` against class
    /// indices `target = [batch, X, Y, Z]` (2-D: `Z = 1`).
    ///
    /// Fails when the shapes disagree, when a label is outside `0..n_classes`, or when the Dice
    /// would have no class (one class without `do_bg`).
    pub fn forward(&self, logits: Tensor<5>, target: Tensor<4, Int>) -> Result<Tensor<1>, SegmentationError> {
        let [b, k, x, y, z] = logits.dims();
        if target.dims() != [b, x, y, z] {
            return Err(shape_err(
                format!("DiceCeLoss: target must be [batch, X, Y, Z] = {:?}", [b, x, y, z]),
                &target.dims(),
            ));
        }
        if k < 2 && !self.config.do_bg {
            return Err(invalid(
                "DiceCeLoss: without background the Dice needs >= 2 classes",
            ));
        }
        check_labels(&target, k)?;
        let onehot: Tensor<5> = target.float().one_hot_fill(k, 1.0, 0.0, 1);
        let c = &self.config;
        let ce = (log_softmax(logits.clone(), 1) * onehot.clone())
            .sum_dim(1)
            .mean()
            .neg();
        let probs = softmax(logits, 1);
        let (probs, onehot) = if c.do_bg {
            (probs, onehot)
        } else {
            (probs.narrow(1, 1, k - 1), onehot.narrow(1, 1, k - 1))
        };
        let kd = if c.do_bg { k } else { k - 1 };
        let flat = |t: Tensor<5>| -> Tensor<3> { t.reshape([b as i64, kd as i64, -1]) };
        let (p, g) = (flat(probs), flat(onehot));
        let mut intersect: Tensor<2> = (p.clone() * g.clone()).sum_dim(2).squeeze_dim(2);
        let mut sum_pred: Tensor<2> = p.sum_dim(2).squeeze_dim(2);
        let mut sum_gt: Tensor<2> = g.sum_dim(2).squeeze_dim(2);
        if c.batch_dice {
            intersect = intersect.sum_dim(0);
            sum_pred = sum_pred.sum_dim(0);
            sum_gt = sum_gt.sum_dim(0);
        }
        let dc = (intersect.mul_scalar(2.0).add_scalar(c.smooth))
            / (sum_gt + sum_pred).add_scalar(c.smooth).clamp_min(1e-8);
        let dice_loss = dc.mean().neg();
        Ok(ce.mul_scalar(c.weight_ce) + dice_loss.mul_scalar(c.weight_dice))
    }
}

fn check_labels(target: &Tensor<4, Int>, k: usize) -> Result<(), SegmentationError> {
    let lo: i64 = target.clone().min().into_scalar::<i64>();
    let hi: i64 = target.clone().max().into_scalar::<i64>();
    if lo < 0 || hi >= k as i64 {
        return Err(invalid(format!(
            "labels must lie in 0..{k} (the network's classes), found values in {lo}..={hi}"
        )));
    }
    Ok(())
}

/// nnU-Net's deep-supervision weights for `n` outputs (highest resolution first): `1/2^i`,
/// the lowest resolution set to 0, normalised to sum 1. One output gets weight 1.
pub fn deep_supervision_weights(n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![1.0; n];
    }
    let mut w: Vec<f64> = (0..n).map(|i| 0.5f64.powi(i as i32)).collect();
    w[n - 1] = 0.0;
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// nnU-Net's `DeepSupervisionWrapper`: the weighted sum of a [`DiceCeLoss`] over the network's
/// outputs (highest resolution first), each against its own target, with
/// [`deep_supervision_weights`]. Outputs of weight 0 are not evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct DeepSupervisionLoss {
    loss: DiceCeLoss,
    weights: Vec<f64>,
}

impl DeepSupervisionLoss {
    /// Wraps `loss` for a network with `n_outputs` deep-supervision outputs.
    pub fn new(loss: DiceCeLoss, n_outputs: usize) -> Result<Self, SegmentationError> {
        if n_outputs == 0 {
            return Err(invalid("DeepSupervisionLoss: needs at least one output"));
        }
        Ok(Self {
            loss,
            weights: deep_supervision_weights(n_outputs),
        })
    }

    /// The weight of each output, highest resolution first.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The weighted loss of `outputs` (as [`PlainConvUNet::forward`](super::PlainConvUNet::forward)
    /// returns them) against `targets` of the same resolutions (see [`downsample_labels`]).
    pub fn forward(
        &self,
        outputs: Vec<Tensor<5>>,
        targets: Vec<Tensor<4, Int>>,
    ) -> Result<Tensor<1>, SegmentationError> {
        if outputs.len() != self.weights.len() || targets.len() != self.weights.len() {
            return Err(invalid(format!(
                "DeepSupervisionLoss: built for {} outputs, got {} outputs and {} targets",
                self.weights.len(),
                outputs.len(),
                targets.len()
            )));
        }
        let mut total: Option<Tensor<1>> = None;
        for ((out, tgt), &w) in outputs.into_iter().zip(targets).zip(&self.weights) {
            if w == 0.0 {
                continue;
            }
            let l = self.loss.forward(out, tgt)?.mul_scalar(w);
            total = Some(match total {
                Some(t) => t + l,
                None => l,
            });
        }
        Ok(total.expect("the highest-resolution weight is never 0"))
    }
}

/// Nearest-neighbour downsampling of a label batch `[batch, X, Y, Z]` to `size`, as nnU-Net's
/// `DownsampleSegForDSTransform` (`torch.nn.functional.interpolate(mode="nearest-exact")`):
/// output voxel `i` takes input voxel `floor((i + 0.5) · in / out)`. For a factor 2 this is the
/// second voxel of each pair, not the first.
pub fn downsample_labels(
    labels: Tensor<4, Int>,
    size: [usize; 3],
) -> Result<Tensor<4, Int>, SegmentationError> {
    let dims = labels.dims();
    if size.contains(&0) {
        return Err(invalid(format!(
            "downsample_labels: target size {size:?} has a zero axis"
        )));
    }
    let device = labels.device();
    let mut out = labels;
    for (axis, &n_out) in size.iter().enumerate() {
        let n_in = dims[axis + 1];
        if n_in == n_out {
            continue;
        }
        let scale = n_in as f64 / n_out as f64;
        let idx: Vec<i64> = (0..n_out)
            .map(|i| (((i as f64 + 0.5) * scale).floor() as i64).min(n_in as i64 - 1))
            .collect();
        let idx = Tensor::<1, Int>::from_data(burn::tensor::TensorData::new(idx, [n_out]), &device);
        out = out.select(axis + 1, idx);
    }
    Ok(out)
}
