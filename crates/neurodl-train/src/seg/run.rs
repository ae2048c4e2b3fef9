//! A whole segmentation study: fingerprint and plan (or reuse an edited `plan.json`),
//! preprocess every case once, split into folds by case (checked by `neurodl-eval`'s leakage
//! guard), train one U-Net per fold with checkpoints, predict each fold's held-out cases on
//! their original grids, score them, and write the run record:
//!
//! ```text
//! OUT/config.toml  fingerprint.json  plan.json  split.json  environment.json
//! OUT/fold-1/checkpoints/epoch-NNNN/   (while training)
//! OUT/fold-1/model/{plan.json, model.safetensors}   (a packaged segmenter for `seg predict`)
//! OUT/fold-1/history.csv  metrics.csv  postprocessing_scores_full.json  predictions/CASE.nii.gz
//! OUT/fold-1/predictions_postprocessed/CASE.nii.gz   (when post-processing changes anything)
//! OUT/postprocessing.json   (also in every fold's model/)
//! OUT/metrics.csv  summary.csv  summary.json   (after post-processing)
//! OUT/metrics_raw.csv  summary_raw.csv          (the network's own predictions)
//! OUT/plots/  report.html
//! ```
//!
//! A fold's `metrics.csv` scores its held-out cases as the network predicts them; the
//! run-level files score them after the post-processing chosen on all run folds' held-out
//! cases ([`super::postprocess`]).
//!
//! A fold whose `metrics.csv` exists is complete and is not redone by `--resume`; a fold with
//! checkpoints resumes from the newest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use neurodl_eval::segmentation::{SegmentationConfig, SegmentationEvaluation};
use neurodl_eval::split::{Fold, Protocol, TrialMeta, check_no_leakage};
use neurodl_io::Affine;
use neurodl_io::write_volume;
use neurodl_models::burn::tensor::Device;
use neurodl_volume::Subject;
use neurodl_volume::spatial::reorient_to_canonical;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::{PreparedCase, SegData, open_dataset, prepare_case, read_case, read_label_map};
use super::experiment::SegExperiment;
use super::fingerprint::{LoadedCase, fingerprint_dataset};
use super::plan::{Fingerprint, Plan, plan};
use super::postprocess::{CaseVariants, Postprocessing, case_variants, raw_evaluation};
use super::predict::{Segmenter, label_volume_like, window_config};
use super::train::{SegEpochRecord, SegFitInput, fit_unet, unet_config};
use crate::checkpoint::CheckpointPlan;
use crate::error::{Result, TrainError};
use crate::record::{read_json, read_json_if_present, write_environment, write_json, write_text};
use crate::rng::{SplitMix64, derive_seed};

/// What a running study reports, for progress bars.
pub enum SegProgress<'a> {
    /// Cases fingerprinted or preprocessed so far.
    Cases {
        /// `"fingerprint"` or `"preprocess"`.
        stage: &'static str,
        /// Done.
        done: usize,
        /// Total.
        total: usize,
    },
    /// The plan in use.
    Planned(&'a Plan),
    /// A fold starts training.
    FoldStarted {
        /// Fold number, from 1.
        fold: usize,
        /// Training cases.
        n_train: usize,
        /// Held-out cases.
        n_test: usize,
        /// Epochs already done (resumed).
        epochs: usize,
    },
    /// An optimiser step finished.
    Step {
        /// Step within the epoch, from 1.
        step: usize,
        /// Steps per epoch.
        steps: usize,
    },
    /// An epoch finished.
    Epoch {
        /// Fold number.
        fold: usize,
        /// What happened.
        record: &'a SegEpochRecord,
    },
    /// A held-out case was predicted and scored.
    Predicted {
        /// Fold number.
        fold: usize,
        /// Done in this fold.
        done: usize,
        /// Held-out cases of this fold.
        total: usize,
    },
}

/// How to run a study.
pub struct SegRunOptions<'a> {
    /// The run folder.
    pub out_dir: PathBuf,
    /// Continue a run in `out_dir` (complete folds are kept, others resume from checkpoints).
    pub resume: bool,
    /// Use this plan instead of deriving one (e.g. an edited `plan.json`).
    pub plan_file: Option<PathBuf>,
    /// Stop every fold's training after this many epochs of this call (tests of resumption).
    pub interrupt_after_epochs: Option<usize>,
    /// Progress callback.
    pub progress: &'a (dyn Fn(SegProgress<'_>) + Sync),
}

/// The result of a study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegRunSummary {
    /// Folds that were run (numbers from 1).
    pub folds: Vec<usize>,
    /// Whether a fold's training was interrupted (then no metrics for it).
    pub interrupted: bool,
    /// Every scored held-out case, after post-processing.
    pub evaluation: Option<SegmentationEvaluation>,
    /// The same cases as the network predicted them.
    pub evaluation_raw: Option<SegmentationEvaluation>,
    /// The post-processing chosen on the held-out cases (`None` when switched off).
    pub postprocessing: Option<Postprocessing>,
}

/// Folds over cases as scikit-learn's `KFold(n_splits, shuffle=True)` allocates them (the
/// first `n % k` folds one case larger); membership follows neurodl's seeded shuffle.
pub fn case_folds(n_cases: usize, n_folds: usize, seed: u64) -> Vec<Fold> {
    let mut order: Vec<usize> = (0..n_cases).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let mut folds = Vec::with_capacity(n_folds);
    let mut start = 0;
    for k in 0..n_folds {
        let size = n_cases / n_folds + usize::from(k < n_cases % n_folds);
        let mut test: Vec<usize> = order[start..start + size].to_vec();
        test.sort_unstable();
        start += size;
        let train: Vec<usize> = (0..n_cases).filter(|i| test.binary_search(i).is_err()).collect();
        folds.push(Fold {
            name: format!("fold-{}", k + 1),
            group: "all".into(),
            train,
            test,
        });
    }
    folds
}

fn case_meta(ids: &[String]) -> Vec<TrialMeta> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| TrialMeta {
            subject: id.clone(),
            session: String::new(),
            run: String::new(),
            recording: i as u32,
            trial: 0,
            class: 0,
        })
        .collect()
}

/// A case on the RAS grid, for fingerprinting.
fn load_canonical(data: &SegData, i: usize) -> Result<LoadedCase> {
    let files = &data.cases[i];
    let (images, label) = read_case(files)?;
    let subject = Subject::from_volumes(&files.id, &images, label.as_ref())
        .map_err(|e| TrainError::Dataset(format!("case {}: {e}", files.id)))?;
    let (canonical, _) = reorient_to_canonical(&subject);
    let spacing = canonical.affine().spacing();
    let (id, image, label, _) = canonical.into_parts();
    Ok(LoadedCase {
        id,
        image,
        label: label.ok_or_else(|| TrainError::Dataset(format!("case {}: no label", files.id)))?,
        spacing,
    })
}

/// Fingerprints the experiment's dataset.
pub fn fingerprint_experiment(
    exp: &SegExperiment,
    data: &SegData,
    progress: &(dyn Fn(SegProgress<'_>) + Sync),
) -> Result<Fingerprint> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = data.cases.len();
    fingerprint_dataset(
        total,
        |i| {
            let case = load_canonical(data, i);
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(SegProgress::Cases {
                stage: "fingerprint",
                done: d,
                total,
            });
            case
        },
        &data.channels,
        &data.labels,
        exp.seed,
    )
}

/// Runs the study (see the module doc for what it writes).
pub fn run_seg_experiment(exp: &SegExperiment, opts: &SegRunOptions<'_>) -> Result<SegRunSummary> {
    let out = &opts.out_dir;
    let config_path = out.join("config.toml");
    if config_path.exists() && !opts.resume {
        return Err(TrainError::Config {
            source_name: out.display().to_string(),
            message: "a run already exists here: pass --resume to continue it or choose another --out".into(),
        });
    }
    // Checkpoints and finished folds belong to the experiment that made them; it is compared
    // once the plan is known (plan-dependent defaults are resolved in config.toml).
    let started = if opts.resume && config_path.exists() {
        let text = std::fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
        let mut started = SegExperiment::from_toml_str(&text, &config_path.display().to_string())?;
        // Post-processing is chosen after training, from stored scores (or the saved
        // predictions), so a resumed run may change it.
        started.evaluation.postprocessing = exp.evaluation.postprocessing;
        started.evaluation.postprocessing_connectivity = exp.evaluation.postprocessing_connectivity;
        Some(started)
    } else {
        None
    };
    let data = open_dataset(exp)?;
    let ids: Vec<String> = data.cases.iter().map(|c| c.id.clone()).collect();
    let folds = case_folds(
        ids.len(),
        exp.evaluation.n_folds,
        derive_seed(exp.seed, &[0xF01D]),
    );
    let meta = case_meta(&ids);
    for fold in &folds {
        check_no_leakage(&Protocol::CrossSubject, &meta, fold)?;
    }

    let plan_path = out.join("plan.json");
    let plan = if let Some(p) = &opts.plan_file {
        Plan::read(p)?
    } else if opts.resume && plan_path.exists() {
        Plan::read(&plan_path)?
    } else {
        let fp = fingerprint_experiment(exp, &data, opts.progress)?;
        std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
        write_json(&out.join("fingerprint.json"), &fp)?;
        plan(&fp, &exp.plan)?
    };
    if plan.in_channels != data.channels.len() || plan.labels.keys().ne(data.labels.keys()) {
        return Err(TrainError::Config {
            source_name: "plan.json".into(),
            message: format!(
                "the plan is for {} channels and labels {:?}, the dataset has {} and {:?}",
                plan.in_channels,
                plan.labels.keys().collect::<Vec<_>>(),
                data.channels.len(),
                data.labels.keys().collect::<Vec<_>>()
            ),
        });
    }
    let resolved = exp.resolved_for(&plan)?;
    if let Some(started) = started
        && started.resolved_for(&plan)? != resolved
    {
        return Err(TrainError::Checkpoint {
            path: out.clone(),
            message: "cannot resume: the experiment differs from the one this run folder was started with (config.toml)".into(),
        });
    }
    let augmentation = exp.augmentation_for(&plan)?;
    (opts.progress)(SegProgress::Planned(&plan));
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    write_text(&out.join("config.toml"), &resolved.to_toml_string())?;
    write_json(&plan_path, &plan)?;
    write_environment(out)?;
    let split: Vec<BTreeMap<&str, Vec<&str>>> = folds
        .iter()
        .map(|f| {
            BTreeMap::from([
                ("train", f.train.iter().map(|&i| ids[i].as_str()).collect()),
                ("test", f.test.iter().map(|&i| ids[i].as_str()).collect()),
            ])
        })
        .collect();
    write_json(&out.join("split.json"), &split)?;

    let done = std::sync::atomic::AtomicUsize::new(0);
    let prepared: Vec<PreparedCase> = data
        .cases
        .par_iter()
        .map(|files| {
            let (images, label) = read_case(files)?;
            let p = prepare_case(&files.id, &images, label.as_ref(), &plan);
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            (opts.progress)(SegProgress::Cases {
                stage: "preprocess",
                done: d,
                total: data.cases.len(),
            });
            p
        })
        .collect::<Result<_>>()?;

    let selected: Vec<usize> = if exp.evaluation.folds.is_empty() {
        (1..=folds.len()).collect()
    } else {
        exp.evaluation.folds.clone()
    };
    let labels: Vec<u16> = plan.labels.keys().copied().filter(|l| *l != 0).collect();
    let mut metric_config = SegmentationConfig::new(labels);
    metric_config.surface_dice_tolerance_mm = exp.evaluation.surface_dice_tolerance_mm;
    metric_config.validate()?;
    let connectivity = exp.evaluation.postprocessing_connectivity;
    let mut all: Vec<CaseVariants> = Vec::new();
    let mut completed_folds = Vec::new();
    let mut interrupted = false;
    let mut histories = Vec::new();
    for &k in &selected {
        let fold = &folds[k - 1];
        let fold_dir = out.join(format!("fold-{k}"));
        let metrics_path = fold_dir.join("evaluation.json");
        if opts.resume && metrics_path.exists() {
            let scores = match read_scores(&fold_dir, connectivity)? {
                Some(scores) => scores,
                None => score_saved_predictions(&data, fold, &fold_dir, &metric_config, connectivity)?,
            };
            all.extend(scores);
            completed_folds.push(k);
            histories.push((k, read_history(&fold_dir)?));
            continue;
        }
        let (fitted_model, history, was_interrupted) = {
            let _rng = crate::fit::lock_backend_rng();
            let device = Device::default().autodiff();
            let seed = derive_seed(exp.seed, &[k as u64]);
            device.seed(seed);
            let model = unet_config(&plan)
                .init(&device)
                .map_err(|e| TrainError::Training(e.to_string()))?;
            let train: Vec<Subject> = fold.train.iter().map(|&i| prepared[i].subject.clone()).collect();
            let valid: Vec<Subject> = fold.test.iter().map(|&i| prepared[i].subject.clone()).collect();
            let checkpoints = fold_dir.join("checkpoints");
            let resumed = crate::checkpoint::newest_checkpoint(&checkpoints)?
                .and_then(|p| p.file_name()?.to_str()?.strip_prefix("epoch-")?.parse().ok())
                .filter(|_| opts.resume)
                .unwrap_or(0);
            (opts.progress)(SegProgress::FoldStarted {
                fold: k,
                n_train: train.len(),
                n_test: valid.len(),
                epochs: resumed,
            });
            let on_epoch = |r: &SegEpochRecord| (opts.progress)(SegProgress::Epoch { fold: k, record: r });
            let on_step = |step, steps| (opts.progress)(SegProgress::Step { step, steps });
            let fitted = fit_unet(
                model,
                &device,
                SegFitInput {
                    plan: &plan,
                    train: Arc::new(train),
                    valid: Arc::new(valid),
                    training: &exp.training,
                    augmentation: &augmentation,
                    seed,
                    checkpoint: Some(CheckpointPlan {
                        dir: checkpoints,
                        resume: opts.resume,
                    }),
                    on_step: &on_step,
                    on_epoch: &on_epoch,
                    interrupt_after: opts.interrupt_after_epochs,
                },
            )?;
            (fitted.model, fitted.history, fitted.interrupted)
        };
        write_history(&fold_dir, &history)?;
        histories.push((k, history));
        if was_interrupted {
            interrupted = true;
            continue;
        }
        let model_dir = fold_dir.join("model");
        std::fs::create_dir_all(&model_dir).map_err(|e| TrainError::io(&model_dir, e))?;
        write_json(&model_dir.join("plan.json"), &plan)?;
        fitted_model
            .save_pytorch(model_dir.join("model.safetensors"))
            .map_err(|e| TrainError::Training(e.to_string()))?;
        // Post-processing is chosen after every fold is scored, from the raw predictions.
        let segmenter = Segmenter {
            plan: plan.clone(),
            models: vec![fitted_model],
            postprocessing: None,
        };
        let window = window_config(&plan, exp.evaluation.tile_step_size, exp.evaluation.mirror);
        let mut fold_scores = Vec::with_capacity(fold.test.len());
        let predictions_dir = fold_dir.join("predictions");
        for (n, &i) in fold.test.iter().enumerate() {
            let case = &prepared[i];
            let probabilities = segmenter.probabilities(case, &window, &mut |_, _| {})?;
            let predicted = segmenter.restore(case, &probabilities)?;
            let (images, label) = read_case(&data.cases[i])?;
            let reference = label
                .expect("training cases are labelled")
                .to_labels()
                .map_err(|e| TrainError::Dataset(format!("case {}: label: {e}", ids[i])))?;
            let affine: Affine = images[0].affine;
            fold_scores.push(case_variants(
                &ids[i],
                &predicted,
                &reference,
                affine.spacing(),
                &metric_config,
                connectivity,
            )?);
            if exp.evaluation.save_predictions {
                std::fs::create_dir_all(&predictions_dir).map_err(|e| TrainError::io(&predictions_dir, e))?;
                let volume = label_volume_like(&predicted, &images[0]);
                write_volume(&predictions_dir.join(format!("{}.nii.gz", ids[i])), &volume)?;
            }
            (opts.progress)(SegProgress::Predicted {
                fold: k,
                done: n + 1,
                total: fold.test.len(),
            });
        }
        let fold_eval = raw_evaluation(&fold_scores, &metric_config)?;
        write_text(&fold_dir.join("metrics.csv"), &fold_eval.to_csv())?;
        write_json(&fold_dir.join(scores_file(connectivity)), &fold_scores)?;
        // Written last: its presence marks the fold complete for `--resume`.
        write_json(&metrics_path, &fold_eval)?;
        all.extend(fold_scores);
        completed_folds.push(k);
    }
    if all.is_empty() {
        return Ok(SegRunSummary {
            folds: selected,
            interrupted,
            evaluation: None,
            evaluation_raw: None,
            postprocessing: None,
        });
    }
    let raw = raw_evaluation(&all, &metric_config)?;
    let postprocessing = exp
        .evaluation
        .postprocessing
        .then(|| Postprocessing::decide(&all, &metric_config.labels, connectivity));
    // What an earlier call of a resumed run chose must not outlive this choice.
    remove_if_present(&out.join("postprocessing.json"))?;
    for &k in &completed_folds {
        let fold_dir = out.join(format!("fold-{k}"));
        remove_if_present(&fold_dir.join("model").join("postprocessing.json"))?;
        remove_if_present(&fold_dir.join("predictions_postprocessed"))?;
    }
    let evaluation = match &postprocessing {
        Some(post) => {
            write_json(&out.join("postprocessing.json"), post)?;
            for &k in &completed_folds {
                let fold_dir = out.join(format!("fold-{k}"));
                write_json(&fold_dir.join("model").join("postprocessing.json"), post)?;
                if exp.evaluation.save_predictions && post.changes_anything() {
                    postprocess_saved_predictions(
                        &fold_dir,
                        &folds[k - 1],
                        &ids,
                        post,
                        &metric_config.labels,
                    )?;
                }
            }
            post.evaluation(&all, &metric_config)?
        }
        None => raw.clone(),
    };
    super::record::write_results(
        out,
        exp,
        &plan,
        &data,
        &super::record::RunEvaluations {
            evaluation: &evaluation,
            raw: &raw,
            postprocessing: postprocessing.as_ref(),
        },
        &histories,
    )?;
    Ok(SegRunSummary {
        folds: selected,
        interrupted,
        evaluation: Some(evaluation),
        evaluation_raw: Some(raw),
        postprocessing,
    })
}

fn remove_if_present(path: &Path) -> Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(path, e)),
        _ => Ok(()),
    }
}

/// The file of a fold's per-case scores under every post-processing combination.
fn scores_file(connectivity: neurodl_volume::Connectivity) -> String {
    let name = match connectivity {
        neurodl_volume::Connectivity::Faces => "faces",
        neurodl_volume::Connectivity::Full => "full",
    };
    format!("postprocessing_scores_{name}.json")
}

fn read_scores(
    fold_dir: &Path,
    connectivity: neurodl_volume::Connectivity,
) -> Result<Option<Vec<CaseVariants>>> {
    read_json_if_present(&fold_dir.join(scores_file(connectivity)))
}

/// Scores a complete fold of a run made before post-processing existed, from the
/// predictions it saved (the scores are then stored with the fold).
fn score_saved_predictions(
    data: &SegData,
    fold: &Fold,
    fold_dir: &Path,
    config: &SegmentationConfig,
    connectivity: neurodl_volume::Connectivity,
) -> Result<Vec<CaseVariants>> {
    let mut scores = Vec::with_capacity(fold.test.len());
    for &i in &fold.test {
        let files = &data.cases[i];
        let path = fold_dir.join("predictions").join(format!("{}.nii.gz", files.id));
        if !path.exists() {
            return Err(TrainError::Checkpoint {
                path: fold_dir.to_path_buf(),
                message: format!(
                    "the fold is complete but has neither {} nor the saved prediction {}: rerun the fold, or set postprocessing = false",
                    scores_file(connectivity),
                    path.display()
                ),
            });
        }
        let (_, predicted) = read_label_map(&path)?;
        let (images, label) = read_case(files)?;
        let reference = label
            .ok_or_else(|| TrainError::Dataset(format!("case {}: no label", files.id)))?
            .to_labels()
            .map_err(|e| TrainError::Dataset(format!("case {}: label: {e}", files.id)))?;
        scores.push(case_variants(
            &files.id,
            &predicted,
            &reference,
            images[0].affine.spacing(),
            config,
            connectivity,
        )?);
    }
    write_json(&fold_dir.join(scores_file(connectivity)), &scores)?;
    Ok(scores)
}

/// Writes `predictions_postprocessed/` from a fold's saved predictions.
fn postprocess_saved_predictions(
    fold_dir: &Path,
    fold: &Fold,
    ids: &[String],
    post: &Postprocessing,
    foreground: &[u16],
) -> Result<()> {
    let out_dir = fold_dir.join("predictions_postprocessed");
    std::fs::create_dir_all(&out_dir).map_err(|e| TrainError::io(&out_dir, e))?;
    for &i in &fold.test {
        let (raw, mut labels) =
            read_label_map(&fold_dir.join("predictions").join(format!("{}.nii.gz", ids[i])))?;
        post.apply(&mut labels, foreground)?;
        write_volume(
            &out_dir.join(format!("{}.nii.gz", ids[i])),
            &label_volume_like(&labels, &raw),
        )?;
    }
    Ok(())
}

const HISTORY_HEADER: &str = "epoch,lr,train_loss,valid_loss,valid_dice,seconds";

fn write_history(fold_dir: &Path, history: &[SegEpochRecord]) -> Result<()> {
    std::fs::create_dir_all(fold_dir).map_err(|e| TrainError::io(fold_dir, e))?;
    let mut text = format!("{HISTORY_HEADER}\n");
    for r in history {
        let dice: Vec<String> = r.valid_dice.iter().map(|d| format!("{d:.6}")).collect();
        text.push_str(&format!(
            "{},{},{:.6},{},{},{:.3}\n",
            r.epoch,
            r.lr,
            r.train_loss,
            r.valid_loss.map_or(String::new(), |v| format!("{v:.6}")),
            dice.join(";"),
            r.seconds
        ));
    }
    write_text(&fold_dir.join("history.csv"), &text)?;
    write_json(&fold_dir.join("history.json"), &history)
}

fn read_history(fold_dir: &Path) -> Result<Vec<SegEpochRecord>> {
    read_json(&fold_dir.join("history.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folds_partition_the_cases_like_kfold() {
        let folds = case_folds(11, 5, 7);
        let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
        assert_eq!(sizes, vec![3, 2, 2, 2, 2]);
        let mut all: Vec<usize> = folds.iter().flat_map(|f| f.test.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        let ids: Vec<String> = (0..11).map(|i| format!("case_{i}")).collect();
        for f in &folds {
            check_no_leakage(&Protocol::CrossSubject, &case_meta(&ids), f).unwrap();
        }
        // A fold that puts a case on both sides is refused by the guard, by name.
        let mut bad = folds[0].clone();
        bad.train.push(bad.test[0]);
        bad.train.sort_unstable();
        assert!(check_no_leakage(&Protocol::CrossSubject, &case_meta(&ids), &bad).is_err());
    }
}
