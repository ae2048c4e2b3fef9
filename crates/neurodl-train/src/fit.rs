//! The training loop for the deep models: seeded shuffled batches from the window store,
//! cross-entropy (optionally class-weighted), AdamW, a per-epoch learning-rate schedule,
//! early stopping on a validation split, and a checkpoint after every epoch from which a killed
//! run resumes to the same result.
//!
//! # Determinism
//! Every random choice of epoch `e` derives from `(seed, e)` alone: the shuffling order and the
//! backend's random stream (dropout masks) are re-seeded at the start of each epoch. A run that
//! resumes at epoch `e` from a checkpoint (weights, BatchNorm statistics, AdamW moments and step
//! counts, history) therefore repeats exactly what the uninterrupted run did, on the same CPU and
//! thread count.
//!
//! Burn's random stream is process-wide, so two trainings running at once in one process would
//! draw from each other's stream. [`lock_backend_rng`] serialises them: the runner and
//! [`crate::deploy`] hold it from seeding and building the model to the end of training, and
//! code calling [`fit`] directly should too.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use neurodl_models::{EegModel, burn};
use serde::{Deserialize, Serialize};

pub use crate::checkpoint::CheckpointPlan;
use crate::checkpoint::{self, newest_checkpoint, param_ids, set_param_ids};
use crate::data::WindowStore;
use crate::error::{Result, TrainError};
use crate::experiment::{Schedule, TrainingSpec};
use crate::rng::{SplitMix64, derive_seed};

static BACKEND_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Exclusive use of Burn's process-wide random stream (weight initialisation, dropout) until the
/// guard is dropped: hold it from seeding the device to the end of [`fit`].
pub fn lock_backend_rng() -> std::sync::MutexGuard<'static, ()> {
    // A panic in another training leaves no state behind that matters here.
    BACKEND_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Learning rate used in this epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's windows.
    pub train_loss: f64,
    /// Training accuracy (windows, with dropout active, as skorch reports it).
    pub train_accuracy: f64,
    /// Validation loss (eval mode), when there is a validation split.
    pub valid_loss: Option<f64>,
    /// Validation accuracy (windows), when there is a validation split.
    pub valid_accuracy: Option<f64>,
}

/// Everything a training needs besides the model.
pub struct FitInput<'a> {
    /// The windows.
    pub store: &'a WindowStore,
    /// Training windows.
    pub train: &'a [usize],
    /// Validation windows (early stopping, curves); may be empty.
    pub valid: &'a [usize],
    /// Optimisation settings.
    pub spec: &'a TrainingSpec,
    /// Seed of this training (derived from the experiment seed, the decoder and the fold).
    pub seed: u64,
    /// Where to checkpoint; `None` keeps everything in memory.
    pub checkpoint: Option<CheckpointPlan>,
    /// Called after every epoch.
    pub on_epoch: &'a (dyn Fn(&EpochRecord) + Sync),
    /// Stop (as if killed) after this many epochs of this call; for tests of resumption.
    pub interrupt_after: Option<usize>,
}

/// A finished (or interrupted) training.
pub struct Fitted<M> {
    /// The model in eval mode (the best validation epoch's weights under early stopping).
    pub model: M,
    /// One record per epoch run, resumed epochs included.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights `model` holds.
    pub best_epoch: usize,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// Whether `interrupt_after` stopped it (the result is then incomplete).
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    epochs_done: usize,
    history: Vec<EpochRecord>,
    best_epoch: usize,
    best_valid_loss: Option<f64>,
    epochs_without_improvement: usize,
    /// Burn parameter ids in module order, so the optimiser state (keyed by id) reattaches to
    /// the rebuilt model.
    param_ids: Vec<u64>,
}

/// The learning rate of epoch `epoch` (from 0) of `epochs`.
pub fn learning_rate(spec: &TrainingSpec, epoch: usize) -> f64 {
    match spec.schedule {
        Schedule::Constant => spec.lr,
        Schedule::Cosine => {
            // PyTorch's CosineAnnealingLR(T_max = epochs - 1, eta_min = 0), stepped per epoch.
            let t_max = spec.epochs.saturating_sub(1).max(1) as f64;
            spec.lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / t_max).cos())
        }
    }
}

/// Trains `model` (built on an autodiff device) on the input's windows.
pub fn fit<M: EegModel>(mut model: M, device: &Device, input: FitInput<'_>) -> Result<Fitted<M>> {
    let spec = input.spec;
    let store = input.store;
    if input.train.is_empty() {
        return Err(TrainError::Training("no training windows".into()));
    }
    let class_weights = if spec.class_weighting {
        Some(inverse_frequency_weights(
            &store.classes(input.train),
            store.labels.len(),
        ))
    } else {
        None
    };
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(spec.weight_decay as f32)
        .init();
    let mut state = CheckpointState {
        epochs_done: 0,
        history: Vec::new(),
        best_epoch: 0,
        best_valid_loss: None,
        epochs_without_improvement: 0,
        param_ids: param_ids(&model),
    };
    let mut best_model: Option<M> = None;
    let early = spec.early_stopping.as_ref().filter(|_| !input.valid.is_empty());

    if let Some(plan) = &input.checkpoint
        && plan.resume
        && let Some(dir) = newest_checkpoint(&plan.dir)?
    {
        let saved: CheckpointState = checkpoint::read_state(&dir)?;
        checkpoint::check_param_count(&dir, saved.param_ids.len(), state.param_ids.len())?;
        model = model.load_safetensors(dir.join("model.safetensors"))?;
        model = set_param_ids(model, &saved.param_ids);
        optim = checkpoint::read_optimizer(&dir, optim)?;
        if early.is_some() && saved.best_epoch > 0 {
            let best = dir.join("best.safetensors");
            if best.exists() {
                best_model = Some(model.clone().load_safetensors(best)?.valid());
            }
        }
        state = saved;
    }

    let mut stopped_early = early.is_some_and(|es| state.epochs_without_improvement >= es.patience);
    let mut interrupted = false;
    let mut epochs_this_call = 0;
    while state.epochs_done < spec.epochs && !stopped_early {
        if input.interrupt_after.is_some_and(|n| epochs_this_call >= n) {
            interrupted = true;
            break;
        }
        let epoch = state.epochs_done;
        let epoch_seed = derive_seed(input.seed, &[epoch as u64]);
        device.seed(epoch_seed);
        let mut order = input.train.to_vec();
        SplitMix64::new(epoch_seed).shuffle(&mut order);
        let lr = learning_rate(spec, epoch);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (bi, batch) in order.chunks(spec.batch_size).enumerate() {
            // BatchNorm cannot normalise a batch of one (PyTorch refuses it); a lone trailing
            // window waits for the next epoch's shuffle.
            if batch.len() < 2 && bi > 0 {
                continue;
            }
            let (x, y, classes) = to_tensors(store, batch, device);
            let logits = model.forward(x)?;
            correct += count_correct(&logits, &classes);
            let loss = cross_entropy(logits, y, class_weights.as_deref(), &classes, device);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(TrainError::Training(format!(
                    "the training loss became {value} in epoch {}, batch {} (learning rate {lr}): lower [training] lr",
                    epoch + 1,
                    bi + 1
                )));
            }
            loss_sum += value * batch.len() as f64;
            seen += batch.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        let (valid_loss, valid_accuracy) = if input.valid.is_empty() {
            (None, None)
        } else {
            let eval = model.valid();
            let (loss, acc) = evaluate_loss(&eval, store, input.valid, spec.batch_size)?;
            (Some(loss), Some(acc))
        };
        state.epochs_done += 1;
        epochs_this_call += 1;
        let record = EpochRecord {
            epoch: state.epochs_done,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            valid_loss,
            valid_accuracy,
        };
        (input.on_epoch)(&record);
        state.history.push(record);
        let mut improved = false;
        if let (Some(es), Some(vl)) = (early, valid_loss) {
            if state.best_valid_loss.is_none_or(|b| vl < b) {
                state.best_valid_loss = Some(vl);
                state.best_epoch = state.epochs_done;
                state.epochs_without_improvement = 0;
                best_model = Some(model.valid());
                improved = true;
            } else {
                state.epochs_without_improvement += 1;
                stopped_early = state.epochs_without_improvement >= es.patience;
            }
        } else {
            state.best_epoch = state.epochs_done;
        }
        if let Some(plan) = &input.checkpoint {
            write_fit_checkpoint(
                plan,
                &state,
                &model,
                &optim,
                improved.then_some(best_model.as_ref()).flatten(),
            )?;
        }
    }
    let final_model = match best_model {
        Some(best) if early.is_some() => best,
        _ => model.valid(),
    };
    if early.is_none() {
        state.best_epoch = state.epochs_done;
    }
    Ok(Fitted {
        model: final_model,
        history: state.history,
        best_epoch: state.best_epoch,
        stopped_early,
        interrupted,
    })
}

/// Class probabilities `[windows.len()][n_classes]` of an eval-mode model.
pub fn predict_proba<M: EegModel>(
    model: &M,
    store: &WindowStore,
    windows: &[usize],
    batch_size: usize,
) -> Result<Vec<Vec<f64>>> {
    let device = Device::default();
    let mut out = Vec::with_capacity(windows.len());
    for batch in windows.chunks(batch_size.max(1)) {
        let (x, _, _) = to_tensors(store, batch, &device);
        let p = softmax(model.forward(x)?, 1);
        let [b, k] = p.dims();
        let values = p
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| TrainError::Training(format!("reading predictions: {e:?}")))?;
        for i in 0..b {
            out.push(values[i * k..(i + 1) * k].iter().map(|&v| f64::from(v)).collect());
        }
    }
    Ok(out)
}

fn evaluate_loss<M: EegModel>(
    model: &M,
    store: &WindowStore,
    windows: &[usize],
    batch_size: usize,
) -> Result<(f64, f64)> {
    let proba = predict_proba(model, store, windows, batch_size)?;
    let classes = store.classes(windows);
    let mut loss = 0.0;
    let mut correct = 0;
    for (p, &c) in proba.iter().zip(&classes) {
        loss -= p[c].max(1e-30).ln();
        let argmax = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
        correct += usize::from(argmax == c);
    }
    Ok((loss / windows.len() as f64, correct as f64 / windows.len() as f64))
}

fn to_tensors(
    store: &WindowStore,
    batch: &[usize],
    device: &Device,
) -> (Tensor<3>, Tensor<2, Int>, Vec<usize>) {
    let (c, t) = (store.n_chans(), store.n_times);
    let x = Tensor::<3>::from_data(
        TensorData::new(store.batch_f32(batch), [batch.len(), c, t]),
        device,
    );
    let classes = store.classes(batch);
    let y_values: Vec<i64> = classes.iter().map(|&k| k as i64).collect();
    let y = Tensor::<2, Int>::from_data(TensorData::new(y_values, [batch.len(), 1]), device);
    (x, y, classes)
}

fn count_correct(logits: &Tensor<2>, classes: &[usize]) -> usize {
    let [b, k] = logits.dims();
    let Ok(values) = logits.clone().into_data().convert::<f32>().try_to_vec::<f32>() else {
        return 0;
    };
    (0..b)
        .filter(|&i| {
            let row = &values[i * k..(i + 1) * k];
            (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])) == Some(classes[i])
        })
        .count()
}

/// PyTorch's `CrossEntropyLoss` (mean reduction; with `weight`, the weighted mean
/// `Σ w_y·nll / Σ w_y`).
fn cross_entropy(
    logits: Tensor<2>,
    target: Tensor<2, Int>,
    weights: Option<&[f64]>,
    classes: &[usize],
    device: &Device,
) -> Tensor<1> {
    let nll = log_softmax(logits, 1).gather(1, target).neg();
    match weights {
        None => nll.mean(),
        Some(w) => {
            let per_sample: Vec<f32> = classes.iter().map(|&c| w[c] as f32).collect();
            let total: f32 = per_sample.iter().sum();
            let wt = Tensor::<2>::from_data(TensorData::new(per_sample, [classes.len(), 1]), device);
            (nll * wt).sum().div_scalar(total)
        }
    }
}

/// `n / (k · n_c)` per class (scikit-learn's `compute_class_weight("balanced")`); a class absent
/// from training gets weight 0.
pub fn inverse_frequency_weights(classes: &[usize], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_classes];
    for &c in classes {
        counts[c] += 1;
    }
    let present = counts.iter().filter(|&&n| n > 0).count().max(1);
    counts
        .iter()
        .map(|&n| {
            if n == 0 {
                0.0
            } else {
                classes.len() as f64 / (present as f64 * n as f64)
            }
        })
        .collect()
}

/// Writes `epoch-NNNN/` (see [`crate::checkpoint`]): weights, the best weights so far under
/// early stopping (copied from the previous checkpoint when this epoch did not improve), the
/// optimiser state and the loop state.
fn write_fit_checkpoint<M: EegModel>(
    plan: &CheckpointPlan,
    state: &CheckpointState,
    model: &M,
    optim: &burn::optim::ModuleOptimizer,
    new_best: Option<&M>,
) -> Result<()> {
    checkpoint::write_checkpoint(plan, state.epochs_done, |partial, previous| {
        model.save_safetensors(partial.join("model.safetensors"))?;
        match new_best {
            Some(best) => best.save_safetensors(partial.join("best.safetensors"))?,
            None => {
                if let Some(prev) = previous {
                    let src = prev.join("best.safetensors");
                    if src.exists() {
                        std::fs::copy(&src, partial.join("best.safetensors"))
                            .map_err(|e| TrainError::io(&src, e))?;
                    }
                }
            }
        }
        checkpoint::write_optimizer_and_state(partial, optim, state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_matches_pytorch() {
        let spec = TrainingSpec {
            epochs: 5,
            lr: 1.0,
            ..TrainingSpec::default()
        };
        // torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4) learning rates per epoch.
        let want = [1.0, 0.853_553_390_593_273_8, 0.5, 0.146_446_609_406_726_3, 0.0];
        for (e, w) in want.iter().enumerate() {
            assert!((learning_rate(&spec, e) - w).abs() < 1e-15, "epoch {e}");
        }
    }

    #[test]
    fn balanced_weights_match_scikit_learn() {
        // compute_class_weight("balanced", classes=[0, 1, 2], y=[0, 0, 0, 1, 2, 2])
        let w = inverse_frequency_weights(&[0, 0, 0, 1, 2, 2], 3);
        let want = [6.0 / 9.0, 2.0, 1.0];
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
    }
}
