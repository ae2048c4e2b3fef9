//! The U-Net training loop, nnU-Net's recipe: every step a batch of patches (a third centred on
//! foreground) made and augmented on worker threads ([`neurodl_volume::PatchQueue`]), the
//! deep-supervision Dice + cross-entropy loss, SGD with Nesterov momentum 0.99, polynomial
//! learning-rate decay and gradient-norm clipping; after every epoch a pseudo-Dice on fixed,
//! un-augmented validation patches and a crash-safe checkpoint ([`crate::checkpoint`]).
//!
//! Determinism: patch `i` of epoch `e` is a function of `(seed, e, i)` whatever the number of
//! workers, and the U-Net has no dropout, so a run resumed from the checkpoint of epoch `e`
//! repeats the uninterrupted run exactly (same CPU and thread count).

use std::sync::Arc;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use neurodl_models::burn;
use neurodl_models::segmentation::{
    DeepSupervisionLoss, DiceCeLoss, DiceCeLossConfig, PlainConvUNet, PlainConvUNetConfig, SegmentationError,
    downsample_labels,
};
use neurodl_volume::patch::make_patch;
use neurodl_volume::{Patch, PatchQueue, PatchSampler, Pipeline, QueueConfig, Subject};
use serde::{Deserialize, Serialize};

use super::experiment::SegTraining;
use super::plan::Plan;
use crate::checkpoint::{self, CheckpointPlan, newest_checkpoint, param_ids, set_param_ids};
use crate::error::{Result, TrainError};
use crate::rng::derive_seed;

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegEpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Mean training loss over its steps.
    pub train_loss: f64,
    /// Loss on the validation patches (full-resolution output only).
    pub valid_loss: Option<f64>,
    /// Pseudo-Dice per foreground class on the validation patches, pooled over the patches
    /// (nnU-Net's `pseudo dice`). NaN for a class the patches neither hold nor predict (JSON
    /// writes it as `null`, read back as NaN).
    #[serde(deserialize_with = "nan_from_null")]
    pub valid_dice: Vec<f64>,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// JSON has no NaN: `serde_json` writes it as `null`; this reads `null` back as NaN, so a run
/// whose validation patches missed a class still resumes.
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Everything a U-Net training needs besides the model.
pub struct SegFitInput<'a> {
    /// The plan (patch, batch, labels).
    pub plan: &'a Plan,
    /// Preprocessed training cases.
    pub train: Arc<Vec<Subject>>,
    /// Preprocessed validation cases (pseudo-Dice); may be empty.
    pub valid: Arc<Vec<Subject>>,
    /// Schedule and optimiser.
    pub training: &'a SegTraining,
    /// Augmentation of training patches.
    pub augmentation: &'a Pipeline,
    /// Seed of this training.
    pub seed: u64,
    /// Where to checkpoint; `None` keeps everything in memory.
    pub checkpoint: Option<CheckpointPlan>,
    /// Called after every optimiser step with `(step within epoch, steps per epoch)`.
    pub on_step: &'a (dyn Fn(usize, usize) + Sync),
    /// Called after every epoch.
    pub on_epoch: &'a (dyn Fn(&SegEpochRecord) + Sync),
    /// Stop (as if killed) after this many epochs of this call; for tests of resumption.
    pub interrupt_after: Option<usize>,
}

/// A finished (or interrupted) training.
pub struct FittedUNet {
    /// The model after the last epoch, in eval mode, deep supervision off.
    pub model: PlainConvUNet,
    /// One record per epoch, resumed epochs included.
    pub history: Vec<SegEpochRecord>,
    /// Whether `interrupt_after` stopped it.
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    epochs_done: usize,
    history: Vec<SegEpochRecord>,
    param_ids: Vec<u64>,
}

/// The U-Net configuration a plan describes.
///
/// A 2-D plan slicing along Z becomes a 2-D network (its weights are saved as nnU-Net's 2-D
/// `[out, in, kx, ky]` kernels, and it takes the `[batch, C, X, Y, 1]` patches as they come); a
/// 2-D plan slicing along X or Y stays a 3-D network whose kernels and strides are 1 along the
/// slice axis, which on one-slice patches is the same computation.
pub fn unet_config(plan: &Plan) -> PlainConvUNetConfig {
    let n = &plan.network;
    let per_axis = |v: &[usize; 3]| match plan.slice_axis {
        Some(2) => v[..2].to_vec(),
        _ => v.to_vec(),
    };
    let mut config = PlainConvUNetConfig::nnunet(
        plan.in_channels,
        plan.labels.len(),
        n.kernel_sizes.iter().map(per_axis).collect(),
        n.strides.iter().map(per_axis).collect(),
    );
    config.features_per_stage = n.features_per_stage.clone();
    config.n_conv_per_stage = vec![n.n_conv_per_stage; n.n_stages];
    config.n_conv_per_stage_decoder = vec![n.n_conv_per_stage; n.n_stages.saturating_sub(1)];
    config.deep_supervision = n.deep_supervision;
    config
}

/// nnU-Net's `PolyLRScheduler`: `lr · (1 − epoch / epochs)^0.9`.
pub fn poly_lr(lr: f64, epoch: usize, epochs: usize) -> f64 {
    lr * (1.0 - epoch as f64 / epochs as f64).powf(0.9)
}

fn seg_err(e: SegmentationError) -> TrainError {
    TrainError::Training(e.to_string())
}

/// Class indices of a plan's label values (`labels[k]` is class `k`).
fn class_index(plan: &Plan) -> impl Fn(u16) -> i64 + '_ {
    let values: Vec<u16> = plan.labels.keys().copied().collect();
    move |v| values.iter().position(|x| *x == v).map_or(0, |p| p as i64)
}

/// Stacks patches into `[B, C, X, Y, Z]` images and `[B, X, Y, Z]` class indices.
pub fn batch_tensors(patches: &[Subject], plan: &Plan, device: &Device) -> (Tensor<5>, Tensor<4, Int>) {
    let [x, y, z] = plan.patch_size;
    let c = plan.in_channels;
    let mut images = Vec::with_capacity(patches.len() * c * x * y * z);
    let mut labels = Vec::with_capacity(patches.len() * x * y * z);
    let to_class = class_index(plan);
    for p in patches {
        images.extend(p.image().iter().copied());
        match p.label() {
            Some(l) => labels.extend(l.iter().map(|v| to_class(*v))),
            None => labels.extend(std::iter::repeat_n(0i64, x * y * z)),
        }
    }
    let b = patches.len();
    (
        Tensor::<5>::from_data(TensorData::new(images, [b, c, x, y, z]), device),
        Tensor::<4, Int>::from_data(TensorData::new(labels, [b, x, y, z]), device),
    )
}

fn optimizer(t: &SegTraining) -> burn::optim::ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: t.momentum,
            dampening: 0.0,
            nesterov: true,
        }))
        .with_weight_decay(Some(WeightDecayConfig {
            penalty: t.weight_decay as f32,
        }))
        .with_gradient_clipping(Some(burn::optim::grad_clipping::GradientClippingConfig::Norm(
            t.gradient_clip_norm as f32,
        )))
        .init()
}

/// Trains `model` (built on an autodiff device).
pub fn fit_unet(mut model: PlainConvUNet, device: &Device, input: SegFitInput<'_>) -> Result<FittedUNet> {
    let plan = input.plan;
    let t = input.training;
    if input.train.is_empty() {
        return Err(TrainError::Training("no training cases".into()));
    }
    let n_outputs = model.output_sizes(plan.patch_size).len();
    let base_loss = DiceCeLoss::new(DiceCeLossConfig::default()).map_err(seg_err)?;
    let ds_loss = DeepSupervisionLoss::new(base_loss, n_outputs).map_err(seg_err)?;
    let mut optim = optimizer(t);
    let mut state = State {
        epochs_done: 0,
        history: Vec::new(),
        param_ids: param_ids(&model),
    };
    if let Some(cp) = &input.checkpoint
        && cp.resume
        && let Some(dir) = newest_checkpoint(&cp.dir)?
    {
        let saved: State = checkpoint::read_state(&dir)?;
        checkpoint::check_param_count(&dir, saved.param_ids.len(), state.param_ids.len())?;
        model = model
            .load_pytorch(dir.join("model.safetensors"))
            .map_err(seg_err)?;
        model = set_param_ids(model, &saved.param_ids);
        optim = checkpoint::read_optimizer(&dir, optim)?;
        state = saved;
    }

    let train = Arc::clone(&input.train);
    let loader: neurodl_volume::patch::CaseLoader = Arc::new(move |i| Ok(train[i].clone()));
    let valid_patches = validation_patches(plan, &input.valid, t.validation_patches, input.seed)?;
    let sampler = PatchSampler {
        patch_size: plan.patch_size,
        foreground_probability: plan.foreground_oversample,
    };
    let mut interrupted = false;
    let mut epochs_this_call = 0;
    while state.epochs_done < t.epochs {
        if input.interrupt_after.is_some_and(|n| epochs_this_call >= n) {
            interrupted = true;
            break;
        }
        let started = std::time::Instant::now();
        let epoch = state.epochs_done;
        device.seed(derive_seed(input.seed, &[epoch as u64]));
        let lr = poly_lr(t.lr, epoch, t.epochs);
        let config = QueueConfig {
            sampler,
            samples_per_epoch: t.iterations_per_epoch * plan.batch_size,
            workers: t.workers,
            capacity: 2 * plan.batch_size.max(t.workers),
            seed: input.seed,
            augmentation: input.augmentation.clone(),
        };
        let mut queue = PatchQueue::new(config, input.train.len(), Arc::clone(&loader), epoch as u64)
            .map_err(|e| TrainError::Training(format!("patch queue: {e}")))?;
        let mut loss_sum = 0.0;
        for step in 0..t.iterations_per_epoch {
            let mut batch = Vec::with_capacity(plan.batch_size);
            for _ in 0..plan.batch_size {
                let patch: Patch = queue
                    .next()
                    .ok_or_else(|| TrainError::Training("the patch queue ended early".into()))?
                    .map_err(|e| TrainError::Training(format!("making a training patch: {e}")))?;
                batch.push(patch.subject);
            }
            let (x, y) = batch_tensors(&batch, plan, device);
            let outputs = model.forward(x).map_err(seg_err)?;
            let sizes = model.output_sizes(plan.patch_size);
            let targets = sizes
                .iter()
                .map(|s| downsample_labels(y.clone(), *s))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(seg_err)?;
            let loss = ds_loss.forward(outputs, targets).map_err(seg_err)?;
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(TrainError::Training(format!(
                    "the training loss became {value} in epoch {}, step {} (learning rate {lr}): lower [training] lr",
                    epoch + 1,
                    step + 1
                )));
            }
            loss_sum += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            (input.on_step)(step + 1, t.iterations_per_epoch);
        }
        drop(queue);
        let (valid_loss, valid_dice) = if valid_patches.is_empty() {
            (None, Vec::new())
        } else {
            let (l, d) = validate(&model.valid(), &base_loss, &valid_patches, plan)?;
            (Some(l), d)
        };
        state.epochs_done += 1;
        epochs_this_call += 1;
        let record = SegEpochRecord {
            epoch: state.epochs_done,
            lr,
            train_loss: loss_sum / t.iterations_per_epoch as f64,
            valid_loss,
            valid_dice,
            seconds: started.elapsed().as_secs_f64(),
        };
        (input.on_epoch)(&record);
        state.history.push(record);
        if let Some(cp) = &input.checkpoint {
            checkpoint::write_checkpoint(cp, state.epochs_done, |dir, _| {
                model
                    .save_pytorch(dir.join("model.safetensors"))
                    .map_err(seg_err)?;
                checkpoint::write_optimizer_and_state(dir, &optim, &state)
            })?;
        }
    }
    let mut model = model.valid();
    model.set_deep_supervision(false);
    Ok(FittedUNet {
        model,
        history: state.history,
        interrupted,
    })
}

/// Fixed validation patches: foreground-oversampled like training, never augmented, the same
/// every epoch.
fn validation_patches(plan: &Plan, valid: &Arc<Vec<Subject>>, n: usize, seed: u64) -> Result<Vec<Subject>> {
    if valid.is_empty() || n == 0 {
        return Ok(Vec::new());
    }
    let config = QueueConfig {
        sampler: PatchSampler {
            patch_size: plan.patch_size,
            foreground_probability: plan.foreground_oversample,
        },
        samples_per_epoch: n,
        workers: 1,
        capacity: 1,
        seed: derive_seed(seed, &[u64::MAX]),
        augmentation: Pipeline::default(),
    };
    let cases = Arc::clone(valid);
    let loader = move |i: usize| Ok(cases[i].clone());
    (0..n)
        .map(|i| {
            make_patch(&config, valid.len(), &loader, 0, i)
                .map(|p| p.subject)
                .map_err(|e| TrainError::Training(format!("making a validation patch: {e}")))
        })
        .collect()
}

/// Loss and pooled per-class Dice of an eval-mode model on patches.
fn validate(
    model: &PlainConvUNet,
    loss: &DiceCeLoss,
    patches: &[Subject],
    plan: &Plan,
) -> Result<(f64, Vec<f64>)> {
    let device = Device::default();
    let k = plan.labels.len();
    let (mut tp, mut fp, mut fneg) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    let mut loss_sum = 0.0;
    let mut batches = 0usize;
    for chunk in patches.chunks(plan.batch_size.max(1)) {
        let (x, y) = batch_tensors(chunk, plan, &device);
        let out = model
            .forward(x)
            .map_err(seg_err)?
            .into_iter()
            .next()
            .expect("one output at least");
        loss_sum += f64::from(
            loss.forward(out.clone(), y.clone())
                .map_err(seg_err)?
                .into_scalar::<f32>(),
        );
        batches += 1;
        let predicted: Vec<i64> = out
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        let truth: Vec<i64> = y
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        for (p, t) in predicted.iter().zip(&truth) {
            let (p, t) = (*p as usize, *t as usize);
            if p == t {
                tp[p] += 1;
            } else {
                fp[p] += 1;
                fneg[t] += 1;
            }
        }
    }
    let dice = (1..k)
        .map(|c| {
            let denom = 2 * tp[c] + fp[c] + fneg[c];
            if denom == 0 {
                f64::NAN
            } else {
                2.0 * tp[c] as f64 / denom as f64
            }
        })
        .collect();
    Ok((loss_sum / batches.max(1) as f64, dice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_with_an_undefined_pseudo_dice_round_trips_through_json() {
        let record = SegEpochRecord {
            epoch: 1,
            lr: 0.01,
            train_loss: 1.5,
            valid_loss: None,
            valid_dice: vec![0.5, f64::NAN],
            seconds: 1.0,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains("[0.5,null]"), "{json}");
        let back: SegEpochRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.valid_dice[0], 0.5);
        assert!(back.valid_dice[1].is_nan());
    }

    #[test]
    fn poly_schedule_matches_nnunet() {
        // nnU-Net's PolyLRScheduler(initial_lr=0.01, max_steps=1000), exponent 0.9.
        assert_eq!(poly_lr(0.01, 0, 1000), 0.01);
        assert!((poly_lr(0.01, 500, 1000) - 0.01 * 0.5f64.powf(0.9)).abs() < 1e-18);
        assert_eq!(poly_lr(0.01, 1000, 1000), 0.0);
    }
}
